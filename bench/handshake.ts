/**
 * Handshake latency between two processes on loopback: TCP connect + HELLO/HELLO_ACK/VERIFY + first PING/PONG,
 * against a raw TCP connect + 1-byte echo measured in the same run.
 *   npm run bench -- handshake [--count N]
 */
import { connect, createServer } from 'node:net'
import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { benchNode, percentile, spawnChild, stopChild } from './wire-common.js'

const SELF = fileURLToPath(import.meta.url)
const ci = process.argv.indexOf('--count')
const COUNT = ci > 0 ? Number(process.argv[ci + 1]) : 300
const WARMUP = 30

async function child(): Promise<void> {
  const n = benchNode()
  await n.cm.start()
  const echo = createServer((s) => s.on('data', (d) => s.write(d)))
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()))
  console.log(JSON.stringify({ port: n.cm.listenAddress!.port, echo: (echo.address() as { port: number }).port }))
  process.on('SIGTERM', () => { echo.close(); n.cleanup().then(() => process.exit(0)) })
}

function stats(xs: number[]): Record<string, number> {
  const s = [...xs].sort((a, b) => a - b)
  return { p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), mean: s.reduce((a, b) => a + b, 0) / s.length }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'child') return child()
  const { child: proc, hello } = await spawnChild(SELF, ['child'])
  const port = hello.port as number
  const raw: number[] = []
  for (let i = 0; i < COUNT + WARMUP; i++) {
    const t0 = performance.now()
    const s = connect({ host: '127.0.0.1', port: hello.echo as number, noDelay: true })
    await new Promise((r) => s.once('connect', r))
    s.write(Buffer.from([1]))
    await new Promise((r) => s.once('data', r))
    if (i >= WARMUP) raw.push(performance.now() - t0)
    s.destroy()
  }
  const n = benchNode()
  const toPong: number[] = []
  const toSession: number[] = []
  for (let i = 0; i < COUNT + WARMUP; i++) {
    const t0 = performance.now()
    const s = connect({ host: '127.0.0.1', port, noDelay: true })
    await new Promise((r) => s.once('connect', r))
    const link = await n.cm.adoptStream(s, { outbound: true, remoteAddr: { host: '127.0.0.1', port } })
    const t1 = performance.now()
    await n.cm.ping(link)
    const t2 = performance.now()
    if (i >= WARMUP) { toSession.push(t1 - t0); toPong.push(t2 - t0) }
    link.close('bench')
  }
  await n.cleanup()
  await stopChild(proc)
  const pong = stats(toPong)
  console.log(JSON.stringify({
    bench: 'handshake',
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    count: COUNT,
    rawTcpConnectEchoMs: stats(raw),
    zeoneHandshakeMs: stats(toSession),
    zeoneHandshakeToFirstPongMs: pong,
    target: { p50ToFirstPongMs: 3 },
    meetsTarget: pong.p50! <= 3,
  }, null, 2))
}

main().catch((err) => { console.error(err); process.exit(1) })
