/**
 * The error reply for a v0 frame over our cap. The frame was skipped unread (only its first and last bytes were
 * kept, see LegacyFrameDecoder.pushItems), so it is neither parsed nor verified: we only pick out what the v0 error
 * reply must echo (a SERVICE_REQUEST's request_id, a DHT STORE's nonce) so the Python caller gets an answer instead
 * of a timeout. The reply is ours and says only "too large"; a forged head costs its sender a frame of bytes.
 */
import { pyFloat } from '../../wire/legacy-json.js'
import type { OversizeFrame } from '../../wire/legacy.js'

export interface OversizeReply { type: string; payload: Record<string, unknown>; nonce?: string }

/** Last match of `re` (global) in `text`, group 1. */
function last(re: RegExp, text: string): string | undefined {
  let out: string | undefined
  for (const m of text.matchAll(re)) out = m[1]
  return out
}

export function oversizeReply(f: OversizeFrame, cap: number, providerIdB64: string): OversizeReply | undefined {
  const text = `${Buffer.from(f.head).toString('latin1')}\n${Buffer.from(f.tail).toString('latin1')}`
  const error = `request too large: a ${f.declared}-byte frame, the legacy cap is ${cap} bytes`
  if (/"type"\s*:\s*"SERVICE_REQUEST"/.test(text)) {
    const requestId = last(/"request_id"\s*:\s*"([^"\\]{1,128})"/g, text)
    return {
      type: 'SERVICE_RESPONSE',
      payload: { success: false, result: null, cost: pyFloat(0), execution_time: pyFloat(0), request_id: requestId ?? null, error, provider_id: providerIdB64 },
    }
  }
  if (/"type"\s*:\s*"DATA"/.test(text) && /"dht_request"/.test(text) && /"type"\s*:\s*"STORE"/.test(text)) {
    const nonce = last(/"nonce"\s*:\s*"([A-Za-z0-9+/]{14,22}={0,2})"/g, text)
    if (!nonce) return undefined
    return { type: 'DATA', payload: { dht: true, dht_response: { type: 'STORE_RESPONSE', success: false, error }, nonce }, nonce }
  }
  return undefined
}
