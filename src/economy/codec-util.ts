/** Strict field readers for decoded CBOR maps (economy payloads). Every failure is an EconomyProtocolError. */
import type { CborValue } from '../wire/cbor.js'
import { EconomyProtocolError } from './errors.js'

export type CborMap = Record<string, CborValue>

const MAX_U64 = (1n << 64n) - 1n
/** Amounts, counters and serials stop at 2^63-1: what the ledger (SQLite INTEGER) holds. */
export const MAX_AMOUNT = (1n << 63n) - 1n

export function asMap(v: CborValue, what: string): CborMap {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array || Array.isArray(v) || v instanceof Map) {
    throw new EconomyProtocolError('bad_payload', `${what} must be a CBOR map`)
  }
  return v as CborMap
}

/** Refuses keys outside `allowed` and requires every key in `required`. */
export function checkKeys(m: CborMap, required: readonly string[], optional: readonly string[], what: string): void {
  for (const k of Object.keys(m)) {
    if (!required.includes(k) && !optional.includes(k)) throw new EconomyProtocolError('bad_payload', `${what}: unknown field ${k}`)
  }
  for (const k of required) if (!(k in m)) throw new EconomyProtocolError('bad_payload', `${what}: missing field ${k}`)
}

export function uint(m: CborMap, k: string, what: string): bigint {
  const v = m[k]
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v)
  if (typeof v === 'bigint' && v >= 0n && v <= MAX_U64) return v
  throw new EconomyProtocolError('bad_payload', `${what}: ${k} must be an unsigned integer`)
}

/** An unsigned integer the ledger can hold (≤ 2^63-1): every amount, counter and serial a peer sends. */
export function amount(m: CborMap, k: string, what: string): bigint {
  const v = uint(m, k, what)
  if (v > MAX_AMOUNT) throw new EconomyProtocolError('bad_payload', `${what}: ${k} ${v} exceeds 2^63-1`)
  return v
}

export function bytes(m: CborMap, k: string, len: number, what: string): Uint8Array {
  const v = m[k]
  if (!(v instanceof Uint8Array) || v.byteLength !== len) throw new EconomyProtocolError('bad_payload', `${what}: ${k} must be ${len} bytes`)
  return v
}

/** Encodes a bigint as the smallest CBOR integer value (number when safe, so round trips compare equal). */
export function cborUint(v: bigint): number | bigint {
  if (v < 0n || v > MAX_U64) throw new RangeError('amount out of uint64 range')
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
}
