/** Shared helpers for the VPN tests and bench: real nodes on loopback, an HTTP server, a raw SOCKS5 client. */
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { createNode, type ZeoneNode } from '../../../src/node.js'
import { validateConfig } from '../../../src/ops/config.js'
import { attach as attachServices } from '../../../src/services/attach.js'
import { attach as attachDht } from '../../../src/dht/attach.js'
import { attach as attachEconomy } from '../../../src/economy/attach.js'
import { attach as attachVpn } from '../../../src/services/vpn/attach.js'
import { attach as attachNat } from '../../../src/nat/attach.js'

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `zeone-vpn-${prefix}-`))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface VpnNodeOpts {
  vpn?: Record<string, unknown>; node?: Record<string, unknown>; dht?: boolean; bootstrap?: string[]; economy?: Record<string, unknown>
  /** NAT layer config: when given the node runs the NAT layer (STUN discovery, punching, relay) too. */
  nat?: Record<string, unknown>
  /** Merged over the test's ops defaults (no HTTP port, silent logs), e.g. `{tracing: {endpoint}}`. */
  ops?: Record<string, unknown>
}

export async function startVpnNode(dataDir: string, o: VpnNodeOpts = {}): Promise<ZeoneNode> {
  const config = validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap: o.bootstrap ?? [], privateAddresses: 'allow', ...o.node },
    ops: { httpPort: -1, logLevel: 'silent', ...o.ops }, dht: { staticPuzzleBits: 0, dynamicPuzzleBits: 0 },
    economy: { flushIntervalMs: 20, ...o.economy }, vpn: o.vpn ?? {}, ...(o.nat ? { nat: o.nat } : {}),
  })
  const layers = [...(o.nat ? [['nat', attachNat]] : []), ['services', attachServices], ...(o.dht ? [['dht', attachDht]] : []), ['economy', attachEconomy], ['vpn', attachVpn]] as const
  const node = createNode(config, { layers: layers as never })
  await node.start()
  return node
}

export const exitRef = (n: ZeoneNode): string => `${n.identity.nodeIdB64}@127.0.0.1:${n.listenAddress!.port}`
export const socksPort = (n: ZeoneNode): number => n.services.get('vpnSocks')!.address!.port

/** Deterministic bytes. */
export function pattern(size: number, seed = 'vpn'): Buffer {
  const out = Buffer.alloc(size)
  let block = createHash('sha256').update(seed).digest()
  for (let off = 0; off < size; off += 32) {
    block = createHash('sha256').update(block).digest()
    block.copy(out, off, 0, Math.min(32, size - off))
  }
  return out
}

/** An HTTP server on 127.0.0.1: GET /bytes/N answers N pattern bytes; /hold answers headers and never ends. */
export async function httpServer(body: Buffer): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.url === '/hold') { res.writeHead(200, { 'content-type': 'application/octet-stream' }); res.write(body); return }
    const m = /^\/bytes\/(\d+)$/.exec(req.url ?? '')
    const n = m ? Math.min(Number(m[1]), body.length) : body.length
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n })
    res.end(body.subarray(0, n))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const port = (server.address() as { port: number }).port
  return { server, port, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }) }
}

/** Reads exactly `n` bytes (or until close). */
export function readN(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0)
    const onData = (b: Buffer): void => {
      got = Buffer.concat([got, b])
      if (got.length >= n) { done(); s.pause(); const rest = got.subarray(n); if (rest.length) s.unshift(rest); resolve(got.subarray(0, n)) }
    }
    const onEnd = (): void => { done(); resolve(got) }
    const onErr = (e: Error): void => { done(); reject(e) }
    const done = (): void => { s.off('data', onData); s.off('end', onEnd); s.off('error', onErr) }
    s.on('data', onData); s.once('end', onEnd); s.once('error', onErr)
    s.resume()
  })
}

/**
 * A SOCKS5 CONNECT by hand. `host` as a domain (ATYP 3) unless it is an IPv4/IPv6 literal and `literal` is set.
 * Resolves with the socket and the reply code.
 */
export async function socksConnect(port: number, host: string, dport: number, o: { literal?: boolean; auth?: [string, string] } = {}): Promise<{ s: Socket; rep: number }> {
  const s = connect({ host: '127.0.0.1', port })
  await new Promise<void>((r, j) => { s.once('connect', () => r()); s.once('error', j) })
  s.write(o.auth ? Uint8Array.of(5, 1, 2) : Uint8Array.of(5, 1, 0))
  const g = await readN(s, 2)
  if (g[1] === 0xff) return { s, rep: -1 }
  if (o.auth) {
    const [u, p] = o.auth
    s.write(Buffer.concat([Buffer.of(1, u.length), Buffer.from(u), Buffer.of(p.length), Buffer.from(p)]))
    const a = await readN(s, 2)
    if (a[1] !== 0) return { s, rep: -2 }
  }
  let addr: Buffer
  const { isIP } = await import('node:net')
  if (o.literal && isIP(host) === 4) addr = Buffer.from([1, ...host.split('.').map(Number)])
  else if (o.literal && isIP(host) === 6) {
    const { parseIp } = await import('../../../src/services/vpn/ip.js')
    addr = Buffer.concat([Buffer.of(4), Buffer.from(parseIp(host)!)])
  } else addr = Buffer.concat([Buffer.of(3, host.length), Buffer.from(host)])
  s.write(Buffer.concat([Buffer.of(5, 1, 0), addr, Buffer.of(dport >> 8, dport & 255)]))
  const r = await readN(s, 10)
  return { s, rep: r.length >= 2 ? r[1]! : -3 }
}

/** Sends an HTTP/1.0 GET on a connected socket and returns the body bytes (after the header). */
export async function httpGet(s: Socket, path: string): Promise<Buffer> {
  s.write(`GET ${path} HTTP/1.0\r\nHost: x\r\n\r\n`)
  const all = await readN(s, Number.MAX_SAFE_INTEGER)
  const i = all.indexOf('\r\n\r\n')
  return all.subarray(i + 4)
}

/** Waits until `cond` holds, polling on the event loop (no timing assertion: the test runner's timeout bounds it). */
export async function until(cond: () => boolean, what: string, tries = 5000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return
    await new Promise((r) => setTimeout(r, 5))
  }
  throw new Error(`gave up waiting for ${what}`)
}
