/**
 * OpenTelemetry tracing for one node. Off unless `ops.tracing.endpoint` is set: then the node has no tracer at all
 * and every instrumented call site skips span work behind `tracer?.` (no cost when off). On: recorded spans
 * (trace-spans.ts) are batched to an OTLP/HTTP (JSON) collector (otlp-exporter.ts, otlp-json.ts). The OTel SDK is
 * not used: its per-span sampler, context objects, clock and attribute copies, and its export path, cost more than
 * the small requests being traced (bench wire-throughput, tracedVsUntraced). Each node owns its tracer (several
 * nodes may share a process), so nothing is registered globally; parents are passed explicitly (no async context).
 */
import { randomFillSync } from 'node:crypto'
import { SpanKind, TraceFlags, type Span } from '@opentelemetry/api'
import type { TraceContext } from '../interfaces/link.js'
import type { NodeTracer, StartOptions } from '../interfaces/tracing.js'
import { NOOP_SPAN, nowMs, RecordedSpan } from './trace-spans.js'
import { OtlpExporter, type ExporterOptions } from './otlp-exporter.js'

export type { NodeTracer, Span } from '../interfaces/tracing.js'
export { SpanKind } from '@opentelemetry/api'
export { failSpan } from '../util/span.js'

export interface TracingConfig {
  /** OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces; unset = tracing off. */
  endpoint?: string | undefined
  /** Share of new root traces recorded (0..1); spans continuing a remote sampled trace are always recorded. */
  sampleRatio: number
  serviceName: string
  headers: Record<string, string>
  /** Exporter batching (benchmarks and tests; the node uses the defaults). */
  exporter?: Pick<ExporterOptions, 'batch' | 'delayMs' | 'maxQueue'> | undefined
}

const isRemote = (p: Span | TraceContext): p is TraceContext => (p as TraceContext).traceId instanceof Uint8Array

/**
 * Random span and trace ids from a pooled CSPRNG buffer (one randomFillSync per 64 KiB, ~2700 spans, instead of
 * Math.random per id; at 4 KiB the call's argument checks showed in a 1% profile); an all-zero id (invalid in W3C)
 * is drawn again. Returns a view: a pool is never refilled, only replaced, so an id stays valid for as long as it is
 * held. A plain Uint8Array, not a Buffer: its views are cheaper to make.
 */
const POOL_BYTES = 65536
let pool = new Uint8Array(0)
let poolAt = POOL_BYTES
function randomId(n: 8 | 16): Uint8Array {
  for (;;) {
    if (poolAt + n > pool.byteLength) { pool = randomFillSync(new Uint8Array(POOL_BYTES)); poolAt = 0 }
    const id = pool.subarray(poolAt, poolAt + n)
    poolAt += n
    for (let i = 0; i < n; i++) if (id[i] !== 0) return id
  }
}

/** Builds a node's tracer, or undefined when tracing is off. */
export async function createTracer(cfg: TracingConfig, nodeId: string): Promise<NodeTracer | undefined> {
  if (!cfg.endpoint) return undefined
  const exporter = new OtlpExporter({ ...cfg.exporter, url: cfg.endpoint, headers: cfg.headers, resource: { 'service.name': cfg.serviceName, 'service.instance.id': nodeId } })
  const ratio = cfg.sampleRatio
  // the root sampling decision: the only work a trace that is sampled out ever costs
  const sampleRoot = (force?: boolean): boolean => force === true || ratio >= 1 || (ratio > 0 && Math.random() < ratio)
  const record = (name: string, opts: StartOptions, traceId: Uint8Array, parentId?: Uint8Array): Span =>
    new RecordedSpan(traceId, randomId(8), parentId, name, opts.kind ?? SpanKind.INTERNAL, opts.attributes, opts.startTime ?? nowMs(), exporter.add)
  const self: NodeTracer = {
    sampleRoot,
    start(name, opts = {}) {
      const p = opts.parent
      // a root: sampled here or never (its children and peers follow: nothing is built for a trace sampled out)
      if (p === undefined) return sampleRoot(opts.sample) ? record(name, opts, randomId(16)) : NOOP_SPAN
      if (p instanceof RecordedSpan) return record(name, opts, p.traceIdBytes, p.spanIdBytes)
      if (p === NOOP_SPAN) return NOOP_SPAN
      if (isRemote(p)) {
        // a malformed remote context starts a new root, by the same ratio; a peer's sampled-out trace stays so
        if (p.traceId.byteLength !== 16 || p.spanId.byteLength !== 8) return self.start(name, { ...opts, parent: undefined })
        if ((p.flags & TraceFlags.SAMPLED) === 0) return NOOP_SPAN
        // copied: the bytes may be a view into a receive buffer that is reused (a Buffer's slice is a view)
        return record(name, opts, new Uint8Array(p.traceId), new Uint8Array(p.spanId))
      }
      // a foreign Span implementation: its sampled flag decides (not isRecording(): an ended span still parents)
      const c = p.spanContext()
      const traceId = Buffer.from(c.traceId, 'hex')
      if ((c.traceFlags & TraceFlags.SAMPLED) === 0 || traceId.byteLength !== 16) return NOOP_SPAN
      return record(name, opts, traceId, Buffer.from(c.spanId, 'hex'))
    },
    contextOf(span) {
      if (span instanceof RecordedSpan) return { traceId: span.traceIdBytes, spanId: span.spanIdBytes, flags: TraceFlags.SAMPLED }
      if (span === NOOP_SPAN) return undefined
      const c = span.spanContext()
      if ((c.traceFlags & TraceFlags.SAMPLED) === 0) return undefined
      return { traceId: Buffer.from(c.traceId, 'hex'), spanId: Buffer.from(c.spanId, 'hex'), flags: c.traceFlags }
    },
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
  }
  return self
}
