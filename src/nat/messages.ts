/**
 * NAT-layer message types (range 0x60-0x6f) and their CBOR payloads. Normative spec: docs/protocol/nat.md.
 */
import { registerMessageTypes } from '../wire/message-types.js'
import { decode, encode } from '../wire/cbor.js'
import { NatError } from './errors.js'

export const NatMessageType = {
  /** request to a rendezvous: forward a signed candidate offer to `to`; the reply carries the answer. */
  NAT_SIGNAL: 0x60,
  /** request from a rendezvous (or a directly linked peer): an offer from `from`; reply = NAT_SIGNAL_ANSWER. */
  NAT_SIGNAL_DELIVER: 0x61,
  /** reply to NAT_SIGNAL / NAT_SIGNAL_DELIVER: the signed answer, or an error. */
  NAT_SIGNAL_ANSWER: 0x62,
  /** diagnostic echo over a link (used by `zeone connect` to show the path works). */
  NAT_ECHO: 0x6f,
} as const

registerMessageTypes('nat', NatMessageType)

export const MAX_SIGNAL_BYTES = 4096

export interface SignalMsg { v: 1; to?: Uint8Array; from?: Uint8Array; offer: Uint8Array }
export interface AnswerMsg { v: 1; answer?: Uint8Array; error?: string }

const bytesField = (v: unknown, n?: number): v is Uint8Array => v instanceof Uint8Array && (n === undefined || v.length === n)

export function encodeSignal(m: SignalMsg): Uint8Array {
  return encode({ v: 1, ...(m.to ? { to: m.to } : {}), ...(m.from ? { from: m.from } : {}), offer: m.offer })
}

export function decodeSignal(b: Uint8Array): SignalMsg {
  if (b.length > MAX_SIGNAL_BYTES + 128) throw new NatError('nat_bad_signal', 'signal too large')
  const m = decode(b, { maxDepth: 2, maxItems: 8, maxStringBytes: MAX_SIGNAL_BYTES }) as Record<string, unknown>
  if (!m || typeof m !== 'object' || m.v !== 1 || !bytesField(m.offer)) throw new NatError('nat_bad_signal', 'bad NAT_SIGNAL payload')
  if (m.to !== undefined && !bytesField(m.to, 32)) throw new NatError('nat_bad_signal', 'bad `to`')
  if (m.from !== undefined && !bytesField(m.from, 32)) throw new NatError('nat_bad_signal', 'bad `from`')
  return { v: 1, offer: m.offer, ...(m.to ? { to: m.to as Uint8Array } : {}), ...(m.from ? { from: m.from as Uint8Array } : {}) }
}

export function encodeAnswer(m: AnswerMsg): Uint8Array {
  return encode({ v: 1, ...(m.answer ? { answer: m.answer } : {}), ...(m.error ? { error: m.error.slice(0, 200) } : {}) })
}

export function decodeAnswer(b: Uint8Array): AnswerMsg {
  if (b.length > MAX_SIGNAL_BYTES + 256) throw new NatError('nat_bad_signal', 'answer too large')
  const m = decode(b, { maxDepth: 2, maxItems: 4, maxStringBytes: MAX_SIGNAL_BYTES }) as Record<string, unknown>
  if (!m || typeof m !== 'object' || m.v !== 1) throw new NatError('nat_bad_signal', 'bad NAT_SIGNAL_ANSWER payload')
  if (m.answer !== undefined && !bytesField(m.answer)) throw new NatError('nat_bad_signal', 'bad answer')
  if (m.error !== undefined && typeof m.error !== 'string') throw new NatError('nat_bad_signal', 'bad error')
  return { v: 1, ...(m.answer ? { answer: m.answer as Uint8Array } : {}), ...(m.error ? { error: m.error as string } : {}) }
}
