/** Small helpers for spans that every layer may record (tracing itself lives in src/ops/tracing.ts). */
import { SpanStatusCode, type Span } from '@opentelemetry/api'

/** Ends a span with an error status from `err` (code and message), and ends it; a no-op without a span. */
export function failSpan(span: Span | undefined, err: unknown): void {
  if (!span) return
  const e = err as { code?: unknown; message?: unknown }
  span.setStatus({ code: SpanStatusCode.ERROR, message: typeof e?.message === 'string' ? e.message.slice(0, 256) : String(err) })
  if (typeof e?.code === 'string') span.setAttribute('zeone.error.code', e.code)
  span.end()
}

