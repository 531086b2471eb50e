/**
 * Message schemas declared once (issue 23 item 4): `struct({node_id: bytes(32), host: text(1, 253), port: uint(65535)})`
 * yields a typed `decode` (CBOR bytes -> value, strict: unknown and missing keys, wrong types and sizes refused with the
 * field's path), an `encode` (value -> deterministic CBOR, the same checks first, so a node never sends what it would
 * refuse), and the CBOR decode limits the schema implies (depth, items, string bytes), applied before any allocation.
 * Layers wrap the thrown SchemaError in their own error type via `decodeWith(schema, bytes, toError)`.
 */
import { decode as decodeCbor, encode as encodeCbor, type CborValue, type DecodeLimits } from './cbor.js'
import { InvalidInputError } from '../util/errors.js'

/** A field or message failed its schema; `path` names it (`PEER_LIST.peers[3].host`). */
export class SchemaError extends InvalidInputError {
  override readonly name = 'SchemaError' as 'InvalidInputError'
  constructor(readonly path: string, reason: string) { super('bad_message', `${path}: ${reason}`) }
}

export interface Schema<T> {
  /** Checks a decoded CBOR value, returns the typed value. */
  read(v: CborValue | undefined, path: string): T
  /** Checks a value before encoding, returns its CBOR form. */
  write(v: T, path: string): CborValue
  /** Limits this schema needs from the CBOR decoder. */
  readonly limits: Required<Pick<DecodeLimits, 'maxDepth' | 'maxItems' | 'maxStringBytes'>>
  /** True when the key may be absent in a struct. */
  readonly optional?: boolean
}

export type Infer<S> = S extends Schema<infer T> ? T : never

const leaf = { maxDepth: 0, maxItems: 0, maxStringBytes: 0 }

const isMap = (v: unknown): v is Record<string, CborValue> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Map)

/** An unsigned safe integer up to `max`. */
export function uint(max = Number.MAX_SAFE_INTEGER, min = 0): Schema<number> {
  const check = (v: unknown, path: string): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new SchemaError(path, `expected an integer in ${min}..${max}`)
    return v
  }
  return { read: check, write: check, limits: leaf }
}

/** A byte string of exactly `len` bytes, or of `len`..`max` bytes when `max` is given. */
export function bytes(len: number, max?: number): Schema<Uint8Array> {
  const hi = max ?? len
  const check = (v: unknown, path: string): Uint8Array => {
    if (!(v instanceof Uint8Array) || v.byteLength < len || v.byteLength > hi) {
      throw new SchemaError(path, max === undefined ? `expected ${len} bytes` : `expected ${len}..${hi} bytes`)
    }
    return v
  }
  return { read: check, write: check, limits: { ...leaf, maxStringBytes: hi } }
}

/** A UTF-8 text of `min`..`max` bytes. */
export function text(min: number, max: number): Schema<string> {
  const check = (v: unknown, path: string): string => {
    if (typeof v !== 'string') throw new SchemaError(path, 'expected text')
    const n = Buffer.byteLength(v)
    if (n < min || n > max) throw new SchemaError(path, `expected ${min}..${max} bytes of text`)
    return v
  }
  return { read: check, write: check, limits: { ...leaf, maxStringBytes: max } }
}

export function bool(): Schema<boolean> {
  const check = (v: unknown, path: string): boolean => {
    if (typeof v !== 'boolean') throw new SchemaError(path, 'expected a boolean')
    return v
  }
  return { read: check, write: check, limits: leaf }
}

/** At most `max` items of `item`. */
export function list<T>(item: Schema<T>, max: number): Schema<T[]> {
  return {
    read(v, path) {
      if (!Array.isArray(v)) throw new SchemaError(path, 'expected a list')
      if (v.length > max) throw new SchemaError(path, `more than ${max} items`)
      return v.map((x, i) => item.read(x, `${path}[${i}]`))
    },
    write(v, path) {
      if (!Array.isArray(v) || v.length > max) throw new SchemaError(path, `expected a list of at most ${max}`)
      return v.map((x, i) => item.write(x, `${path}[${i}]`))
    },
    limits: { maxDepth: item.limits.maxDepth + 1, maxItems: Math.max(max, item.limits.maxItems), maxStringBytes: item.limits.maxStringBytes },
  }
}

/** A fixed-length CBOR array whose items have these schemas in order (a compact record: `[kind, host, port]`). */
export function tuple<T extends unknown[]>(...items: { [K in keyof T]: Schema<T[K]> }): Schema<T> {
  const subs = items as Schema<unknown>[]
  return {
    read(v, path) {
      if (!Array.isArray(v) || v.length !== subs.length) throw new SchemaError(path, `expected a list of ${subs.length}`)
      return subs.map((s, i) => s.read(v[i], `${path}[${i}]`)) as T
    },
    write(v, path) {
      if (!Array.isArray(v) || v.length !== subs.length) throw new SchemaError(path, `expected a list of ${subs.length}`)
      return subs.map((s, i) => s.write(v[i], `${path}[${i}]`))
    },
    limits: {
      maxDepth: 1 + Math.max(0, ...subs.map((s) => s.limits.maxDepth)),
      maxItems: Math.max(subs.length, ...subs.map((s) => s.limits.maxItems)),
      maxStringBytes: Math.max(0, ...subs.map((s) => s.limits.maxStringBytes)),
    },
  }
}

/** One of a closed set of texts (an enum on the wire). */
export function oneOf<const V extends string>(values: readonly V[]): Schema<V> {
  const check = (v: unknown, path: string): V => {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw new SchemaError(path, `expected one of ${values.join(', ')}`)
    return v as V
  }
  return { read: check, write: check, limits: { ...leaf, maxStringBytes: Math.max(...values.map((x) => Buffer.byteLength(x))) } }
}

/** `base` with an extra check on its value (`refine(text(1, 64), isHost, 'expected a host')`). */
export function refine<T>(base: Schema<T>, ok: (v: T) => boolean, reason: string): Schema<T> {
  const check = (x: T, path: string): T => { if (!ok(x)) throw new SchemaError(path, reason); return x }
  return {
    read: (v, path) => check(base.read(v, path), path),
    write: (v, path) => base.write(check(v, path), path),
    limits: base.limits,
  }
}

/** A struct key that may be absent (absent on the wire = undefined here; never encoded as null). */
export function optional<T>(s: Schema<T>): Schema<T | undefined> & { readonly optional: true } {
  return {
    read: (v, path) => (v === undefined ? undefined : s.read(v, path)),
    write: (v, path) => (v === undefined ? (undefined as unknown as CborValue) : s.write(v, path)),
    limits: s.limits,
    optional: true as const,
  }
}

type Fields = Record<string, Schema<unknown>>
type Out<F extends Fields> = { [K in keyof F as F[K]['optional'] extends true ? never : K]: Infer<F[K]> } &
  { [K in keyof F as F[K]['optional'] extends true ? K : never]?: Infer<F[K]> }

/** A CBOR map with exactly these keys (optional ones may be absent); unknown keys are refused. */
export function struct<F extends Fields>(fields: F): Schema<Out<F>> {
  const keys = Object.keys(fields)
  const sub = Object.values(fields)
  return {
    read(v, path) {
      if (!isMap(v)) throw new SchemaError(path, 'expected a map')
      for (const k of Object.keys(v)) if (!(k in fields)) throw new SchemaError(path, `unknown field '${k.slice(0, 32)}'`)
      const out: Record<string, unknown> = {}
      for (const k of keys) {
        const f = fields[k]!
        if (!(k in v) && !f.optional) throw new SchemaError(`${path}.${k}`, 'missing')
        const x = f.read(v[k], `${path}.${k}`)
        if (x !== undefined) out[k] = x
      }
      return out as Out<F>
    },
    write(v, path) {
      if (!isMap(v)) throw new SchemaError(path, 'expected an object')
      for (const k of Object.keys(v)) if (!(k in fields) && (v as Record<string, unknown>)[k] !== undefined) throw new SchemaError(path, `unknown field '${k}'`)
      const out: Record<string, CborValue> = {}
      for (const k of keys) {
        const x = (v as Record<string, unknown>)[k]
        if (x === undefined) { if (!fields[k]!.optional) throw new SchemaError(`${path}.${k}`, 'missing'); continue }
        out[k] = fields[k]!.write(x, `${path}.${k}`)
      }
      return out
    },
    limits: {
      maxDepth: 1 + Math.max(0, ...sub.map((s) => s.limits.maxDepth)),
      maxItems: Math.max(keys.length, ...sub.map((s) => s.limits.maxItems)),
      // a key is a text string too
      maxStringBytes: Math.max(...keys.map((k) => Buffer.byteLength(k)), ...sub.map((s) => s.limits.maxStringBytes)),
    },
  }
}

/** A named message: `decode` and `encode` over bytes with the schema's limits. */
export interface MessageCodec<T> {
  readonly name: string
  readonly schema: Schema<T>
  decode(b: Uint8Array): T
  encode(v: T): Uint8Array
}

export function message<T>(name: string, schema: Schema<T>): MessageCodec<T> {
  // one spare depth level and key slack: the decoder refuses deeper input before building it
  const limits: DecodeLimits = { maxDepth: schema.limits.maxDepth + 1, maxItems: Math.max(1, schema.limits.maxItems), maxStringBytes: Math.max(64, schema.limits.maxStringBytes) }
  return {
    name,
    schema,
    decode(b) {
      let v: CborValue
      try { v = decodeCbor(b, limits) } catch (err) { throw new SchemaError(name, `invalid CBOR (${(err as Error).message})`) }
      return schema.read(v, name)
    },
    encode: (v) => encodeCbor(schema.write(v, name)),
  }
}

/** Decodes with `codec`, turning a SchemaError into the layer's own error type. */
export function decodeWith<T>(codec: MessageCodec<T>, b: Uint8Array, toError: (e: SchemaError) => Error): T {
  try { return codec.decode(b) } catch (err) { throw err instanceof SchemaError ? toError(err) : err }
}
