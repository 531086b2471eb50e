/**
 * OTLP/JSON encoding of a batch of recorded spans (ExportTraceServiceRequest, the protobuf JSON mapping the OTLP/HTTP
 * spec defines: ids as lowercase hex, times as decimal strings of ns since the epoch, enums as numbers). Built as one
 * string per batch, from the batch's columns (span-batch.ts): no intermediate object tree per span, all ids of a
 * batch hex-encoded in one call, names and keys escaped once (a small cache: they repeat).
 */
import type { Attributes, AttributeValue } from '@opentelemetry/api'
import type { RecordedSpan } from './trace-spans.js'
import { ID_STRIDE, SpanBatch } from './span-batch.js'

const ESCAPED_MAX = 512
const escaped = new Map<string, string>()
/** JSON string literal, cached for the short strings that repeat (span names, attribute keys). */
function str(s: string): string {
  if (s.length > 64) return JSON.stringify(s)
  let e = escaped.get(s)
  if (e === undefined) {
    e = JSON.stringify(s)
    if (escaped.size >= ESCAPED_MAX) escaped.clear()
    escaped.set(s, e)
  }
  return e
}

/** ms since the epoch (fractional) as a decimal string of ns, without going through a float of ns (> 2^53). */
export function msToNanoString(ms: number): string {
  if (!(ms >= 1)) return ms > 0 ? String(Math.trunc(ms * 1e6)) : '0'
  const whole = Math.floor(ms)
  // the whole ms repeat from span to span (many end in the same ms): their digits (a double, not a small integer,
  // so slow to print) are kept from the last call
  if (whole !== lastWhole) { lastWhole = whole; lastWholeStr = String(whole) }
  // ns below the ms, truncated (a double near 1.7e12 ms holds ~0.2 us, so rounding adds nothing); "1" + six digits
  return lastWholeStr + String(1_000_000 + Math.trunc((ms - whole) * 1e6)).substring(1)
}
let lastWhole = -1
let lastWholeStr = ''

function anyValue(v: AttributeValue | null | undefined): string {
  switch (typeof v) {
    case 'string': return `{"stringValue":${str(v)}}`
    case 'boolean': return `{"boolValue":${v}}`
    case 'number':
      if (Number.isSafeInteger(v)) return `{"intValue":${v}}`
      return Number.isFinite(v) ? `{"doubleValue":${v}}` : `{"doubleValue":${str(String(v))}}`
    default:
      if (Array.isArray(v)) return `{"arrayValue":{"values":[${v.map((x) => anyValue(x as AttributeValue)).join(',')}]}}`
      return '{}'
  }
}

export function attributesJson(a: Attributes | undefined): string {
  if (!a) return '[]'
  let out = ''
  for (const k in a) {
    const v = a[k]
    if (v === undefined) continue
    out += `${out ? ',' : ''}{"key":${str(k)},"value":${anyValue(v)}}`
  }
  return `[${out}]`
}

/** OTLP's SpanKind is the API's plus one (0 is UNSPECIFIED on the wire). `ids` is the batch's ids, hex. */
function spanJson(b: SpanBatch, ids: string, i: number): string {
  const at = i * ID_STRIDE * 2
  let out = `{"traceId":"${ids.substring(at, at + 32)}","spanId":"${ids.substring(at + 32, at + 48)}"`
  if (b.hasParent[i]) out += `,"parentSpanId":"${ids.substring(at + 48, at + 64)}"`
  out += `,"name":${str(b.names[i]!)},"kind":${b.kinds[i]! + 1},"startTimeUnixNano":"${msToNanoString(b.times[2 * i]!)}","endTimeUnixNano":"${msToNanoString(b.times[2 * i + 1]!)}"`
  const attrs = b.attributes[i]
  if (attrs) out += `,"attributes":${attributesJson(attrs)}`
  const events = b.events[i]
  if (events) out += `,"events":[${events.map((e) => `{"timeUnixNano":"${msToNanoString(e.timeMs)}","name":${str(e.name)},"attributes":${attributesJson(e.attributes)}}`).join(',')}]`
  if (b.droppedEvents[i]) out += `,"droppedEventsCount":${b.droppedEvents[i]}`
  const st = b.status[i]
  if (st) out += `,"status":{"code":${st.code}${st.message ? `,"message":${JSON.stringify(st.message)}` : ''}}`
  return `${out}}`
}

/** One export request: the node's resource (service.name, service.instance.id) and its spans under scope "zeone". */
export function exportRequestJson(resource: Attributes, spans: SpanBatch | readonly RecordedSpan[]): string {
  const b = spans instanceof SpanBatch ? spans : SpanBatch.of(spans)
  const ids = Buffer.from(b.ids.buffer, b.ids.byteOffset, b.n * ID_STRIDE).toString('hex')
  let body = ''
  for (let i = 0; i < b.n; i++) body += (i ? ',' : '') + spanJson(b, ids, i)
  return `{"resourceSpans":[{"resource":{"attributes":${attributesJson(resource)}},"scopeSpans":[{"scope":{"name":"zeone"},"spans":[${body}]}]}]}`
}
