/**
 * NAT-layer message types (range 0x60-0x6f) and their CBOR payloads, declared once on the shared schema module
 * (src/wire/schema.ts): strict decoding (unknown or missing keys, wrong types and sizes refused with the field's path),
 * the same checks before encoding. Normative spec and vectors: docs/protocol/nat.md.
 */
import { registerMessageTypes } from '../wire/message-types.js'
import { bytes, decodeWith, message, optional, struct, text, uint, type SchemaError } from '../wire/schema.js'
import { NatError } from './errors.js'
import { ipLiteral } from './punch/candidates.js'

export const NatMessageType = {
  /** request to a rendezvous: forward a signed candidate offer to `to`; the reply carries the answer. */
  NAT_SIGNAL: 0x60,
  /** request from a rendezvous (or a directly linked peer): an offer from `from`; reply = NAT_SIGNAL_ANSWER. */
  NAT_SIGNAL_DELIVER: 0x61,
  /** reply to NAT_SIGNAL / NAT_SIGNAL_DELIVER: the signed answer, or an error. */
  NAT_SIGNAL_ANSWER: 0x62,
  /** request to a relay (RELAY capability): open a circuit to node `to`; reply NAT_RELAY_OPENED. */
  NAT_RELAY_OPEN: 0x63,
  /** request from a relay to the addressee: `from` wants a circuit `c`; reply NAT_RELAY_OPENED. */
  NAT_RELAY_INCOMING: 0x64,
  /** reply to NAT_RELAY_OPEN / NAT_RELAY_INCOMING: {c} or {error}. */
  NAT_RELAY_OPENED: 0x65,
  /** one-way, both directions: circuit `c` carries bytes `d` (opaque: the endpoints' own encrypted frames). */
  NAT_RELAY_DATA: 0x66,
  /** one-way: circuit `c` is closed. */
  NAT_RELAY_CLOSE: 0x67,
  /** one-way: the sender writes no more on circuit `c` (moved to a direct path); forwarded in order. */
  NAT_RELAY_SWITCH: 0x68,
  /** diagnostic echo over a link (used by `zeone connect` to show the path works). */
  NAT_ECHO: 0x6f,
} as const

registerMessageTypes('nat', NatMessageType)

export const MAX_SIGNAL_BYTES = 4096
/** Longest `error` text a node sends (longer ones are cut); a peer's is accepted up to the field's limit. */
const MAX_ERROR_CHARS = 200
const ID = bytes(32)

/**
 * `obs`: in a NAT_SIGNAL_DELIVER forwarded by a rendezvous, the IP the rendezvous sees the signer's link come from
 * (the address the signer has proven by completing a handshake); the addressee punches unprompted only towards it.
 */
const signal = message('NAT_SIGNAL', struct({
  v: uint(1, 1), to: optional(ID), from: optional(ID), offer: bytes(0, MAX_SIGNAL_BYTES), obs: optional(ipLiteral()),
}))
const answer = message('NAT_SIGNAL_ANSWER', struct({
  v: uint(1, 1), answer: optional(bytes(0, MAX_SIGNAL_BYTES)), error: optional(text(0, MAX_SIGNAL_BYTES)),
}))

export interface SignalMsg { v: 1; to?: Uint8Array; from?: Uint8Array; offer: Uint8Array; obs?: string }
export interface AnswerMsg { v: 1; answer?: Uint8Array; error?: string }

const natError = (code: string, what: string) => (e: SchemaError): NatError => new NatError(code, `bad ${what}: ${e.message}`, { cause: e })
const badSignal = natError('nat_bad_signal', 'NAT_SIGNAL payload')
const badAnswer = natError('nat_bad_signal', 'NAT_SIGNAL_ANSWER payload')
const badCtl = natError('nat_bad_relay', 'relay control message')
const badData = natError('nat_bad_relay', 'NAT_RELAY_DATA')

export function encodeSignal(m: SignalMsg): Uint8Array {
  return signal.encode({ v: 1, offer: m.offer, ...(m.to ? { to: m.to } : {}), ...(m.from ? { from: m.from } : {}), ...(m.obs ? { obs: m.obs } : {}) })
}

export function decodeSignal(b: Uint8Array): SignalMsg {
  if (b.length > MAX_SIGNAL_BYTES + 128) throw new NatError('nat_bad_signal', 'signal too large')
  const m = decodeWith(signal, b, badSignal)
  return { ...m, v: 1 }
}

export function encodeAnswer(m: AnswerMsg): Uint8Array {
  return answer.encode({ v: 1, ...(m.answer ? { answer: m.answer } : {}), ...(m.error ? { error: m.error.slice(0, MAX_ERROR_CHARS) } : {}) })
}

export function decodeAnswer(b: Uint8Array): AnswerMsg {
  if (b.length > MAX_SIGNAL_BYTES + 256) throw new NatError('nat_bad_signal', 'answer too large')
  const m = decodeWith(answer, b, badAnswer)
  return { ...m, v: 1 }
}

// ---- relay circuits ----

/** Most bytes in one NAT_RELAY_DATA. */
export const MAX_RELAY_CHUNK = 32 * 1024

/** `obs` (NAT_RELAY_INCOMING only): the IP literal the relay sees the opener's link come from. */
export interface RelayCtl { v: 1; to?: Uint8Array; from?: Uint8Array; c?: number; error?: string; obs?: string }

/** NAT_RELAY_OPEN, NAT_RELAY_INCOMING, NAT_RELAY_OPENED and NAT_RELAY_CLOSE/SWITCH share one shape. */
const relayCtl = message('NAT_RELAY_CTL', struct({
  v: uint(1, 1), to: optional(ID), from: optional(ID), c: optional(uint(0xffffffff)), error: optional(text(0, 256)), obs: optional(ipLiteral()),
}))
const relayData = message('NAT_RELAY_DATA', struct({ c: uint(0xffffffff), d: bytes(0, MAX_RELAY_CHUNK) }))

export function encodeRelayCtl(m: RelayCtl): Uint8Array {
  return relayCtl.encode({
    v: 1, ...(m.to ? { to: m.to } : {}), ...(m.from ? { from: m.from } : {}), ...(m.c !== undefined ? { c: m.c } : {}),
    ...(m.error ? { error: m.error.slice(0, MAX_ERROR_CHARS) } : {}), ...(m.obs ? { obs: m.obs } : {}),
  })
}

export function decodeRelayCtl(b: Uint8Array): RelayCtl {
  if (b.length > 512) throw new NatError('nat_bad_relay', 'relay control message too large')
  const m = decodeWith(relayCtl, b, badCtl)
  return { ...m, v: 1 }
}

export function encodeRelayData(c: number, d: Uint8Array): Uint8Array {
  if (d.length > MAX_RELAY_CHUNK) throw new NatError('nat_bad_relay', 'relay chunk too large')
  return relayData.encode({ c, d })
}

export function decodeRelayData(b: Uint8Array): { c: number; d: Uint8Array } {
  if (b.length > MAX_RELAY_CHUNK + 32) throw new NatError('nat_bad_relay', 'relay chunk too large')
  return decodeWith(relayData, b, badData)
}
