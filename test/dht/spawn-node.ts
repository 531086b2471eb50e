/** Spawns DHT node processes (fixtures/dht-node) for the real-process tests and benches; tracks every child. */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'

const here = fileURLToPath(new URL('.', import.meta.url))
const fromSource = import.meta.url.endsWith('.ts')
const fixture = join(here, 'fixtures', fromSource ? 'dht-node.ts' : 'dht-node.js')

export interface Proc { child: ChildProcess; dir: string; port: number }

/** Every child, from the moment it is spawned, so cleanup reaches the ones still starting. */
export const children: ChildProcess[] = []

/** The config every test node gets: loopback, no HTTP, cheap puzzles, plus `dht` overrides. */
export function nodeConfig(dir: string, bootstrap: string[], dht: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    dataDir: dir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap, limits: { maxSessionsPerIp: 64, maxSessionsPerSubnet: 64 } },
    ops: { httpPort: -1, logLevel: 'silent' }, dht: { staticPuzzleBits: 0, dynamicPuzzleBits: 6, rpcTimeoutMs: 2000, ...dht },
  }
}

export function spawnNode(config: Record<string, unknown>): Promise<Proc> {
  const child = spawn(process.execPath, [...(fromSource ? ['--import', 'tsx'] : []), fixture, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    child.stderr!.on('data', (c: Buffer) => { err += c.toString() })
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /\{"port":(\d+)\}/.exec(out)
      if (m) resolve({ child, dir: String(config.dataDir), port: Number(m[1]) })
    })
    child.once('exit', (code) => reject(new Error(`node exited early (${code}): ${err.slice(-500)}`)))
  })
}

export async function killHard(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return
  const gone = new Promise((r) => p.child.once('exit', r))
  p.child.kill('SIGKILL')
  await gone
}

export function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
}

/** Reads a node's dht.sqlite while it runs (WAL: committed rows only). */
export function readDb<T>(dir: string, fn: (db: Database.Database) => T): T {
  const db = new Database(join(dir, 'dht.sqlite'), { readonly: true, fileMustExist: true })
  try { return fn(db) } finally { db.close() }
}

/** Waits until `cond` holds, checking every `everyMs`; the caller's test timeout bounds it. */
export async function until(cond: () => boolean | Promise<boolean>, everyMs = 200): Promise<void> {
  while (!(await cond())) await new Promise((r) => setTimeout(r, everyMs))
}
