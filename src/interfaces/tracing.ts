/** What layers see of the node's tracer (src/ops/tracing.ts builds it; absent when tracing is off). */
import type { Attributes, Span, SpanKind } from '@opentelemetry/api'
import type { TraceContext } from './link.js'

export type { Span } from '@opentelemetry/api'

export interface StartOptions {
  /** A local parent span, or a remote parent from the wire. */
  parent?: Span | TraceContext | undefined
  kind?: SpanKind
  attributes?: Attributes
  /** Start time (ms since the epoch) when the span began before this call. */
  startTime?: number
  /** A root recorded whatever the sample ratio: an operation an operator asked for (e.g. `zeone dht get`). */
  sample?: boolean
}

export interface NodeTracer {
  /**
   * Draws the sampling decision for a new root trace (true with `force`). A call site whose root span needs a name,
   * attributes or options built per call asks this first and, when true, starts the span with `sample: true`: a
   * trace sampled out then costs this one draw, and no span, id, options object or attribute is made for it.
   */
  sampleRoot(force?: boolean): boolean
  start(name: string, opts?: StartOptions): Span
  /** The wire form of a span's context, to send with a request; undefined for a trace that is not recorded (a
   *  sampled-out trace is not propagated: the peer would record nothing for it, so it costs no bytes either). */
  contextOf(span: Span): TraceContext | undefined
  forceFlush(): Promise<void>
  shutdown(): Promise<void>
}
