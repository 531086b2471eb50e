/** Shared helpers for transport tests: temp dirs, configs and managers on 127.0.0.1:0. */
import { connect as netConnect } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { transportConfigSchema, type TransportConfig } from '../../src/transport/config.js'
import { ConnectionManager, type ConnectionManagerInit } from '../../src/transport/connection-manager.js'
import { Router } from '../../src/transport/router.js'

export function tempDir(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'zeone-transport-'))
  t.after(() => rmSync(d, { recursive: true, force: true }))
  return d
}

export function config(over: Record<string, unknown> = {}): TransportConfig {
  return transportConfigSchema.parse({ port: 0, host: '127.0.0.1', legacy: false, ...over })
}

export interface TestNode { cm: ConnectionManager; router: Router; identity: Identity; dir: string }

export async function startNode(
  t: { after(fn: () => void | Promise<void>): void },
  over: Record<string, unknown> = {},
  extra: Partial<ConnectionManagerInit> = {},
): Promise<TestNode> {
  const dir = extra.dataDir ?? tempDir(t)
  const identity = extra.identity ?? Identity.fromSeed(randomBytes(32))
  const router = new Router()
  const cm = new ConnectionManager({ identity, config: config(over), dataDir: dir, router, ...extra })
  t.after(() => cm.stop())
  await cm.start()
  return { cm, router, identity, dir }
}

export const addr = (n: TestNode): { host: string; port: number } => n.cm.listenAddress!

export function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now()
    const tick = (): void => {
      if (cond()) return resolve()
      if (Date.now() - start > ms) return reject(new Error(`timed out waiting for ${what}`))
      setTimeout(tick, 10)
    }
    tick()
  })
}

/** Refusal counts by reason from a manager's metrics. */
export async function refusals(n: TestNode): Promise<Map<string, number>> {
  const m = await n.cm.metrics.refusals.get()
  return new Map(m.values.map((v) => [String(v.labels.reason), v.value]))
}

/** Opens a raw TCP socket, writes `bytes`, resolves with everything received until the peer closes. */
export function rawExchange(port: number, bytes: Uint8Array[], opts: { localAddress?: string; timeoutMs?: number } = {}): Promise<{ received: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = netConnect({ host: '127.0.0.1', port, localAddress: opts.localAddress })
    const chunks: Buffer[] = []
    let finished = false
    const finish = (closed: boolean): void => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      sock.destroy()
      resolve({ received: Buffer.concat(chunks), closed })
    }
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 3000)
    sock.on('data', (d) => chunks.push(d))
    sock.on('error', () => finish(true))
    sock.on('close', () => finish(true))
    sock.on('connect', () => { for (const b of bytes) sock.write(b) })
  })
}
