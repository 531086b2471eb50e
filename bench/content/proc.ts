/** Helpers shared by the content benchmarks' child processes: start a node, spawn a sibling script. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { readFileSync } from 'node:fs'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import type { AttachFn } from '../../src/interfaces/node-context.js'

/** AEAD suite of the benchmark nodes: the node's default order, or ZEONE_BENCH_CIPHER=aes-256-gcm first. */
export const BENCH_CIPHER = process.env.ZEONE_BENCH_CIPHER === 'aes-256-gcm' ? 'aes-256-gcm' : 'chacha20-poly1305'
const CIPHERS = BENCH_CIPHER === 'aes-256-gcm' ? ['aes-256-gcm', 'chacha20-poly1305'] : ['chacha20-poly1305', 'aes-256-gcm']

export async function startBenchNode(dataDir: string, layers: ReadonlyArray<[string, AttachFn]>): Promise<ZeoneNode> {
  const config = validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1', legacy: false, cipherSuites: CIPHERS }, ops: { httpPort: -1, logLevel: 'silent' },
    content: { cache: { enabled: false } },
  })
  const node = createNode(config, { layers })
  await node.start()
  return node
}

/** Spawns `bench/content/<name>` (compiled .js, or .ts through tsx when running from source). */
export function spawnScript(name: string, args: string[]): ChildProcess {
  const self = fileURLToPath(import.meta.url)
  const fromSource = self.endsWith('.ts')
  const file = fileURLToPath(new URL(`./${name}.${fromSource ? 'ts' : 'js'}`, import.meta.url))
  const extra = process.env.ZEONE_BENCH_CHILD_ARGS ? process.env.ZEONE_BENCH_CHILD_ARGS.split(' ') : []
  return spawn(process.execPath, [...extra, ...(fromSource ? ['--import', 'tsx'] : []), file, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
}

/** Calls `cb` with each JSON line the child prints on stdout. */
export function onJsonLines(child: ChildProcess, cb: (v: Record<string, unknown>) => void): void {
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try { cb(JSON.parse(line) as Record<string, unknown>) } catch { /* not ours */ }
  })
}

export function firstJson(child: ChildProcess): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let done = false
    onJsonLines(child, (v) => { if (!done) { done = true; resolve(v) } })
    child.once('exit', (code) => { if (!done) reject(new Error(`child exited (${code}) before reporting`)) })
  })
}

export function waitExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((r) => child.once('exit', (code) => r(code)))
}

/** CPU milliseconds (user + system) a set of child processes has used so far, from /proc (Linux); NaN elsewhere. */
export function childCpuMs(children: ChildProcess[]): number {
  let ticks = 0
  for (const c of children) {
    try {
      const stat = readFileSync(`/proc/${c.pid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(f[11]) + Number(f[12]) // utime, stime (fields 14 and 15)
    } catch {
      return NaN
    }
  }
  return ticks * 10 // USER_HZ is 100 on Linux
}
