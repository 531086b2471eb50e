/**
 * The network-parameters DHT record (docs/protocol/params.md): the governed values of the Params contract as one
 * publisher read them at one block, carried as the value of an ordinary signed DHT record (so the DHT signature
 * binds it to the publishing node) under the well-known key SHA-1("zeone/params/v1/<chainId>").
 * Pure codec: strict, bounded before anything is allocated, and deterministic (the same snapshot always encodes to
 * the same bytes, so honest publishers that read the same block agree byte for byte on the `digest`).
 */
import { sha1, sha256 } from '../../crypto/hash.js'
import { decode, encode, type CborValue } from '../../wire/cbor.js'
import { PARAM_NAMES, type GovernedParams } from './param-names.js'

export const PARAMS_RECORD_VERSION = 1
/** Largest params record value accepted (a full record with 64 models is ~2.6 KiB). */
export const MAX_PARAMS_RECORD_BYTES = 4096
/** Largest model whitelist a record carries. */
export const MAX_MODELS = 64
/** Params values are uint208 on chain: at most 26 bytes. */
const MAX_VALUE_BYTES = 26

const enc = new TextEncoder()

/** The DHT key every publisher of one chain stores its params record under. */
export const paramsKey = (chainId: number): Uint8Array => sha1(enc.encode(`zeone/params/v1/${chainId}`))

/** What the publisher read: the values in force at block `blockNumber` (hash `blockHash`). */
export interface ParamsSnapshot {
  chainId: number
  /** The Params contract (20 bytes). */
  params: Uint8Array
  blockNumber: number
  blockHash: Uint8Array
  /** Block timestamp, seconds. */
  blockTime: number
  values: GovernedParams
  /** keccak256 of whitelisted model ids, sorted ascending, unique. */
  models: Uint8Array[]
}

/**
 * The publisher's own stake as it read it: verifiable only with chain access (a node with an RPC endpoint checks
 * Staking.stakeOf(evm) and the SettlementEscrow binding); a follower without one can only see that it is claimed.
 */
export interface StakeClaim { evm: Uint8Array; stakeWei: bigint }

export interface ParamsRecord { snapshot: ParamsSnapshot; claim?: StakeClaim }

export class ParamsRecordError extends Error {
  override readonly name = 'ParamsRecordError'
}
const fail = (msg: string): never => { throw new ParamsRecordError(msg) }

/** Minimal big-endian bytes of a non-negative bigint (0 -> empty). */
export function uintBytes(v: bigint): Uint8Array {
  if (v < 0n) fail('negative value')
  const hex = v === 0n ? '' : v.toString(16)
  return Uint8Array.from(Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex'))
}

function bytesUint(b: Uint8Array, what: string): bigint {
  if (b.byteLength > MAX_VALUE_BYTES) fail(`${what} exceeds ${MAX_VALUE_BYTES} bytes`)
  if (b.byteLength > 0 && b[0] === 0) fail(`${what} has a leading zero byte`)
  return b.byteLength === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`)
}

const compare = (a: Uint8Array, b: Uint8Array): number => Buffer.compare(a, b)

function snapshotCbor(s: ParamsSnapshot): CborValue {
  return {
    c: s.chainId, a: s.params, n: s.blockNumber, h: s.blockHash, t: s.blockTime,
    p: PARAM_NAMES.map((n) => uintBytes(s.values[n])), m: s.models,
  }
}

/** What agreeing publishers must have in common: everything they read, nothing about themselves. */
export function snapshotDigest(s: ParamsSnapshot): string {
  return Buffer.from(sha256(encode(snapshotCbor(s)))).toString('hex')
}

export function encodeParamsRecord(r: ParamsRecord): Uint8Array {
  const models = [...r.snapshot.models].sort(compare)
  if (models.length > MAX_MODELS) fail(`more than ${MAX_MODELS} whitelisted models`)
  const o: Record<string, CborValue> = { v: PARAMS_RECORD_VERSION, ...(snapshotCbor({ ...r.snapshot, models }) as Record<string, CborValue>) }
  if (r.claim) o.s = { e: r.claim.evm, w: uintBytes(r.claim.stakeWei) }
  const out = encode(o)
  if (out.byteLength > MAX_PARAMS_RECORD_BYTES) fail(`params record exceeds ${MAX_PARAMS_RECORD_BYTES} bytes`)
  return out
}

function asMap(v: unknown, what: string, allowed: readonly string[], required: readonly string[]): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || v instanceof Map) fail(`${what} must be a map`)
  const m = v as Record<string, unknown>
  for (const k of Object.keys(m)) if (!allowed.includes(k)) fail(`${what} has unknown field ${k}`)
  for (const k of required) if (m[k] === undefined) fail(`${what} lacks field ${k}`)
  return m
}
function bytes(v: unknown, what: string, min: number, max: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.byteLength < min || v.byteLength > max) fail(`${what} must be ${min}..${max} bytes`)
  return v as Uint8Array
}
function uint(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${what} must be an unsigned safe integer`)
  return v as number
}

/** Strict decode: bounded size, known fields only, canonical encoding (re-encodes to the same bytes). */
export function decodeParamsRecord(value: Uint8Array): ParamsRecord {
  if (value.byteLength > MAX_PARAMS_RECORD_BYTES) fail(`params record exceeds ${MAX_PARAMS_RECORD_BYTES} bytes`)
  let raw: unknown
  try { raw = decode(value, { maxDepth: 4, maxItems: MAX_MODELS, maxStringBytes: 64 }) } catch (err) { fail(`params record: ${(err as Error).message}`) }
  const m = asMap(raw, 'params record', ['v', 'c', 'a', 'n', 'h', 't', 'p', 'm', 's'], ['v', 'c', 'a', 'n', 'h', 't', 'p', 'm'])
  if (m.v !== PARAMS_RECORD_VERSION) fail(`params record version ${String(m.v)} is not ${PARAMS_RECORD_VERSION}`)
  if (!Array.isArray(m.p) || m.p.length !== PARAM_NAMES.length) fail(`params record needs exactly ${PARAM_NAMES.length} values`)
  if (!Array.isArray(m.m) || m.m.length > MAX_MODELS) fail(`params record models must be an array of <= ${MAX_MODELS}`)
  const values = {} as GovernedParams
  PARAM_NAMES.forEach((n, i) => { values[n] = bytesUint(bytes((m.p as unknown[])[i], `value ${n}`, 0, MAX_VALUE_BYTES), `value ${n}`) })
  const models = (m.m as unknown[]).map((x, i) => bytes(x, `model ${i}`, 32, 32))
  for (let i = 1; i < models.length; i++) if (compare(models[i - 1]!, models[i]!) >= 0) fail('models must be sorted and unique')
  const snapshot: ParamsSnapshot = {
    chainId: uint(m.c, 'chain id'), params: bytes(m.a, 'params address', 20, 20), blockNumber: uint(m.n, 'block number'),
    blockHash: bytes(m.h, 'block hash', 32, 32), blockTime: uint(m.t, 'block time'), values, models,
  }
  const out: ParamsRecord = { snapshot }
  if (m.s !== undefined) {
    const s = asMap(m.s, 'stake claim', ['e', 'w'], ['e', 'w'])
    out.claim = { evm: bytes(s.e, 'claim address', 20, 20), stakeWei: bytesUint(bytes(s.w, 'claim stake', 0, 32), 'claim stake') }
  }
  // canonical: a second encoding of the same content (e.g. a value with a leading zero) would dodge agreement
  if (Buffer.compare(encodeParamsRecord(out), value) !== 0) fail('params record is not canonically encoded')
  return out
}
