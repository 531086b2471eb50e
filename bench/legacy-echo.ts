/**
 * v0 echo round trips per second between two ZEONE-TS nodes over the legacy bridge (signed JSON frames, the exact
 * canonical JSON, the service router with metering), one request in flight and 16 in flight; plus signed
 * PING->PONG round trips on the same link, the figure the Python v1.2.4 node was measured at (347/s).
 * Run once with the default per-peer limits (legacy.messagesPerSec 1000) and once with them raised, so the code's
 * cost and the limiter's cap are told apart. `npm run bench -- legacy-echo [seconds]` prints JSON.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, LAYERS, type ZeoneNode } from '../src/node.js'
import { validateConfig } from '../src/ops/config.js'

const SECONDS = Number(process.argv[2] ?? 3)
const layers = LAYERS.filter(([n]) => n === 'services')
const dirs: string[] = []

async function start(legacy: Record<string, unknown>): Promise<ZeoneNode> {
  const dataDir = mkdtempSync(join(tmpdir(), 'zeone-bench-legacy-'))
  dirs.push(dataDir)
  const node = createNode(validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1' }, ops: { httpPort: -1, logLevel: 'silent' }, dht: { enabled: false }, legacy,
  }), { layers })
  await node.start()
  return node
}

async function rate(seconds: number, inFlight: number, op: () => Promise<unknown>): Promise<number> {
  let n = 0
  const end = performance.now() + seconds * 1000
  const t0 = performance.now()
  await Promise.all(Array.from({ length: inFlight }, async () => { while (performance.now() < end) { await op(); n++ } }))
  return n / ((performance.now() - t0) / 1000)
}

async function run(limits: 'default' | 'raised'): Promise<Record<string, number>> {
  const legacy = limits === 'raised' ? { messagesPerSec: 1_000_000, messageBurst: 1_000_000, bytesPerSec: 1e12, byteBurst: 1 << 30 } : {}
  const a = await start(legacy)
  const b = await start(legacy)
  try {
    const link = await b.legacy!.dial(a.listenAddress!)
    const svc = b.services.get('legacyServices')!
    const payload = { text: 'hello world', n: 42, items: [1, 2, 3, 4, 5] }
    const echo = (): Promise<unknown> => svc.call(link, 'echo', payload, { budget: 1, timeoutMs: 30_000 })
    await rate(0.5, 1, echo) // warm-up
    const echo1 = await rate(SECONDS, 1, echo)
    await new Promise((r) => setTimeout(r, 1100)) // let the token buckets refill between phases
    const echo16 = await rate(SECONDS, 16, echo)
    await new Promise((r) => setTimeout(r, 1100))
    const ping1 = await rate(SECONDS, 1, () => link.ping({ timeoutMs: 30_000 }))
    return { echoRoundTripsPerSec: Math.round(echo1), echoRoundTripsPerSec16InFlight: Math.round(echo16), signedPingPongPerSec: Math.round(ping1) }
  } finally {
    await b.stop()
    await a.stop()
  }
}

try {
  // with the default per-peer limits a peer faster than legacy.messagesPerSec is cut off by the limiter: report it
  const byDefault = await run('default').catch((e: Error) => ({ error: e.message }) as Record<string, unknown>)
  const raised = await run('raised')
  console.log(JSON.stringify({
    bench: 'legacy-echo', node: process.version, seconds: SECONDS,
    defaultLimits: byDefault, raisedLimits: raised,
    baselinePythonV124SignedPingPongPerSec: 347,
    ratioEchoVsPythonPing: +(raised.echoRoundTripsPerSec! / 347).toFixed(2),
    ratioPingVsPythonPing: +(raised.signedPingPongPerSec! / 347).toFixed(2),
  }))
} finally {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
}
