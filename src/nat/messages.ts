/**
 * NAT-layer message types (range 0x60-0x6f) and their CBOR payloads. Normative spec: docs/protocol/nat.md.
 */
import { registerMessageTypes } from '../wire/message-types.js'
import { decode, encode } from '../wire/cbor.js'
import { NatError } from './errors.js'
import { candidateFamily } from './punch/candidates.js'

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
const SIGNAL_KEYS = ['v', 'to', 'from', 'offer', 'obs']
const ANSWER_KEYS = ['v', 'answer', 'error']
const RELAY_CTL_KEYS = ['v', 'to', 'from', 'c', 'error', 'obs']
const RELAY_DATA_KEYS = ['c', 'd']
/** Decoding is strict (docs/protocol/nat.md): a key the message does not define is refused, not ignored. */
const onlyKeys = (m: Record<string, unknown>, keys: readonly string[]): boolean => Object.keys(m).every((k) => keys.includes(k))

/**
 * `obs`: in a NAT_SIGNAL_DELIVER forwarded by a rendezvous, the IP the rendezvous sees the signer's link come from
 * (the address the signer has proven by completing a handshake); the addressee punches unprompted only towards it.
 */
export interface SignalMsg { v: 1; to?: Uint8Array; from?: Uint8Array; offer: Uint8Array; obs?: string }
export interface AnswerMsg { v: 1; answer?: Uint8Array; error?: string }

const bytesField = (v: unknown, n?: number): v is Uint8Array => v instanceof Uint8Array && (n === undefined || v.length === n)

export function encodeSignal(m: SignalMsg): Uint8Array {
  return encode({ v: 1, ...(m.to ? { to: m.to } : {}), ...(m.from ? { from: m.from } : {}), offer: m.offer, ...(m.obs ? { obs: m.obs } : {}) })
}

export function decodeSignal(b: Uint8Array): SignalMsg {
  if (b.length > MAX_SIGNAL_BYTES + 128) throw new NatError('nat_bad_signal', 'signal too large')
  const m = decode(b, { maxDepth: 2, maxItems: 8, maxStringBytes: MAX_SIGNAL_BYTES }) as Record<string, unknown>
  if (!m || typeof m !== 'object' || m.v !== 1 || !bytesField(m.offer)) throw new NatError('nat_bad_signal', 'bad NAT_SIGNAL payload')
  if (m.to !== undefined && !bytesField(m.to, 32)) throw new NatError('nat_bad_signal', 'bad `to`')
  if (m.from !== undefined && !bytesField(m.from, 32)) throw new NatError('nat_bad_signal', 'bad `from`')
  if (m.obs !== undefined && (typeof m.obs !== 'string' || candidateFamily(m.obs) === undefined)) throw new NatError('nat_bad_signal', 'bad `obs`')
  if (!onlyKeys(m, SIGNAL_KEYS)) throw new NatError('nat_bad_signal', 'unknown key in NAT_SIGNAL')
  return {
    v: 1, offer: m.offer, ...(m.to ? { to: m.to as Uint8Array } : {}), ...(m.from ? { from: m.from as Uint8Array } : {}),
    ...(m.obs ? { obs: m.obs as string } : {}),
  }
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
  if (!onlyKeys(m, ANSWER_KEYS)) throw new NatError('nat_bad_signal', 'unknown key in NAT_SIGNAL_ANSWER')
  return { v: 1, ...(m.answer ? { answer: m.answer as Uint8Array } : {}), ...(m.error ? { error: m.error as string } : {}) }
}

// ---- relay circuits ----

/** Most bytes in one NAT_RELAY_DATA. */
export const MAX_RELAY_CHUNK = 32 * 1024

/** `obs` (NAT_RELAY_INCOMING only): the IP literal the relay sees the opener's link come from. */
export interface RelayCtl { v: 1; to?: Uint8Array; from?: Uint8Array; c?: number; error?: string; obs?: string }

export function encodeRelayCtl(m: RelayCtl): Uint8Array {
  return encode({
    v: 1, ...(m.to ? { to: m.to } : {}), ...(m.from ? { from: m.from } : {}), ...(m.c !== undefined ? { c: m.c } : {}),
    ...(m.error ? { error: m.error.slice(0, 200) } : {}), ...(m.obs ? { obs: m.obs } : {}),
  })
}

export function decodeRelayCtl(b: Uint8Array): RelayCtl {
  if (b.length > 512) throw new NatError('nat_bad_relay', 'relay control message too large')
  const m = decode(b, { maxDepth: 2, maxItems: 8, maxStringBytes: 256 }) as Record<string, unknown>
  if (!m || typeof m !== 'object' || m.v !== 1) throw new NatError('nat_bad_relay', 'bad relay control message')
  if (m.to !== undefined && !bytesField(m.to, 32)) throw new NatError('nat_bad_relay', 'bad `to`')
  if (m.from !== undefined && !bytesField(m.from, 32)) throw new NatError('nat_bad_relay', 'bad `from`')
  if (m.c !== undefined && !(typeof m.c === 'number' && Number.isInteger(m.c) && m.c >= 0 && m.c <= 0xffffffff)) throw new NatError('nat_bad_relay', 'bad circuit')
  if (m.error !== undefined && typeof m.error !== 'string') throw new NatError('nat_bad_relay', 'bad error')
  if (m.obs !== undefined && (typeof m.obs !== 'string' || candidateFamily(m.obs) === undefined)) throw new NatError('nat_bad_relay', 'bad `obs`')
  if (!onlyKeys(m, RELAY_CTL_KEYS)) throw new NatError('nat_bad_relay', 'unknown key in relay control message')
  return m as unknown as RelayCtl
}

export function encodeRelayData(c: number, d: Uint8Array): Uint8Array {
  if (d.length > MAX_RELAY_CHUNK) throw new NatError('nat_bad_relay', 'relay chunk too large')
  return encode({ c, d })
}

export function decodeRelayData(b: Uint8Array): { c: number; d: Uint8Array } {
  if (b.length > MAX_RELAY_CHUNK + 32) throw new NatError('nat_bad_relay', 'relay chunk too large')
  const m = decode(b, { maxDepth: 1, maxItems: 2, maxStringBytes: MAX_RELAY_CHUNK }) as Record<string, unknown>
  if (!m || typeof m !== 'object' || !bytesField(m.d) || typeof m.c !== 'number' || !Number.isInteger(m.c) || m.c < 0 || m.c > 0xffffffff) {
    throw new NatError('nat_bad_relay', 'bad NAT_RELAY_DATA')
  }
  if (!onlyKeys(m, RELAY_DATA_KEYS)) throw new NatError('nat_bad_relay', 'unknown key in NAT_RELAY_DATA')
  return { c: m.c, d: m.d }
}
