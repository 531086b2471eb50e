/**
 * BALANCE_CLAIM (0x51) and BALANCE_ACK (0x52) payloads, docs/protocol/economy.md §3. Both are deterministic CBOR
 * maps signed (Ed25519) by their author over a domain string || CBOR(map without sig), so a statement is
 * non-repudiable even on v2 links that carry no per-frame signature.
 */
import { sha256 } from '../crypto/hash.js'
import { verify } from '../crypto/sign.js'
import { decode, encode } from '../wire/cbor.js'
import { amount, asMap, bytes, checkKeys, cborUint, uint, type CborMap } from './codec-util.js'
import type { ChequeSigner } from './cheque.js'
import { MAX_CHEQUE_BYTES } from './cheque.js'
import { EconomyProtocolError } from './errors.js'

const te = new TextEncoder()
export const CLAIM_DOMAIN = te.encode('ZEONE-BALANCE-CLAIM-v1')
export const ACK_DOMAIN = te.encode('ZEONE-BALANCE-ACK-v1')
export const MAX_CLAIM_BYTES = 1024
export const MAX_ACK_BYTES = 512

/** The claimant's cumulative view of the relationship from -> to. */
export interface BalanceClaim {
  from: Uint8Array
  to: Uint8Array
  seq: bigint
  /** Credits `from` says it delivered to `to` (what `to` should have metered as consumed). */
  served: bigint
  /** Credits `from` metered as delivered by `to` (informative). */
  consumed: bigint
  /** Cumulative service charges `from` billed `to` (omitted on the wire when 0). */
  charged: bigint
  /** Cumulative amount of the latest cheque `from` gave `to` (informative). */
  paidOut: bigint
  /** Unix ms. */
  ts: bigint
  /** The latest cheque from -> to, so a creditor that lost it in a crash catches up. */
  cheque?: Uint8Array
  sig: Uint8Array
}

export const ACK_OK = 0
export const ACK_DIVERGED = 1

/** The attester's answer: what it metered as consumed from the claimant when the claim arrived. */
export interface BalanceAck {
  from: Uint8Array
  to: Uint8Array
  seq: bigint
  /** SHA-256 of the claim payload this answers. */
  claim: Uint8Array
  /** Credits `from` metered as consumed from `to` (the receiver's count, authoritative for delivered data). */
  attested: bigint
  /** Cumulative amount of the latest cheque `from` holds from `to`. */
  paidIn: bigint
  status: number
  ts: bigint
  sig: Uint8Array
}

function signed(domain: Uint8Array, m: CborMap): Uint8Array {
  const b = encode(m)
  const out = new Uint8Array(domain.length + b.length)
  out.set(domain); out.set(b, domain.length)
  return out
}

function claimBody(c: Omit<BalanceClaim, 'sig'>): CborMap {
  const m: CborMap = { v: 1, from: c.from, to: c.to, seq: cborUint(c.seq), served: cborUint(c.served), consumed: cborUint(c.consumed), paidOut: cborUint(c.paidOut), ts: cborUint(c.ts) }
  if (c.charged > 0n) m.charged = cborUint(c.charged)
  if (c.cheque) m.cheque = c.cheque
  return m
}

function ackBody(a: Omit<BalanceAck, 'sig'>): CborMap {
  return { v: 1, from: a.from, to: a.to, seq: cborUint(a.seq), claim: a.claim, attested: cborUint(a.attested), paidIn: cborUint(a.paidIn), status: a.status, ts: cborUint(a.ts) }
}

export function encodeClaim(signer: ChequeSigner, c: Omit<BalanceClaim, 'sig' | 'from' | 'charged'> & { charged?: bigint }): Uint8Array {
  const body = claimBody({ ...c, charged: c.charged ?? 0n, from: signer.publicKey })
  return encode({ ...body, sig: signer.sign(signed(CLAIM_DOMAIN, body)) })
}

export function encodeAck(signer: ChequeSigner, a: Omit<BalanceAck, 'sig' | 'from'>): Uint8Array {
  const body = ackBody({ ...a, from: signer.publicKey })
  return encode({ ...body, sig: signer.sign(signed(ACK_DOMAIN, body)) })
}

function decodeMap(b: Uint8Array, max: number, what: string): CborMap {
  if (b.byteLength > max) throw new EconomyProtocolError('bad_payload', `${what} of ${b.byteLength} bytes exceeds ${max}`)
  try {
    return asMap(decode(b, { maxDepth: 1, maxItems: 16, maxStringBytes: MAX_CHEQUE_BYTES }), what)
  } catch (err) {
    if (err instanceof EconomyProtocolError) throw err
    throw new EconomyProtocolError('bad_payload', `malformed ${what}: ${(err as Error).message}`, { cause: err })
  }
}

/** Decodes and verifies a claim; throws EconomyProtocolError (bad_payload, bad_signature). */
export function decodeClaim(b: Uint8Array): BalanceClaim {
  const m = decodeMap(b, MAX_CLAIM_BYTES, 'balance claim')
  checkKeys(m, ['v', 'from', 'to', 'seq', 'served', 'consumed', 'paidOut', 'ts', 'sig'], ['cheque', 'charged'], 'balance claim')
  if (m.v !== 1) throw new EconomyProtocolError('bad_payload', 'unsupported balance claim version')
  const c: BalanceClaim = {
    from: bytes(m, 'from', 32, 'claim'), to: bytes(m, 'to', 32, 'claim'), seq: amount(m, 'seq', 'claim'),
    served: amount(m, 'served', 'claim'), consumed: amount(m, 'consumed', 'claim'), paidOut: amount(m, 'paidOut', 'claim'),
    ts: uint(m, 'ts', 'claim'), sig: bytes(m, 'sig', 64, 'claim'), charged: 0n,
  }
  if (m.charged !== undefined) {
    c.charged = amount(m, 'charged', 'claim')
    if (c.charged === 0n) throw new EconomyProtocolError('bad_payload', 'claim: charged 0 must be omitted')
  }
  if (m.cheque !== undefined) {
    if (!(m.cheque instanceof Uint8Array)) throw new EconomyProtocolError('bad_payload', 'claim: cheque must be bytes')
    c.cheque = m.cheque
  }
  if (!verify(c.from, c.sig, signed(CLAIM_DOMAIN, claimBody(c)))) throw new EconomyProtocolError('bad_signature', 'balance claim signature does not verify')
  return c
}

export function decodeAck(b: Uint8Array): BalanceAck {
  const m = decodeMap(b, MAX_ACK_BYTES, 'balance ack')
  checkKeys(m, ['v', 'from', 'to', 'seq', 'claim', 'attested', 'paidIn', 'status', 'ts', 'sig'], [], 'balance ack')
  if (m.v !== 1) throw new EconomyProtocolError('bad_payload', 'unsupported balance ack version')
  const status = m.status
  if (status !== ACK_OK && status !== ACK_DIVERGED) throw new EconomyProtocolError('bad_payload', 'ack: bad status')
  const a: BalanceAck = {
    from: bytes(m, 'from', 32, 'ack'), to: bytes(m, 'to', 32, 'ack'), seq: amount(m, 'seq', 'ack'), claim: bytes(m, 'claim', 32, 'ack'),
    attested: amount(m, 'attested', 'ack'), paidIn: amount(m, 'paidIn', 'ack'), status, ts: uint(m, 'ts', 'ack'), sig: bytes(m, 'sig', 64, 'ack'),
  }
  if (!verify(a.from, a.sig, signed(ACK_DOMAIN, ackBody(a)))) throw new EconomyProtocolError('bad_signature', 'balance ack signature does not verify')
  return a
}

export function claimHash(claimBytes: Uint8Array): Uint8Array { return sha256(claimBytes) }
