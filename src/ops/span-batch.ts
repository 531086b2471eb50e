/**
 * Ended spans waiting for export, as columns: ids in one byte array, times in one float array, the rest in parallel
 * arrays. Ending a span copies it in here, so the span object itself dies young (it is not kept alive across
 * garbage collections until its batch is sent, which promoted every queued span to the old generation); the
 * export encodes a whole batch from these columns (otlp-json.ts), hex-encoding all its ids in one call. A batch is
 * reused once encoded (reset()): its columns are allocated once per exporter, not once per 1024 spans.
 */
import type { Attributes, SpanStatus } from '@opentelemetry/api'
import type { RecordedSpan, SpanEvent } from './trace-spans.js'

/** Bytes per span in `ids`: trace id 16, span id 8, parent span id 8 (zero when `hasParent[i]` is 0). */
export const ID_STRIDE = 32

export class SpanBatch {
  n = 0
  readonly ids: Uint8Array
  /** start ms, end ms per span */
  readonly times: Float64Array
  readonly kinds: Uint8Array
  readonly hasParent: Uint8Array
  readonly droppedEvents: Uint32Array
  readonly names: string[] = []
  readonly attributes: Array<Attributes | undefined> = []
  readonly events: Array<SpanEvent[] | undefined> = []
  readonly status: Array<SpanStatus | undefined> = []

  constructor(readonly capacity: number) {
    this.ids = new Uint8Array(capacity * ID_STRIDE)
    this.times = new Float64Array(capacity * 2)
    this.kinds = new Uint8Array(capacity)
    this.hasParent = new Uint8Array(capacity)
    this.droppedEvents = new Uint32Array(capacity)
  }

  get full(): boolean { return this.n >= this.capacity }

  /** Copies an ended span in; the caller checks `full` first. */
  push(s: RecordedSpan): void {
    const i = this.n++
    const at = i * ID_STRIDE
    this.ids.set(s.traceIdBytes, at)
    this.ids.set(s.spanIdBytes, at + 16)
    if (s.parentSpanIdBytes) { this.ids.set(s.parentSpanIdBytes, at + 24); this.hasParent[i] = 1 } else this.hasParent[i] = 0
    this.times[2 * i] = s.startMs
    this.times[2 * i + 1] = s.endMs
    this.kinds[i] = s.kind
    this.droppedEvents[i] = s.droppedEvents
    this.names[i] = s.name
    this.attributes[i] = s.attributes
    this.events[i] = s.events
    this.status[i] = s.status
  }

  /** Empties the batch for reuse: the columns are overwritten span by span; the references are dropped now. */
  reset(): void {
    this.attributes.fill(undefined, 0, this.n)
    this.events.fill(undefined, 0, this.n)
    this.status.fill(undefined, 0, this.n)
    this.n = 0
  }

  static of(spans: readonly RecordedSpan[]): SpanBatch {
    const b = new SpanBatch(Math.max(1, spans.length))
    for (const s of spans) b.push(s)
    return b
  }
}
