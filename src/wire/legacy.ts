/**
 * Legacy v0 wire codec (the Python ZEONE network): `[length u32 BE][UTF-8 JSON]` frames carrying signed messages.
 * Pure functions over bytes. Normative description and test vectors: docs/protocol/legacy.md.
 */
import { InvalidInputError } from '../util/errors.js'
import { canonicalJson, JsonNumber, parseLegacyJson, pyFloat, toPlain, type JsonValue } from './legacy-json.js'

/** Default frame cap (the v0 protocol has none). */
export const LEGACY_MAX_FRAME = 4 << 20
export const LEGACY_HEADER_BYTES = 4

export const LEGACY_TYPES = [
  'PING', 'PONG', 'DISCOVER', 'PEER_LIST', 'DATA', 'IOU', 'IOU_ACK', 'BALANCE_CLAIM', 'BALANCE_ACK', 'CONTRACT',
  'CONTRACT_RESULT', 'SERVICE_REQUEST', 'SERVICE_RESPONSE', 'SERVICE_LIST', 'VPN_CONNECT', 'VPN_CONNECT_RESULT',
  'VPN_DATA', 'VPN_CLOSE', 'STREAM', 'CACHE_REQUEST', 'CACHE_RESPONSE',
] as const
const TYPE_SET = new Set<string>(LEGACY_TYPES)

export class LegacyWireError extends InvalidInputError {
  override readonly name = 'LegacyWireError' as 'InvalidInputError'
}

/** A decoded v0 message. `raw` keeps the parsed tree (exact number text) so the signature can be checked. */
export interface LegacyEnvelope {
  type: string
  payload: Record<string, unknown>
  senderId: string
  /** Unix seconds. */
  timestamp: number
  nonce: string
  signature: string
  raw: { [k: string]: JsonValue }
}

/** The bytes a v0 signature covers: canonical JSON of {type, payload, sender_id, timestamp, nonce}. */
export function legacySigningBytes(m: { type: unknown; payload: unknown; sender_id: unknown; timestamp: unknown; nonce: unknown }): Uint8Array {
  return Buffer.from(canonicalJson({ type: m.type, payload: m.payload, sender_id: m.sender_id, timestamp: m.timestamp, nonce: m.nonce }), 'latin1')
}

export interface LegacySigner {
  readonly nodeIdB64: string
  sign(...parts: Uint8Array[]): Uint8Array
}

/**
 * Builds and signs a v0 message; returns the frame's JSON text: the message dict with compact separators (`,` `:`),
 * keys sorted, non-ASCII escaped (the length of the reference PING vector, 0xfa, fixes the compact separators).
 */
export function encodeLegacyMessage(signer: LegacySigner, type: string, payload: Record<string, unknown>, timestampS: number, nonceB64: string): string {
  const ts = pyFloat(timestampS)
  const unsigned = { type, payload, sender_id: signer.nodeIdB64, timestamp: ts, nonce: nonceB64 }
  const sig = Buffer.from(signer.sign(legacySigningBytes(unsigned))).toString('base64')
  return canonicalJson({ type, payload, sender_id: signer.nodeIdB64, timestamp: ts, signature: sig, nonce: nonceB64 })
}

/** Prefixes JSON text with its 4-byte big-endian length. */
export function encodeLegacyFrame(json: string, maxFrame = LEGACY_MAX_FRAME): Uint8Array {
  const body = Buffer.from(json, 'utf8')
  if (body.length > maxFrame) throw new LegacyWireError('frame_too_large', `legacy frame of ${body.length} bytes over the ${maxFrame} cap`)
  const out = Buffer.allocUnsafe(LEGACY_HEADER_BYTES + body.length)
  out.writeUInt32BE(body.length, 0)
  body.copy(out, LEGACY_HEADER_BYTES)
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/
const b64Len = (s: string): number => (B64_RE.test(s) && s.length % 4 === 0 ? Buffer.from(s, 'base64').length : -1)

/** Parses and shape-checks one frame body (no signature check: see verifyLegacyMessage). */
export function decodeLegacyMessage(body: Uint8Array): LegacyEnvelope {
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body)
  } catch {
    throw new LegacyWireError('legacy_utf8', 'legacy frame is not valid UTF-8')
  }
  let tree: JsonValue
  try {
    tree = parseLegacyJson(text)
  } catch (err) {
    throw new LegacyWireError('legacy_json', `legacy frame is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
  if (!tree || typeof tree !== 'object' || Array.isArray(tree) || tree instanceof JsonNumber || typeof tree === 'bigint') {
    throw new LegacyWireError('legacy_shape', 'legacy message must be a JSON object')
  }
  const o = tree as { [k: string]: JsonValue }
  const { type, payload, sender_id: senderId, timestamp, signature, nonce } = o
  if (typeof type !== 'string' || !TYPE_SET.has(type)) throw new LegacyWireError('legacy_type', `unknown legacy message type ${JSON.stringify(String(type)).slice(0, 40)}`)
  if (!payload || typeof payload !== 'object' || Array.isArray(payload) || payload instanceof JsonNumber) throw new LegacyWireError('legacy_shape', 'payload must be an object')
  if (typeof senderId !== 'string' || b64Len(senderId) !== 32) throw new LegacyWireError('legacy_shape', 'sender_id must be base64 of 32 bytes')
  if (typeof signature !== 'string' || b64Len(signature) !== 64) throw new LegacyWireError('legacy_shape', 'signature must be base64 of 64 bytes')
  if (typeof nonce !== 'string' || b64Len(nonce) < 8 || b64Len(nonce) > 64) throw new LegacyWireError('legacy_shape', 'nonce must be base64 of 8..64 bytes')
  if (!(timestamp instanceof JsonNumber) || !Number.isFinite(Number(timestamp.text))) throw new LegacyWireError('legacy_shape', 'timestamp must be a number')
  return {
    type, senderId, nonce, signature,
    payload: toPlain(payload) as Record<string, unknown>,
    timestamp: Number(timestamp.text),
    raw: o,
  }
}

/** Checks the Ed25519 signature of a decoded message against its sender_id. */
export function verifyLegacyMessage(m: LegacyEnvelope, verify: (pk: Uint8Array, sig: Uint8Array, msg: Uint8Array) => boolean): boolean {
  const bytes = legacySigningBytes({ type: m.raw.type, payload: m.raw.payload, sender_id: m.raw.sender_id, timestamp: m.raw.timestamp, nonce: m.raw.nonce })
  return verify(new Uint8Array(Buffer.from(m.senderId, 'base64')), new Uint8Array(Buffer.from(m.signature, 'base64')), bytes)
}

/** A frame over the cap that was skipped, not buffered: its declared length and its first and last bytes. */
export interface OversizeFrame { oversize: true; declared: number; head: Uint8Array; tail: Uint8Array }
/** Bytes kept from the start and the end of a skipped frame (enough for `type`, `request_id`, `nonce`). */
export const OVERSIZE_HEAD_BYTES = 4096
export const OVERSIZE_TAIL_BYTES = 1024

/**
 * Incremental frame splitter (sans-I/O). `push` returns complete frame bodies; a declared length over the cap (or
 * zero) throws before anything is allocated for it. With `skipUpTo` above the cap, `pushItems` skips a frame whose
 * declared length is over the cap but at most `skipUpTo` without buffering it (only its head and tail are kept) and
 * returns it as an OversizeFrame, so the connection can answer it with an error instead of dropping the link.
 */
export class LegacyFrameDecoder {
  #chunks: Buffer[] = []
  #buffered = 0
  /** Bytes of the frame being skipped that are still to come, and what is kept of it. */
  #skipLeft = 0
  #skip: { declared: number; head: Buffer[]; headLen: number; tail: Buffer } | undefined
  constructor(readonly maxFrame = LEGACY_MAX_FRAME, readonly skipUpTo = 0) {}

  get buffered(): number { return this.#buffered }

  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const item of this.pushItems(chunk)) {
      if (item instanceof Uint8Array) out.push(item)
      else throw new LegacyWireError('frame_too_large', `legacy frame declares ${item.declared} bytes, cap is ${this.maxFrame}`)
    }
    return out
  }

  pushItems(chunk: Uint8Array): Array<Uint8Array | OversizeFrame> {
    const out: Array<Uint8Array | OversizeFrame> = []
    let c = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    if (this.#skipLeft > 0) {
      c = this.#skipBytes(c, out)
      if (c.length === 0) return out
    }
    this.#chunks.push(c)
    this.#buffered += c.length
    for (;;) {
      if (this.#buffered < LEGACY_HEADER_BYTES) break
      const head = this.#peek(LEGACY_HEADER_BYTES)
      const len = head.readUInt32BE(0)
      if (len === 0) throw new LegacyWireError('legacy_empty_frame', 'empty legacy frame')
      if (len > this.maxFrame) {
        if (len > this.skipUpTo) throw new LegacyWireError('frame_too_large', `legacy frame declares ${len} bytes, cap is ${this.maxFrame}`)
        const rest = this.#take(this.#buffered).subarray(LEGACY_HEADER_BYTES)
        this.#skipLeft = len
        this.#skip = { declared: len, head: [], headLen: 0, tail: Buffer.alloc(0) }
        const after = this.#skipBytes(rest, out)
        if (after.length === 0) break
        this.#chunks = [after]
        this.#buffered = after.length
        continue
      }
      if (this.#buffered < LEGACY_HEADER_BYTES + len) break
      const all = this.#take(LEGACY_HEADER_BYTES + len)
      out.push(new Uint8Array(all.buffer, all.byteOffset + LEGACY_HEADER_BYTES, len))
    }
    return out
  }

  /** Consumes bytes of the frame being skipped; returns what follows it. */
  #skipBytes(c: Buffer, out: Array<Uint8Array | OversizeFrame>): Buffer {
    const s = this.#skip!
    const n = Math.min(c.length, this.#skipLeft)
    const part = c.subarray(0, n)
    if (s.headLen < OVERSIZE_HEAD_BYTES) {
      const h = Buffer.from(part.subarray(0, OVERSIZE_HEAD_BYTES - s.headLen))
      s.head.push(h)
      s.headLen += h.length
    }
    const t = Buffer.concat([s.tail, part.subarray(Math.max(0, part.length - OVERSIZE_TAIL_BYTES))])
    s.tail = Buffer.from(t.subarray(Math.max(0, t.length - OVERSIZE_TAIL_BYTES)))
    this.#skipLeft -= n
    if (this.#skipLeft === 0) {
      out.push({ oversize: true, declared: s.declared, head: Buffer.concat(s.head), tail: s.tail })
      this.#skip = undefined
    }
    return c.subarray(n)
  }

  #peek(n: number): Buffer {
    if (this.#chunks[0]!.length >= n) return this.#chunks[0]!
    const joined = Buffer.concat(this.#chunks)
    this.#chunks = [joined]
    return joined
  }

  #take(n: number): Buffer {
    const joined = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks)
    const out = Buffer.from(joined.subarray(0, n))
    const rest = joined.subarray(n)
    this.#chunks = rest.length > 0 ? [rest] : []
    this.#buffered -= n
    return out
  }
}
