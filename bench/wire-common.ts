/** Shared parts of the transport benchmarks: child processes on loopback and a bench node config. */
import type { NodeTracer } from '../src/interfaces/tracing.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Identity } from '../src/crypto/identity.js'
import { randomBytes } from '../src/crypto/sign.js'
import { transportConfigSchema } from '../src/transport/config.js'
import { ConnectionManager } from '../src/transport/connection-manager.js'
import { Router } from '../src/transport/router.js'

/** Limits raised so the benchmark measures the wire, not the rate limiter. */
export function benchConfig(over: Record<string, unknown> = {}) {
  return transportConfigSchema.parse({
    port: 0, host: '127.0.0.1', legacy: false, discover: false,
    limits: { messagesPerSec: 1e9, messageBurst: 1e9, bytesPerSec: 1e12, byteBurst: 1e12, connectsPerSecPerIp: 1e6, connectBurstPerIp: 1e6, maxConnections: 10_000 },
    ...over,
  })
}

export function benchNode(over: Record<string, unknown> = {}, extra: { tracer?: NodeTracer; capabilities?: string[] } = {}): { cm: ConnectionManager; router: Router; dir: string; cleanup(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'zeone-bench-'))
  const router = new Router()
  const cm = new ConnectionManager({ identity: Identity.fromSeed(randomBytes(32)), config: benchConfig(over), dataDir: dir, router, ...extra })
  return { cm, router, dir, cleanup: async () => { await cm.stop(); rmSync(dir, { recursive: true, force: true }) } }
}

/** Spawns `node <script> ...args`, resolves with the child and the first JSON line it prints. */
export function spawnChild(script: string, args: string[]): Promise<{ child: ChildProcess; hello: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    // ZEONE_BENCH_CHILD_ARGS passes node flags to the children (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof")
    const extra = process.env.ZEONE_BENCH_CHILD_ARGS ? process.env.ZEONE_BENCH_CHILD_ARGS.split(' ').filter(Boolean) : []
    const child = spawn(process.execPath, [...extra, script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    const rl = createInterface({ input: child.stdout! })
    rl.once('line', (line) => { try { resolve({ child, hello: JSON.parse(line) }) } catch (e) { reject(e) } })
    child.once('exit', (code) => reject(new Error(`child exited with ${code}`)))
  })
}

export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
  })
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}
