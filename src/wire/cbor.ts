/**
 * Deterministic CBOR (RFC 8949 §4.2.1, "core deterministic encoding") for every ZEONE payload.
 *
 * Encoding: shortest-form integer heads, definite lengths only, map keys sorted by the bytewise order of their
 * encodings, floats in the shortest of f16/f32/f64 that keeps the value. Decoding is strict: anything the encoder
 * would not have produced (non-shortest heads, indefinite lengths, unsorted or duplicate keys, trailing bytes,
 * unsupported tags or simple values) is refused, so a decoded value re-encodes to exactly the bytes that were signed.
 * Decoding is bounded: depth, items per container and string sizes are capped before anything is allocated.
 *
 * Value model: number (safe integers and floats), bigint (integers outside the safe range, up to 64 bits),
 * string, Uint8Array, boolean, null, undefined, arrays, and maps as plain objects with string keys or `Map`s
 * with integer or string keys.
 */
import { InvalidInputError } from '../util/errors.js'

export type CborValue =
  | number | bigint | string | boolean | null | undefined | Uint8Array
  | CborValue[] | { [key: string]: CborValue } | Map<number | string, CborValue>

export class CborError extends InvalidInputError {
  override readonly name = 'CborError' as 'InvalidInputError'
  constructor(message: string) { super('cbor', message) }
}

export interface DecodeLimits {
  /** Maximum nesting depth. @default 16 */
  maxDepth?: number
  /** Maximum items in one array or map. @default 65536 */
  maxItems?: number
  /** Maximum bytes in one byte or text string. @default 16 MiB */
  maxStringBytes?: number
  /** Decode maps as `Map` (needed for integer keys) instead of plain objects. @default false */
  mapsAsMap?: boolean
}

const MAX_U64 = (1n << 64n) - 1n
const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })
/** Decoded byte strings up to this size are copies, larger ones views of the input (when it is a Buffer). */
const SMALL_BYTES_COPIED = 4096

class Writer {
  buf = new Uint8Array(256)
  view = new DataView(this.buf.buffer)
  len = 0
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.len + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.len))
    this.buf = next
    this.view = new DataView(next.buffer)
  }
  byte(b: number): void { this.ensure(1); this.buf[this.len++] = b }
  bytes(b: Uint8Array): void { this.ensure(b.length); this.buf.set(b, this.len); this.len += b.length }
  head(major: number, n: number | bigint): void {
    const m = major << 5
    if (typeof n === 'bigint') {
      if (n <= 0xffffffffn) return this.head(major, Number(n))
      if (n > MAX_U64) throw new CborError('integer out of 64-bit range')
      this.ensure(9); this.buf[this.len++] = m | 27
      this.view.setBigUint64(this.len, n); this.len += 8
      return
    }
    if (n < 24) this.byte(m | n)
    else if (n < 0x100) { this.ensure(2); this.buf[this.len++] = m | 24; this.buf[this.len++] = n }
    else if (n < 0x10000) { this.ensure(3); this.buf[this.len++] = m | 25; this.view.setUint16(this.len, n); this.len += 2 }
    else if (n < 0x100000000) { this.ensure(5); this.buf[this.len++] = m | 26; this.view.setUint32(this.len, n); this.len += 4 }
    else { this.ensure(9); this.buf[this.len++] = m | 27; this.view.setBigUint64(this.len, BigInt(n)); this.len += 8 }
  }
}

export function encode(value: CborValue): Uint8Array {
  const w = new Writer()
  encodeInto(w, value, 0)
  return w.buf.slice(0, w.len)
}

function encodeInto(w: Writer, v: CborValue, depth: number): void {
  if (depth > 64) throw new CborError('value nested too deeply')
  switch (typeof v) {
    case 'number':
      if (Number.isInteger(v) && Number.isSafeInteger(v)) return v >= 0 ? w.head(0, v) : w.head(1, -1 - v)
      return encodeFloat(w, v)
    case 'bigint':
      if (v >= 0n) return w.head(0, v)
      return w.head(1, -1n - v)
    case 'string': {
      const b = textEncoder.encode(v)
      w.head(3, b.length); w.bytes(b); return
    }
    case 'boolean': return w.byte(v ? 0xf5 : 0xf4)
    case 'undefined': return w.byte(0xf7)
    case 'object': {
      if (v === null) return w.byte(0xf6)
      if (v instanceof Uint8Array) { w.head(2, v.length); w.bytes(v); return }
      if (Array.isArray(v)) {
        w.head(4, v.length)
        for (const item of v) encodeInto(w, item, depth + 1)
        return
      }
      const entries: Array<[Uint8Array, CborValue]> = []
      if (v instanceof Map) {
        for (const [k, val] of v) entries.push([encodeKey(k), val])
      } else {
        for (const k of Object.keys(v)) {
          const val = (v as Record<string, CborValue>)[k]
          if (val === undefined) continue // absent optional fields are omitted, not encoded as undefined
          entries.push([encodeKey(k), val])
        }
      }
      entries.sort((a, b) => compareKeys(a[0], b[0]))
      for (let i = 1; i < entries.length; i++) {
        if (compareKeys(entries[i - 1]![0], entries[i]![0]) === 0) throw new CborError('duplicate map key')
      }
      w.head(5, entries.length)
      for (const [k, val] of entries) { w.bytes(k); encodeInto(w, val, depth + 1) }
      return
    }
    default:
      throw new CborError(`cannot encode ${typeof v}`)
  }
}

function encodeKey(k: number | string): Uint8Array {
  if (typeof k !== 'string' && !(typeof k === 'number' && Number.isSafeInteger(k))) throw new CborError('map keys must be strings or safe integers')
  return encode(k)
}

function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

function encodeFloat(w: Writer, v: number): void {
  const h = toHalf(v)
  if (h !== undefined) { w.ensure(3); w.buf[w.len++] = 0xf9; w.view.setUint16(w.len, h); w.len += 2; return }
  if (Number.isNaN(v) || Math.fround(v) === v) { w.ensure(5); w.buf[w.len++] = 0xfa; w.view.setFloat32(w.len, v); w.len += 4; return }
  w.ensure(9); w.buf[w.len++] = 0xfb; w.view.setFloat64(w.len, v); w.len += 8
}

/** Returns the IEEE 754 half-precision bits of `v` if the conversion is exact, else undefined. */
function toHalf(v: number): number | undefined {
  if (Number.isNaN(v)) return 0x7e00
  if (v === Infinity) return 0x7c00
  if (v === -Infinity) return 0xfc00
  if (Object.is(v, -0)) return 0x8000
  if (v === 0) return 0
  const sign = v < 0 ? 0x8000 : 0
  const a = Math.abs(v)
  const exp = Math.floor(Math.log2(a))
  if (exp > 15 || exp < -24) return undefined
  if (exp >= -14) {
    const mant = a / 2 ** exp - 1
    const m = mant * 1024
    if (!Number.isInteger(m)) return undefined
    return sign | ((exp + 15) << 10) | m
  }
  const m = a / 2 ** -24
  if (!Number.isInteger(m)) return undefined
  return sign | m
}

function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >> 10) & 0x1f
  const mant = h & 0x3ff
  if (exp === 0) return sign * mant * 2 ** -24
  if (exp === 31) return mant ? NaN : sign * Infinity
  return sign * (1 + mant / 1024) * 2 ** (exp - 15)
}

export function decode(bytes: Uint8Array, limits: DecodeLimits = {}): CborValue {
  const r = new Reader(bytes, limits)
  const v = r.value(0)
  if (r.pos !== bytes.length) throw new CborError(`${bytes.length - r.pos} trailing bytes after CBOR value`)
  return v
}

class Reader {
  pos = 0
  readonly view: DataView
  readonly maxDepth: number
  readonly maxItems: number
  readonly maxString: number
  readonly mapsAsMap: boolean
  constructor(readonly b: Uint8Array, l: DecodeLimits) {
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength)
    this.maxDepth = l.maxDepth ?? 16
    this.maxItems = l.maxItems ?? 65536
    this.maxString = l.maxStringBytes ?? 16 * 1024 * 1024
    this.mapsAsMap = l.mapsAsMap ?? false
  }
  need(n: number): void {
    if (this.pos + n > this.b.length) throw new CborError('truncated CBOR input')
  }
  /** Reads an argument and checks it is in shortest form. */
  arg(info: number): number | bigint {
    if (info < 24) return info
    switch (info) {
      case 24: { this.need(1); const v = this.b[this.pos++]!; if (v < 24) throw new CborError('non-canonical integer head'); return v }
      case 25: { this.need(2); const v = this.view.getUint16(this.pos); this.pos += 2; if (v < 0x100) throw new CborError('non-canonical integer head'); return v }
      case 26: { this.need(4); const v = this.view.getUint32(this.pos); this.pos += 4; if (v < 0x10000) throw new CborError('non-canonical integer head'); return v }
      case 27: {
        this.need(8); const v = this.view.getBigUint64(this.pos); this.pos += 8
        if (v < 0x100000000n) throw new CborError('non-canonical integer head')
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
      }
      default: throw new CborError(info === 31 ? 'indefinite lengths are not allowed' : 'reserved additional info')
    }
  }
  length(info: number, max: number, what: string): number {
    const n = this.arg(info)
    if (typeof n === 'bigint' || n > max) throw new CborError(`${what} length ${n} exceeds limit ${max}`)
    return n
  }
  value(depth: number): CborValue {
    if (depth > this.maxDepth) throw new CborError(`nesting deeper than ${this.maxDepth}`)
    this.need(1)
    const ib = this.b[this.pos++]!
    const major = ib >> 5
    const info = ib & 0x1f
    switch (major) {
      case 0: return this.arg(info)
      case 1: { const n = this.arg(info); return typeof n === 'bigint' ? -1n - n : (n >= Number.MAX_SAFE_INTEGER ? -1n - BigInt(n) : -1 - n) }
      case 2: {
        const n = this.length(info, this.maxString, 'byte string'); this.need(n)
        const start = this.pos
        this.pos += n
        if (!Buffer.isBuffer(this.b)) return this.b.slice(start, start + n) // Uint8Array.slice copies
        // A Buffer gives views; small ones (ids, keys, signatures) are copied so that one kept for long does not pin
        // the whole receive slab (up to 1 MiB, see transport/slab-reader.ts) it arrived in.
        return n <= SMALL_BYTES_COPIED ? Buffer.from(this.b.subarray(start, start + n)) : this.b.subarray(start, start + n)
      }
      case 3: {
        const n = this.length(info, this.maxString, 'text string'); this.need(n)
        let s: string
        try { s = textDecoder.decode(this.b.subarray(this.pos, this.pos + n)) } catch { throw new CborError('invalid UTF-8 in text string') }
        this.pos += n; return s
      }
      case 4: {
        const n = this.length(info, this.maxItems, 'array')
        // each item takes at least one byte: refuse counts the input cannot hold before allocating
        this.need(n)
        const out: CborValue[] = new Array(n)
        for (let i = 0; i < n; i++) out[i] = this.value(depth + 1)
        return out
      }
      case 5: {
        const n = this.length(info, this.maxItems, 'map')
        this.need(n * 2)
        const obj: Record<string, CborValue> = Object.create(null)
        const map = new Map<number | string, CborValue>()
        let prevKey: Uint8Array | undefined
        for (let i = 0; i < n; i++) {
          const kStart = this.pos
          const k = this.value(depth + 1)
          const kBytes = this.b.subarray(kStart, this.pos)
          if (typeof k !== 'string' && typeof k !== 'number') throw new CborError('map keys must be strings or integers')
          if (prevKey && compareKeys(prevKey, kBytes) >= 0) throw new CborError('map keys not in canonical order or duplicated')
          prevKey = kBytes
          const val = this.value(depth + 1)
          if (this.mapsAsMap) map.set(k, val)
          else {
            if (typeof k !== 'string') throw new CborError('integer map keys need mapsAsMap')
            obj[k] = val
          }
        }
        return this.mapsAsMap ? map : { ...obj }
      }
      case 6: throw new CborError('CBOR tags are not allowed')
      default: {
        switch (info) {
          case 20: return false
          case 21: return true
          case 22: return null
          case 23: return undefined
          case 25: {
            this.need(2); const h = this.view.getUint16(this.pos); this.pos += 2
            return fromHalf(h)
          }
          case 26: {
            this.need(4); const v = this.view.getFloat32(this.pos); this.pos += 4
            if (toHalf(v) !== undefined) throw new CborError('non-canonical float')
            return v
          }
          case 27: {
            this.need(8); const v = this.view.getFloat64(this.pos); this.pos += 8
            if (Number.isNaN(v) || Math.fround(v) === v) throw new CborError('non-canonical float')
            return v
          }
          default: throw new CborError(`unsupported simple value ${info}`)
        }
      }
    }
  }
}
