/**
 * Throughput of the ZEONE wire between two processes on loopback, against raw TCP measured in the same run, and
 * (when installed under bench/peers/) js-libp2p (TCP + Noise + yamux) and Hyperswarm secret-stream.
 *   npm run bench -- wire-throughput [--quick]
 * Prints JSON: MB/s for 64 KiB messages, msg/s for 1 KiB messages and pipelined request/reply per second, per stack.
 * `zeoneV2Traced` is the same v2 link with tracing on at both ends (an OTLP/HTTP sink in this process receives the
 * spans): a client span per request, the trace context on the wire (envelope kind 3), a server span per request;
 * `zeoneV2Sampled` the same with ops.tracing.sampleRatio 0.01 (1% of the traces recorded; the others send no context).
 * `tracing`: the cost of tracing on small requests, measured as traced/untraced blocks alternating on one link
 * (bench/tracing-overhead.ts) at sampleRatio 1 and at the default ratio; `ratios.tracedVsUntraced.reqps` is that
 * figure (separate process pairs, as for the bulk rates, drift too much on a loaded machine for a 5% budget).
 */
import { existsSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { cpus } from 'node:os'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { AeadKey, CIPHER_SUITES } from '../src/crypto/aead.js'
import { MessageType } from '../src/wire/message-types.js'
import { createServer as createHttpServer } from 'node:http'
import { benchNode, spawnChild, stopChild } from './wire-common.js'
import { createTracer } from '../src/ops/tracing.js'
import { TRACE_CAPABILITY } from '../src/transport/rpc-link.js'
import { SpanKind } from '@opentelemetry/api'
import type { NodeTracer } from '../src/interfaces/tracing.js'
import { opsConfigSchema } from '../src/ops/ops-config.js'
import { measureTracingOverhead, tracingOverheadOptions, type TracingOverhead } from './tracing-overhead.js'

const SELF = fileURLToPath(import.meta.url)
const quick = process.argv.includes('--quick')
const BIG = 64 * 1024
const SMALL = 1024
const BIG_TOTAL = (quick ? 32 : 128) * 1024 * 1024
const SMALL_COUNT = quick ? 20_000 : 50_000
/** Stacks are measured in interleaved rounds and the median is reported: the machine's load drifts. */
const ROUNDS = quick ? 1 : 3
/** `--only zeoneV2,rawTcp` measures just those stacks (for profiling one of them). */
const onlyArg = process.argv.indexOf('--only')
const ONLY = onlyArg > 0 ? new Set(process.argv[onlyArg + 1]!.split(',')) : null
const want = (name: string): boolean => !ONLY || ONLY.has(name)

// ---------------- child roles ----------------
const traceCfg = (endpoint: string, sampleRatio = 1) => ({ endpoint, sampleRatio, serviceName: 'zeone-bench', headers: {} })

async function childZeone(version: string, otlp?: string): Promise<void> {
  const tracer = otlp ? await createTracer(traceCfg(otlp), 'child') : undefined
  const n = benchNode({ wireVersions: [Number(version)], preferredVersion: Number(version) }, tracer ? { tracer, capabilities: ['DHT', TRACE_CAPABILITY] } : {})
  let bytes = 0
  n.router.handle(MessageType.VPN_DATA, (m) => { bytes += m.body.byteLength })
  n.router.handle(MessageType.SERVICE_REQUEST, (m) => {
    const span = tracer && m.trace ? tracer.start('bench.handle', { parent: m.trace, kind: SpanKind.SERVER }) : undefined
    m.reply?.(MessageType.SERVICE_RESPONSE, new TextEncoder().encode(String(bytes)))
    span?.end()
  })
  await n.cm.start()
  console.log(JSON.stringify({ port: n.cm.listenAddress!.port }))
  process.on('SIGTERM', () => { void (tracer?.shutdown() ?? Promise.resolve()).then(() => n.cleanup()).then(() => process.exit(0)) })
}

function childRaw(): void {
  const server = createServer((s) => {
    let got = 0
    let expect = -1
    s.on('data', (d: Buffer) => {
      if (expect < 0) { expect = d.readUInt32BE(0) * 1024; d = d.subarray(4) }
      got += d.length
      if (got >= expect) s.write(Buffer.from([1]))
    })
  })
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as { port: number }).port })))
  process.on('SIGTERM', () => process.exit(0))
}

// ---------------- measurements ----------------
async function measureRaw(): Promise<number> {
  const { child, hello } = await spawnChild(SELF, ['child', 'raw'])
  const sock = connect({ host: '127.0.0.1', port: hello.port as number, noDelay: true })
  await new Promise((r) => sock.once('connect', r))
  const buf = Buffer.alloc(BIG, 7)
  const head = Buffer.alloc(4)
  head.writeUInt32BE(BIG_TOTAL / 1024)
  const done = new Promise((r) => sock.once('data', r))
  const t0 = process.hrtime.bigint()
  sock.write(head)
  for (let sent = 0; sent < BIG_TOTAL; sent += BIG) {
    if (!sock.write(buf)) await new Promise((r) => sock.once('drain', r))
  }
  await done
  const s = Number(process.hrtime.bigint() - t0) / 1e9
  sock.destroy()
  await stopChild(child)
  return BIG_TOTAL / s / 1e6
}

/** An OTLP/HTTP sink that counts the spans it receives (the cost of building and exporting them stays in the run). */
async function otlpSink(): Promise<{ url: string; spans(): number; close(): Promise<void> }> {
  let spans = 0
  const srv = createHttpServer((req, res) => {
    const parts: Buffer[] = []
    req.on('data', (b: Buffer) => parts.push(b))
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(parts).toString()) as { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] }
      for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans += ss.spans.length
      res.end('{}')
    })
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(srv.address() as { port: number }).port}/v1/traces`, spans: () => spans, close: () => new Promise((r) => srv.close(() => r())) }
}

const REQ_COUNT = quick ? 10_000 : 30_000
const REQ_WINDOW = 64

async function measureZeone(version: number, traced = false, sampleRatio = 1): Promise<{ mbps64k: number; msgps1k: number; reqps: number; spansExported?: number }> {
  const sink = traced ? await otlpSink() : undefined
  const { child, hello } = await spawnChild(SELF, ['child', 'zeone', String(version), ...(sink ? [sink.url] : [])])
  const tracer: NodeTracer | undefined = sink ? await createTracer(traceCfg(sink.url, sampleRatio), 'parent') : undefined
  const n = benchNode({ wireVersions: [version], preferredVersion: version }, tracer ? { tracer, capabilities: ['DHT', TRACE_CAPABILITY] } : {})
  const link = await n.cm.dial({ host: '127.0.0.1', port: hello.port as number })
  /** Pipelined requests (REQ_WINDOW in flight); traced: each one under its own client span, context on the wire. */
  const requests = async (count: number): Promise<number> => {
    const empty = new Uint8Array(0)
    let next = 0
    const one = async (): Promise<void> => {
      const span = tracer?.sampleRoot() ? tracer.start('bench.request', { kind: SpanKind.CLIENT, sample: true }) : undefined
      await link.request(MessageType.SERVICE_REQUEST, empty, span ? { timeoutMs: 600_000, trace: tracer!.contextOf(span) } : { timeoutMs: 600_000 })
      span?.end()
    }
    const t0 = process.hrtime.bigint()
    await Promise.all(Array.from({ length: REQ_WINDOW }, async () => { while (next++ < count) await one() }))
    return count / (Number(process.hrtime.bigint() - t0) / 1e9)
  }
  const run = async (size: number, count: number): Promise<number> => {
    const body = new Uint8Array(size).fill(9)
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < count; i++) {
      if (!link.send(MessageType.VPN_DATA, body)) await link.whenWritable()
    }
    await link.request(MessageType.SERVICE_REQUEST, new Uint8Array(0), { timeoutMs: 600_000 })
    return Number(process.hrtime.bigint() - t0) / 1e9
  }
  await run(BIG, 256) // warm-up
  await run(SMALL, 5000)
  await requests(2000)
  const s64 = await run(BIG, BIG_TOTAL / BIG)
  const s1 = await run(SMALL, SMALL_COUNT)
  const reqps = await requests(REQ_COUNT)
  await tracer?.shutdown()
  await n.cleanup()
  await stopChild(child)
  const spansExported = sink?.spans()
  await sink?.close()
  return { mbps64k: BIG_TOTAL / s64 / 1e6, msgps1k: SMALL_COUNT / s1, reqps, ...(spansExported !== undefined ? { spansExported } : {}) }
}

/** Runs bench/peers/<name>/run.mjs (server in a child, client here in another child) if installed. */
async function measurePeer(name: string): Promise<{ mbps64k: number; msgps1k: number } | { skipped: string }> {
  const script = `bench/peers/${name}/run.mjs`
  if (!existsSync(script) || !existsSync(`bench/peers/${name}/node_modules`)) return { skipped: `not installed: cd bench/peers/${name} && npm ci` }
  const { child, hello } = await spawnChild(script, ['server'])
  try {
    const client = spawn(process.execPath, [script, 'client', String(hello.port), String(hello.addr ?? ''), String(BIG_TOTAL), String(SMALL_COUNT)], { stdio: ['ignore', 'pipe', 'inherit'] })
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: client.stdout! }).once('line', resolve)
      client.once('exit', (c) => reject(new Error(`${name} client exited ${c}`)))
    })
    return JSON.parse(line)
  } catch (err) {
    return { skipped: `failed: ${(err as Error).message}` }
  } finally {
    await stopChild(child)
  }
}

/** In-process AEAD speed per suite (seal + open through AeadKey): the basis of the suite preference order. */
function measureSuites(): Record<string, { sealOpenMBps64k: number; sealOpenOps1k: number }> {
  const out: Record<string, { sealOpenMBps64k: number; sealOpenOps1k: number }> = {}
  const aad = Buffer.alloc(16)
  const nonce = Buffer.alloc(12)
  for (const suite of CIPHER_SUITES) {
    const key = new AeadKey(suite, new Uint8Array(32).fill(1))
    const run = (size: number, n: number): number => {
      const pt = Buffer.alloc(size, 3)
      const ct = Buffer.allocUnsafe(size + 16)
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < n; i++) { key.sealInto(ct, nonce, aad, pt); key.open(nonce, aad, ct) }
      return n / (Number(process.hrtime.bigint() - t0) / 1e9)
    }
    run(1024, 2000)
    out[suite] = { sealOpenMBps64k: (run(BIG, quick ? 300 : 1500) * BIG) / 1e6, sealOpenOps1k: run(SMALL, quick ? 20_000 : 100_000) }
  }
  return out
}

async function main(): Promise<void> {
  const [role, kind, arg] = process.argv.slice(2)
  if (role === 'child') return kind === 'raw' ? childRaw() : childZeone(arg!, process.argv[5])
  const suites = want('suites') ? measureSuites() : {}
  type R = { mbps64k: number; msgps1k: number; reqps?: number } | { skipped: string }
  const samples: Record<'rawTcp' | 'zeoneV2' | 'zeoneV2Traced' | 'zeoneV2Sampled' | 'zeoneV1' | 'libp2p' | 'secretStream', R[]> = { rawTcp: [], zeoneV2: [], zeoneV2Traced: [], zeoneV2Sampled: [], zeoneV1: [], libp2p: [], secretStream: [] }
  for (let r = 0; r < ROUNDS; r++) {
    if (want('rawTcp')) samples.rawTcp.push({ mbps64k: await measureRaw(), msgps1k: 0 })
    if (want('zeoneV2')) samples.zeoneV2.push(await measureZeone(2))
    if (want('zeoneV2Traced')) samples.zeoneV2Traced.push(await measureZeone(2, true))
    if (want('zeoneV2Sampled')) samples.zeoneV2Sampled.push(await measureZeone(2, true, 0.01))
    if (want('zeoneV1')) samples.zeoneV1.push(await measureZeone(1))
    if (want('libp2p')) samples.libp2p.push(await measurePeer('libp2p'))
    if (want('secretStream')) samples.secretStream.push(await measurePeer('secret-stream'))
  }
  const defaultRatio = opsConfigSchema.parse({}).tracing.sampleRatio
  const tracing: { atRatio1?: TracingOverhead; atDefault?: TracingOverhead } = {}
  if (want('tracing')) {
    const o = tracingOverheadOptions(quick)
    tracing.atRatio1 = await measureTracingOverhead(1, o)
    tracing.atDefault = await measureTracingOverhead(defaultRatio, o)
  }
  const med = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }
  const summary = (rs: R[]): R => {
    const ok = rs.filter((x): x is { mbps64k: number; msgps1k: number; reqps?: number } => 'mbps64k' in x)
    if (ok.length === 0) return rs[0] ?? { skipped: 'not measured (--only)' }
    const req = ok.flatMap((x) => (x.reqps !== undefined ? [x.reqps] : []))
    return { mbps64k: med(ok.map((x) => x.mbps64k)), msgps1k: med(ok.map((x) => x.msgps1k)), ...(req.length ? { reqps: med(req) } : {}) }
  }
  const rawMBps = (summary(samples.rawTcp) as { mbps64k?: number }).mbps64k ?? NaN
  const v2 = summary(samples.zeoneV2) as { mbps64k: number; msgps1k: number; reqps: number }
  const v2t = summary(samples.zeoneV2Traced) as { mbps64k: number; msgps1k: number; reqps: number }
  const v2s = summary(samples.zeoneV2Sampled) as { mbps64k: number; msgps1k: number; reqps: number }
  const v1 = summary(samples.zeoneV1)
  const libp2p = summary(samples.libp2p)
  const secretStream = summary(samples.secretStream)
  const ratio = (a: number, b: unknown): number | null => (typeof b === 'object' && b && 'mbps64k' in b ? a / (b as { mbps64k: number }).mbps64k : null)
  console.log(JSON.stringify({
    bench: 'wire-throughput',
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    config: { bigMessage: BIG, bigTotalBytes: BIG_TOTAL, smallMessage: SMALL, smallCount: SMALL_COUNT, rounds: ROUNDS, reported: 'median of rounds' },
    suites,
    rawTcp: { mbps64k: rawMBps },
    zeoneV2: v2,
    zeoneV2Traced: v2t,
    zeoneV2Sampled: v2s,
    zeoneV1: v1,
    libp2p,
    secretStream,
    tracing,
    ratios: {
      v2VsRawTcp: v2.mbps64k / rawMBps,
      tracedVsUntraced: { mbps64k: v2t.mbps64k / v2.mbps64k, msgps1k: v2t.msgps1k / v2.msgps1k, reqps: tracing.atRatio1?.ratio ?? null, reqpsSeparateRuns: v2t.reqps / v2.reqps },
      sampled1pctVsUntraced: { mbps64k: v2s.mbps64k / v2.mbps64k, msgps1k: v2s.msgps1k / v2.msgps1k, reqpsSeparateRuns: v2s.reqps / v2.reqps },
      defaultRatioVsUntraced: { sampleRatio: defaultRatio, reqps: tracing.atDefault?.ratio ?? null },
      v2VsLibp2p: ratio(v2.mbps64k, libp2p),
      v2VsSecretStream: ratio(v2.mbps64k, secretStream),
    },
    samples,
    targets: { tracedVsUntraced: 0.95, v2VsRawTcp: 0.4, v2VsLibp2p: 1.5, v2VsSecretStream: 1.2, v1mbps64k: 300, v2msgps1k: 100_000, v1msgps1k: 20_000 },
  }, null, 2))
}

main().catch((err) => { console.error(err); process.exit(1) })
