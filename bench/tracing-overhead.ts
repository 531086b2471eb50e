/**
 * What tracing costs the wire's smallest operation: pipelined empty requests between two processes on loopback,
 * each traced request under a client span (sent as a traced envelope) and served under a server span, both exported
 * over OTLP/HTTP to a collector in a third process. Used by wire-throughput (its `tracing` section); alone:
 *   npm run bench -- tracing-overhead [--quick] [--ratio 1]
 *
 * Untraced and traced blocks alternate on the same link (ABBA order), so the machine's load drifts alike for both;
 * a traced block ends by handing every span it produced on both nodes to the exporter (encoded and written to the
 * collector then, so no export work spills into the next untraced block), without waiting for the collector's
 * answer (a node never waits for its exports either). Blocks are 4000 requests: that flush is one POST per node per
 * block, more often than the exporter's own cadence (1 s or 1024 spans), so the traced side pays more than a node. Untraced = the same as tracing off: the transport does no span work of its own, the handler
 * starts a span only for a request that carries a context. Reported: the median of the per-pair ratios.
 */
import { createServer as createHttpServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import { SpanKind } from '@opentelemetry/api'
import { MessageType } from '../src/wire/message-types.js'
import { createTracer } from '../src/ops/tracing.js'
import { TRACE_CAPABILITY } from '../src/transport/rpc-link.js'
import { benchNode, spawnChild, stopChild } from './wire-common.js'

const SELF = fileURLToPath(import.meta.url)
const FLUSH = 0xf1
const traceCfg = (endpoint: string, sampleRatio = 1) => ({ endpoint, sampleRatio, serviceName: 'zeone-bench', headers: {} })

/** The collector: counts the spans it receives (as a real one, in its own process; it does not parse). */
function childSink(): void {
  let spans = 0
  const needle = Buffer.from('"spanId":')
  const srv = createHttpServer((req, res) => {
    if (req.method === 'GET') return void res.end(String(spans))
    const parts: Buffer[] = []
    req.on('data', (b: Buffer) => parts.push(b))
    req.on('end', () => {
      const body = Buffer.concat(parts)
      for (let at = body.indexOf(needle); at >= 0; at = body.indexOf(needle, at + needle.length)) spans++
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  srv.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (srv.address() as { port: number }).port })))
  process.on('SIGTERM', () => process.exit(0))
}

/** The served node: a server span per traced request; a FLUSH request answers once its spans are exported. */
async function childNode(otlp: string): Promise<void> {
  const tracer = (await createTracer(traceCfg(otlp), 'child'))!
  const n = benchNode({ wireVersions: [2], preferredVersion: 2 }, { tracer, capabilities: ['DHT', TRACE_CAPABILITY] })
  const empty = new Uint8Array(0)
  n.router.handle(MessageType.SERVICE_REQUEST, (m) => {
    // FLUSH: send this node's queued spans (not waiting for the collector), answer with the CPU time (user + system,
    // us) used so far, after the turn in which the export requests are written
    if (m.body.byteLength === 1 && m.body[0] === FLUSH) {
      void tracer.forceFlush()
      return void setImmediate(() => { const c = process.cpuUsage(); m.reply?.(MessageType.SERVICE_RESPONSE, new TextEncoder().encode(String(c.user + c.system))) })
    }
    const span = m.trace ? tracer.start('bench.handle', { parent: m.trace, kind: SpanKind.SERVER }) : undefined
    m.reply?.(MessageType.SERVICE_RESPONSE, empty)
    span?.end()
  })
  await n.cm.start()
  console.log(JSON.stringify({ port: n.cm.listenAddress!.port }))
  process.on('SIGTERM', () => { tracer.shutdown().then(() => n.cleanup()).then(() => process.exit(0)) })
}

export interface TracingOverhead {
  sampleRatio: number
  /** median over pairs of traced reqps / untraced reqps */
  ratio: number
  /** CPU (both nodes, us) per request, medians: the cost itself, less exposed to the machine's load than reqps */
  cpuUsPerRequest: { untraced: number; traced: number; ratio: number }
  untracedReqps: number
  tracedReqps: number
  pairRatios: number[]
  spansExported: number
  spansExpected: number
}

export async function measureTracingOverhead(sampleRatio: number, opts: { pairs: number; block: number }): Promise<TracingOverhead> {
  const sink = await spawnChild(SELF, ['child', 'sink'])
  const sinkUrl = `http://127.0.0.1:${sink.hello.port as number}`
  const node = await spawnChild(SELF, ['child', 'node', `${sinkUrl}/v1/traces`])
  const tracer = (await createTracer(traceCfg(`${sinkUrl}/v1/traces`, sampleRatio), 'parent'))!
  const n = benchNode({ wireVersions: [2], preferredVersion: 2 }, { tracer, capabilities: ['DHT', TRACE_CAPABILITY] })
  try {
    const link = await n.cm.dial({ host: '127.0.0.1', port: node.hello.port as number })
    const empty = new Uint8Array(0)
    const timeout = { timeoutMs: 600_000 }
    let sampledRoots = 0
    const flush = async (): Promise<number> => {
      void tracer.forceFlush()
      const reply = await link.request(MessageType.SERVICE_REQUEST, new Uint8Array([FLUSH]), timeout)
      const c = process.cpuUsage()
      return c.user + c.system + Number(new TextDecoder().decode(reply.body))
    }
    let cpuMark = 0
    const cpu: Record<'on' | 'off', number[]> = { on: [], off: [] }
    const block = async (traced: boolean): Promise<number> => {
      let next = 0
      const one = async (): Promise<void> => {
        if (!traced) return void await link.request(MessageType.SERVICE_REQUEST, empty, timeout)
        const span = tracer.start('bench.request', { kind: SpanKind.CLIENT })
        if (span.isRecording()) sampledRoots++
        await link.request(MessageType.SERVICE_REQUEST, empty, { timeoutMs: 600_000, trace: tracer.contextOf(span) })
        span.end()
      }
      const t0 = process.hrtime.bigint()
      await Promise.all(Array.from({ length: 64 }, async () => { while (next++ < opts.block) await one() }))
      // both modes pay the flush round trip; only the traced one has spans to export
      const mark = await flush()
      const s = Number(process.hrtime.bigint() - t0) / 1e9
      cpu[traced ? 'on' : 'off'].push((mark - cpuMark) / opts.block)
      cpuMark = mark
      return opts.block / s
    }
    await block(false) // warm-up, both paths
    await block(true)
    cpu.on.length = cpu.off.length = 0
    const off: number[] = []
    const on: number[] = []
    for (let p = 0; p < opts.pairs; p++) {
      if (p % 2 === 0) { off.push(await block(false)); on.push(await block(true)) } else { on.push(await block(true)); off.push(await block(false)) }
    }
    const pairRatios = on.map((x, i) => x / off[i]!)
    const med = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2 }
    // a sampled root is two spans (client here, server there), warm-up included; every one is exported
    await Promise.all([tracer.forceFlush(), link.request(MessageType.SERVICE_REQUEST, new Uint8Array([FLUSH]), timeout)])
    await tracer.forceFlush()
    await new Promise((r) => setTimeout(r, 500)) // the child's last POST (not awaited by its FLUSH) lands
    const spansExported = Number(await (await fetch(sinkUrl)).text())
    const cpuUs = { untraced: med(cpu.off), traced: med(cpu.on), ratio: med(cpu.off) / med(cpu.on) }
    return { sampleRatio, ratio: med(pairRatios), cpuUsPerRequest: cpuUs, untracedReqps: med(off), tracedReqps: med(on), pairRatios, spansExported, spansExpected: 2 * sampledRoots }
  } finally {
    await tracer.shutdown()
    await n.cleanup()
    await stopChild(node.child)
    await stopChild(sink.child)
  }
}

async function main(): Promise<void> {
  const [role, kind, arg] = process.argv.slice(2)
  if (role === 'child') return kind === 'sink' ? childSink() : childNode(arg!)
  const quick = process.argv.includes('--quick')
  const r = process.argv.indexOf('--ratio')
  const ratios = r > 0 ? process.argv[r + 1]!.split(',').map(Number) : [1]
  const out = []
  for (const ratio of ratios) out.push(await measureTracingOverhead(ratio, { pairs: quick ? 4 : 10, block: 4000 }))
  console.log(JSON.stringify({ bench: 'tracing-overhead', results: out, target: { ratio: 0.95 } }, null, 2))
}

if (process.argv[1] === SELF) main().catch((err) => { console.error(err); process.exit(1) })
