/**
 * Legacy v0 bridge figures, each against a baseline measured in the same run:
 * - codec: sign+frame+parse+verify of a v0 SERVICE_REQUEST with the exact-number canonical JSON, vs the same
 *   Ed25519 work around plain JSON.stringify/JSON.parse (what a naive port would do, and get wrong for 1.0).
 * - handshake: v0 dial (TCP connect, PING, PONG verified) on loopback, vs a raw TCP connect plus one 64-byte echo.
 * Prints JSON.
 */
import { createServer, connect, type AddressInfo } from 'node:net'
import { Identity } from '../src/crypto/identity.js'
import { randomBytes, verify } from '../src/crypto/sign.js'
import { validateConfig } from '../src/ops/config.js'
import { LegacyBridge } from '../src/transport/legacy/bridge.js'
import { FallbackTransport } from '../src/transport/legacy/fallback-transport.js'
import { decodeLegacyMessage, encodeLegacyFrame, encodeLegacyMessage, verifyLegacyMessage } from '../src/wire/legacy.js'

const id = Identity.fromSeed(randomBytes(32))
const payload = { service_name: 'echo', payload: { text: 'hello world', n: 42, items: [1, 2, 3, 4, 5] }, budget: 1.5, request_id: 'abc123' }

function codec(n: number): number {
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const json = encodeLegacyMessage(id, 'SERVICE_REQUEST', payload, 1700000000.5 + i, 'AAECAwQFBgcICQoLDA0ODw==')
    const f = encodeLegacyFrame(json)
    const m = decodeLegacyMessage(f.subarray(4))
    if (!verifyLegacyMessage(m, verify)) throw new Error('verify failed')
  }
  return n / ((performance.now() - t0) / 1000)
}

function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted)
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]))
  return v
}

function baselineCodec(n: number): number {
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const unsigned = { type: 'SERVICE_REQUEST', payload, sender_id: id.nodeIdB64, timestamp: 1700000000.5 + i, nonce: 'AAECAwQFBgcICQoLDA0ODw==' }
    const sig = id.sign(Buffer.from(JSON.stringify(sorted(unsigned))))
    const text = JSON.stringify({ ...unsigned, signature: Buffer.from(sig).toString('base64') })
    const back = JSON.parse(Buffer.from(text).toString()) as Record<string, unknown>
    const { signature, ...rest } = back
    if (!verify(id.publicKey, Buffer.from(signature as string, 'base64'), Buffer.from(JSON.stringify(sorted(rest))))) throw new Error('verify failed')
  }
  return n / ((performance.now() - t0) / 1000)
}

const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]! }

async function handshakes(n: number): Promise<number[]> {
  const config = validateConfig({ node: { port: 0, host: '127.0.0.1' } }).legacy
  const server = new LegacyBridge({ identity: Identity.fromSeed(randomBytes(32)), config: { ...config, maxPeers: 10_000 } })
  const transport = new FallbackTransport({ host: '127.0.0.1', port: 0, legacyAcceptor: server.accept })
  await transport.start()
  const client = new LegacyBridge({ identity: id, config })
  const out: number[] = []
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      const link = await client.dial(transport.listenAddress!)
      out.push(performance.now() - t0)
      link.close()
    }
  } finally {
    await client.stop(); await server.stop(); await transport.stop()
  }
  return out
}

async function rawTcp(n: number): Promise<number[]> {
  const server = createServer((s) => s.on('data', (d) => s.write(d)))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await new Promise<void>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port }, () => s.write(Buffer.alloc(64)))
      s.once('data', () => { s.destroy(); resolve() })
      s.once('error', reject)
    })
    out.push(performance.now() - t0)
  }
  await new Promise<void>((r) => server.close(() => r()))
  return out
}

const N = Number(process.argv[2] ?? 20000)
codec(1000); baselineCodec(1000)
const codecRate = codec(N)
const baseRate = baselineCodec(N)
await handshakes(20); await rawTcp(20)
const hs = await handshakes(300)
const raw = await rawTcp(300)
console.log(JSON.stringify({
  bench: 'legacy', node: process.version,
  codec: { messages: N, msgsPerSec: Math.round(codecRate), baselinePlainJsonMsgsPerSec: Math.round(baseRate), ratio: +(codecRate / baseRate).toFixed(3) },
  handshake: { n: hs.length, p50Ms: +pct(hs, 0.5).toFixed(3), p99Ms: +pct(hs, 0.99).toFixed(3),
    baselineRawTcpConnectEchoP50Ms: +pct(raw, 0.5).toFixed(3), baselineP99Ms: +pct(raw, 0.99).toFixed(3) },
}))
