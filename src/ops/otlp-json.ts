/**
 * OTLP/JSON encoding of a batch of recorded spans (ExportTraceServiceRequest, the protobuf JSON mapping the OTLP/HTTP
 * spec defines: ids as lowercase hex, times as decimal strings of ns since the epoch, enums as numbers). Built as one
 * string per batch: no intermediate object tree per span, all ids of a batch hex-encoded in one call, names and keys
 * escaped once (a small cache: they repeat).
 */
import type { Attributes, AttributeValue } from '@opentelemetry/api'
import type { RecordedSpan } from './trace-spans.js'

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
  // ns below the ms, truncated (a double near 1.7e12 ms holds ~0.2 us, so rounding adds nothing); "1" + six digits
  return whole + String(1_000_000 + Math.trunc((ms - whole) * 1e6)).substring(1)
}

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
function spanJson(s: RecordedSpan, ids: string, i: number): string {
  const at = i * 64
  let out = `{"traceId":"${ids.substring(at, at + 32)}","spanId":"${ids.substring(at + 32, at + 48)}"`
  if (s.parentSpanIdBytes) out += `,"parentSpanId":"${ids.substring(at + 48, at + 64)}"`
  out += `,"name":${str(s.name)},"kind":${s.kind + 1},"startTimeUnixNano":"${msToNanoString(s.startMs)}","endTimeUnixNano":"${msToNanoString(s.endMs)}"`
  if (s.attributes) out += `,"attributes":${attributesJson(s.attributes)}`
  if (s.events) out += `,"events":[${s.events.map((e) => `{"timeUnixNano":"${msToNanoString(e.timeMs)}","name":${str(e.name)},"attributes":${attributesJson(e.attributes)}}`).join(',')}]`
  if (s.droppedEvents) out += `,"droppedEventsCount":${s.droppedEvents}`
  if (s.status) out += `,"status":{"code":${s.status.code}${s.status.message ? `,"message":${JSON.stringify(s.status.message)}` : ''}}`
  return `${out}}`
}

/** One export request: the node's resource (service.name, service.instance.id) and its spans under scope "zeone". */
export function exportRequestJson(resource: Attributes, spans: readonly RecordedSpan[]): string {
  const raw = Buffer.allocUnsafe(spans.length * 32)
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i]!
    raw.set(s.traceIdBytes, i * 32)
    raw.set(s.spanIdBytes, i * 32 + 16)
    if (s.parentSpanIdBytes) raw.set(s.parentSpanIdBytes, i * 32 + 24)
  }
  const ids = raw.toString('hex')
  let body = ''
  for (let i = 0; i < spans.length; i++) body += (i ? ',' : '') + spanJson(spans[i]!, ids, i)
  return `{"resourceSpans":[{"resource":{"attributes":${attributesJson(resource)}},"scopeSpans":[{"scope":{"name":"zeone"},"spans":[${body}]}]}]}`
}
