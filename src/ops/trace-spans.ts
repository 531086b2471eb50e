/**
 * The node's two span kinds (OpenTelemetry's `Span` interface, no SDK behind it). A recorded span is a plain object:
 * ids stay bytes, times are two numbers, attributes are the caller's object until a setter has to copy it; ending
 * it hands it to the exporter's queue. Everything else (hex ids, OTLP JSON) happens at export, once per batch.
 * A span sampled out is the shared NOOP_SPAN: nothing is built, recorded or propagated for it.
 */
import { SpanStatusCode, TraceFlags, type Attributes, type AttributeValue, type Exception, type Span, type SpanContext, type SpanKind, type SpanStatus, type TimeInput } from '@opentelemetry/api'

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')

/** Per-span bounds (a caller's loop cannot grow a span without limit). */
export const MAX_EVENTS = 128
export const MAX_ATTRIBUTES = 64

/** Wall-clock ms (sub-ms resolution): the monotonic clock anchored at the process's time origin. */
export const nowMs = (): number => performance.timeOrigin + performance.now()

/** OTel TimeInput as ms since the epoch (number = ms, [s, ns] hrtime, Date). */
export function toMs(t: TimeInput | undefined): number {
  if (t === undefined) return nowMs()
  if (typeof t === 'number') return t
  if (Array.isArray(t)) return t[0] * 1e3 + t[1] / 1e6
  return t.getTime()
}

export interface SpanEvent { name: string; timeMs: number; attributes: Attributes | undefined }

export class RecordedSpan implements Span {
  endMs = -1
  events: SpanEvent[] | undefined
  status: SpanStatus | undefined
  droppedEvents = 0
  #ownAttrs = false
  #ctx: SpanContext | undefined
  constructor(
    readonly traceIdBytes: Uint8Array, readonly spanIdBytes: Uint8Array, readonly parentSpanIdBytes: Uint8Array | undefined,
    public name: string, readonly kind: SpanKind, public attributes: Attributes | undefined, readonly startMs: number,
    readonly onEnd: (s: RecordedSpan) => void,
  ) {}
  spanContext(): SpanContext {
    this.#ctx ??= { traceId: hex(this.traceIdBytes), spanId: hex(this.spanIdBytes), traceFlags: TraceFlags.SAMPLED }
    return this.#ctx
  }
  setAttribute(key: string, value: AttributeValue): this {
    if (this.endMs >= 0 || value === undefined) return this
    if (!this.#ownAttrs) { this.attributes = { ...this.attributes }; this.#ownAttrs = true }
    if (key in this.attributes! || Object.keys(this.attributes!).length < MAX_ATTRIBUTES) this.attributes![key] = value
    return this
  }
  setAttributes(attrs: Attributes): this {
    for (const k of Object.keys(attrs)) this.setAttribute(k, attrs[k]!)
    return this
  }
  addEvent(name: string, attrsOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    if (this.endMs >= 0) return this
    const isTime = typeof attrsOrTime === 'number' || Array.isArray(attrsOrTime) || attrsOrTime instanceof Date
    this.events ??= []
    if (this.events.length >= MAX_EVENTS) { this.droppedEvents++; return this }
    this.events.push({ name, timeMs: toMs(isTime ? attrsOrTime as TimeInput : time), attributes: isTime ? undefined : attrsOrTime as Attributes | undefined })
    return this
  }
  addLink(): this { return this }
  addLinks(): this { return this }
  setStatus(status: SpanStatus): this {
    if (this.endMs < 0 && !(status.code === SpanStatusCode.UNSET)) this.status = status
    return this
  }
  updateName(name: string): this { if (this.endMs < 0) this.name = name; return this }
  end(endTime?: TimeInput): void {
    if (this.endMs >= 0) return
    this.endMs = Math.max(this.startMs, toMs(endTime))
    this.onEnd(this)
  }
  isRecording(): boolean { return this.endMs < 0 }
  recordException(exception: Exception, time?: TimeInput): void {
    const e = typeof exception === 'string' ? { message: exception } : exception as { name?: string; message?: string; stack?: string; code?: string | number }
    const attrs: Attributes = {}
    if (e.name ?? e.code) attrs['exception.type'] = String(e.name ?? e.code)
    if (e.message) attrs['exception.message'] = e.message
    if (e.stack) attrs['exception.stacktrace'] = e.stack
    this.addEvent('exception', attrs, time)
  }
}

/**
 * The span of a trace that is not recorded: one shared object, every method a no-op, no ids (a trace sampled out is
 * decided once, at its root, and nothing is built for it: no ids, no clock, no context on the wire).
 */
class NoopSpan implements Span {
  static readonly CONTEXT: SpanContext = { traceId: '00000000000000000000000000000000', spanId: '0000000000000000', traceFlags: TraceFlags.NONE }
  spanContext(): SpanContext { return NoopSpan.CONTEXT }
  setAttribute(): this { return this }
  setAttributes(): this { return this }
  addEvent(): this { return this }
  addLink(): this { return this }
  addLinks(): this { return this }
  setStatus(): this { return this }
  updateName(): this { return this }
  end(): void {}
  isRecording(): boolean { return false }
  recordException(): void {}
}
export const NOOP_SPAN: Span = new NoopSpan()
