/**
 * Signed DHT records (docs/protocol/dht.md §Records). A value record binds key, value, sequence number and expiry
 * under the publisher's Ed25519 signature; a provider record binds key, addresses, metadata and expiry. Replicas keep
 * the signed expiry, so only the publisher can extend a record's life.
 */
import { verify } from '../crypto/sign.js'
import type { Endpoint } from '../interfaces/link.js'
import { encode, type CborValue } from '../wire/cbor.js'
import { DhtInvalidError } from './errors.js'
import { ID_BYTES } from './id.js'

export const RECORD_DOMAIN = 'zeone/dht/record/v1'
export const PROVIDER_DOMAIN = 'zeone/dht/provider/v1'
export const MAX_PROVIDER_ADDRS = 4
export const MAX_PROVIDER_DATA = 1024
export const MAX_HOST_CHARS = 253

export interface SignedRecord {
  key: Uint8Array
  value: Uint8Array
  seq: number
  /** Unix ms */
  expires: number
  publisher: Uint8Array
  sig: Uint8Array
}

export interface SignedProvider {
  key: Uint8Array
  publisher: Uint8Array
  addrs: Endpoint[]
  data?: Uint8Array
  expires: number
  sig: Uint8Array
}

export interface Signer {
  readonly publicKey: Uint8Array
  sign(...parts: Uint8Array[]): Uint8Array
}

export function recordSigningBytes(key: Uint8Array, value: Uint8Array, seq: number, expires: number): Uint8Array {
  return encode([RECORD_DOMAIN, key, value, seq, expires])
}

export function providerSigningBytes(key: Uint8Array, addrs: Endpoint[], data: Uint8Array | undefined, expires: number): Uint8Array {
  return encode([PROVIDER_DOMAIN, key, addrs.map((a) => [a.host, a.port]), data ?? new Uint8Array(0), expires])
}

export function signRecord(signer: Signer, key: Uint8Array, value: Uint8Array, seq: number, expires: number): SignedRecord {
  return { key, value, seq, expires, publisher: signer.publicKey, sig: signer.sign(recordSigningBytes(key, value, seq, expires)) }
}

export function signProvider(signer: Signer, key: Uint8Array, addrs: Endpoint[], data: Uint8Array | undefined, expires: number): SignedProvider {
  const p: SignedProvider = { key, publisher: signer.publicKey, addrs, expires, sig: signer.sign(providerSigningBytes(key, addrs, data, expires)) }
  if (data !== undefined) p.data = data
  return p
}

export function verifyRecord(r: SignedRecord): boolean {
  return verify(r.publisher, r.sig, recordSigningBytes(r.key, r.value, r.seq, r.expires))
}

export function verifyProvider(p: SignedProvider): boolean {
  return verify(p.publisher, p.sig, providerSigningBytes(p.key, p.addrs, p.data, p.expires))
}

export function recordToCbor(r: SignedRecord): CborValue {
  return { k: r.key, v: r.value, s: r.seq, e: r.expires, p: r.publisher, g: r.sig }
}

export function providerToCbor(p: SignedProvider): CborValue {
  const o: Record<string, CborValue> = { k: p.key, p: p.publisher, a: p.addrs.map((a) => [a.host, a.port]), e: p.expires, g: p.sig }
  if (p.data !== undefined) o.d = p.data
  return o
}

// ---- strict field readers shared with messages.ts ----

export function fail(msg: string): never { throw new DhtInvalidError('bad_message', msg) }

export function asMap(v: unknown, what: string, allowed: readonly string[]): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || v instanceof Map) fail(`${what} must be a map`)
  for (const k of Object.keys(v)) if (!allowed.includes(k)) fail(`${what} has unknown field ${k}`)
  return v as Record<string, unknown>
}

export function bytesField(v: unknown, what: string, min: number, max: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.byteLength < min || v.byteLength > max) fail(`${what} must be ${min}..${max} bytes`)
  return v
}

export function uintField(v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) fail(`${what} must be an unsigned integer <= ${max}`)
  return v
}

export function endpointField(v: unknown, what: string): Endpoint {
  if (!Array.isArray(v) || v.length !== 2) fail(`${what} must be [host, port]`)
  const [host, port] = v as unknown[]
  if (typeof host !== 'string' || host.length === 0 || host.length > MAX_HOST_CHARS || /[\s/]/.test(host)) fail(`${what} host invalid`)
  return { host, port: uintField(port, `${what} port`, 65535) }
}

export function recordFromCbor(v: unknown, maxValue: number): SignedRecord {
  const m = asMap(v, 'record', ['k', 'v', 's', 'e', 'p', 'g'])
  return {
    key: bytesField(m.k, 'record key', ID_BYTES, ID_BYTES),
    value: bytesField(m.v, 'record value', 0, maxValue),
    seq: uintField(m.s, 'record seq'),
    expires: uintField(m.e, 'record expiry'),
    publisher: bytesField(m.p, 'record publisher', 32, 32),
    sig: bytesField(m.g, 'record signature', 64, 64),
  }
}

export function providerFromCbor(v: unknown): SignedProvider {
  const m = asMap(v, 'provider', ['k', 'p', 'a', 'd', 'e', 'g'])
  if (!Array.isArray(m.a) || m.a.length > MAX_PROVIDER_ADDRS) fail(`provider addrs must be an array of <= ${MAX_PROVIDER_ADDRS}`)
  const p: SignedProvider = {
    key: bytesField(m.k, 'provider key', ID_BYTES, ID_BYTES),
    publisher: bytesField(m.p, 'provider publisher', 32, 32),
    addrs: (m.a as unknown[]).map((a, i) => endpointField(a, `provider addr ${i}`)),
    expires: uintField(m.e, 'provider expiry'),
    sig: bytesField(m.g, 'provider signature', 64, 64),
  }
  if (m.d !== undefined) p.data = bytesField(m.d, 'provider data', 0, MAX_PROVIDER_DATA)
  return p
}

/** Picks the winner among values for one key: highest seq, then latest expiry, then publisher order. */
export function newestRecord(records: readonly SignedRecord[]): SignedRecord | undefined {
  let best: SignedRecord | undefined
  for (const r of records) {
    if (!best || r.seq > best.seq || (r.seq === best.seq && r.expires > best.expires)) best = r
  }
  return best
}
