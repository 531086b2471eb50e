/**
 * JSON for the legacy v0 wire, byte-compatible with Python's json module (docs/protocol/legacy.md).
 *
 * The parser is strict and bounded (depth, string and item counts are limited by the frame cap and `maxDepth`) and
 * keeps every number's text (`JsonNumber`), because v0 signatures cover Python's re-serialisation of the numbers it
 * parsed: int vs float survives (`1.0` stays `1.0`, `1e-05` stays `1e-05`), big integers stay exact, and a float is
 * written as Python's repr of it (text Python itself produced is unchanged).
 * `canonicalJson` writes Python's `json.dumps(v, sort_keys=True, separators=(',', ':'), ensure_ascii=True)`.
 */
import { InvalidInputError } from '../util/errors.js'

/** A number as it appeared on the wire. */
export class JsonNumber {
  constructor(readonly text: string) {}
  /** True when the text has no fraction or exponent (a Python int). */
  get isInteger(): boolean { return !/[.eE]/.test(this.text) }
  valueOf(): number { return Number(this.text) }
  toJSON(): number { return Number(this.text) }
}

export type JsonValue = null | boolean | string | number | bigint | JsonNumber | JsonValue[] | { [k: string]: JsonValue }

export class LegacyJsonError extends InvalidInputError {
  override readonly name = 'LegacyJsonError' as 'InvalidInputError'
  constructor(message: string) { super('legacy_json', message) }
}

export interface ParseOptions {
  /** @default 32 */
  maxDepth?: number
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d])
const NUMBER_RE = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y

/** Parses JSON text, keeping numbers as JsonNumber. Duplicate keys, NaN/Infinity and trailing data are refused. */
export function parseLegacyJson(text: string, opts: ParseOptions = {}): JsonValue {
  const maxDepth = opts.maxDepth ?? 32
  let i = 0
  const fail = (msg: string): never => { throw new LegacyJsonError(`${msg} at offset ${i}`) }
  const ws = (): void => { while (i < text.length && WS.has(text.charCodeAt(i))) i++ }
  const str = (): string => {
    i++ // opening quote
    let out = ''
    let start = i
    for (;;) {
      if (i >= text.length) fail('unterminated string')
      const c = text.charCodeAt(i)
      if (c === 0x22) { out += text.slice(start, i); i++; return out }
      if (c < 0x20) fail('control character in string')
      if (c !== 0x5c) { i++; continue }
      out += text.slice(start, i)
      const e = text[i + 1]
      i += 2
      switch (e) {
        case '"': out += '"'; break
        case '\\': out += '\\'; break
        case '/': out += '/'; break
        case 'b': out += '\b'; break
        case 'f': out += '\f'; break
        case 'n': out += '\n'; break
        case 'r': out += '\r'; break
        case 't': out += '\t'; break
        case 'u': {
          const hex = text.slice(i, i + 4)
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape')
          out += String.fromCharCode(parseInt(hex, 16))
          i += 4
          break
        }
        default: fail('bad escape')
      }
      start = i
    }
  }
  const value = (depth: number): JsonValue => {
    ws()
    if (i >= text.length) fail('unexpected end')
    const c = text[i]
    if (c === '{') {
      if (depth >= maxDepth) fail('nesting too deep')
      i++
      const obj: { [k: string]: JsonValue } = Object.create(null) as { [k: string]: JsonValue }
      ws()
      if (text[i] === '}') { i++; return obj }
      for (;;) {
        ws()
        if (text[i] !== '"') fail('expected a string key')
        const k = str()
        if (Object.prototype.hasOwnProperty.call(obj, k)) fail(`duplicate key '${k.slice(0, 32)}'`)
        ws()
        if (text[i] !== ':') fail("expected ':'")
        i++
        obj[k] = value(depth + 1)
        ws()
        if (text[i] === ',') { i++; continue }
        if (text[i] === '}') { i++; return obj }
        fail("expected ',' or '}'")
      }
    }
    if (c === '[') {
      if (depth >= maxDepth) fail('nesting too deep')
      i++
      const arr: JsonValue[] = []
      ws()
      if (text[i] === ']') { i++; return arr }
      for (;;) {
        arr.push(value(depth + 1))
        ws()
        if (text[i] === ',') { i++; continue }
        if (text[i] === ']') { i++; return arr }
        fail("expected ',' or ']'")
      }
    }
    if (c === '"') return str()
    if (text.startsWith('true', i)) { i += 4; return true }
    if (text.startsWith('false', i)) { i += 5; return false }
    if (text.startsWith('null', i)) { i += 4; return null }
    NUMBER_RE.lastIndex = i
    const m = NUMBER_RE.exec(text)
    if (!m || m[0].length === 0) return fail('unexpected character')
    i += m[0].length
    if (m[0].length > 400) fail('number too long')
    return new JsonNumber(m[0])
  }
  const v = value(0)
  ws()
  if (i !== text.length) fail('trailing data')
  return v
}

/** Python's float repr: shortest round-trip digits, exponent form below 1e-4 and from 1e16 up, always a '.0' or exponent. */
export function pyFloatRepr(x: number): string {
  if (!Number.isFinite(x)) throw new LegacyJsonError('NaN and Infinity are not sent on the legacy wire')
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0'
  const sign = x < 0 ? '-' : ''
  const [mant, expText] = Math.abs(x).toExponential().split('e') as [string, string]
  const digits = mant.replace('.', '')
  const e = Number(expText)
  if (e < -4 || e >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits
    const ae = Math.abs(e)
    return `${sign}${m}e${e < 0 ? '-' : '+'}${ae < 10 ? '0' : ''}${ae}`
  }
  if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${digits}`
  if (digits.length <= e + 1) return `${sign}${digits}${'0'.repeat(e + 1 - digits.length)}.0`
  return `${sign}${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`
}

/**
 * How Python re-writes a number it parsed: an integer lexeme stays an exact int (`-0` becomes `0`), a float lexeme
 * becomes `repr(float(text))` (`2.50` -> `2.5`, `1E5` -> `100000.0`); out-of-range floats are refused.
 */
export function pythonNumberText(n: JsonNumber): string {
  if (n.isInteger) return BigInt(n.text).toString()
  const x = Number(n.text)
  if (!Number.isFinite(x)) throw new LegacyJsonError(`number ${n.text.slice(0, 20)} is out of float range`)
  return pyFloatRepr(x)
}

/** A float we send: written the way Python writes a float (1.0, 1e-05). */
export function pyFloat(x: number): JsonNumber { return new JsonNumber(pyFloatRepr(x)) }

function escapeString(s: string): string {
  let out = '"'
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k)
    if (c === 0x22) out += '\\"'
    else if (c === 0x5c) out += '\\\\'
    else if (c >= 0x20 && c <= 0x7e) out += s[k]
    else if (c === 0x0a) out += '\\n'
    else if (c === 0x0d) out += '\\r'
    else if (c === 0x09) out += '\\t'
    else if (c === 0x08) out += '\\b'
    else if (c === 0x0c) out += '\\f'
    else out += `\\u${c.toString(16).padStart(4, '0')}`
  }
  return out + '"'
}

/** Python sorts str keys by code point (not UTF-16 unit). */
function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]()
  const ib = b[Symbol.iterator]()
  for (;;) {
    const x = ia.next()
    const y = ib.next()
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!
    if (d !== 0) return d
  }
}

function write(v: unknown, sortKeys: boolean, sep: [string, string]): string {
  if (v === null || v === undefined) return 'null'
  if (v === true) return 'true'
  if (v === false) return 'false'
  if (v instanceof JsonNumber) return pythonNumberText(v)
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) < 1e16 ? String(v) : pyFloatRepr(v)
  if (typeof v === 'string') return escapeString(v)
  if (Array.isArray(v)) return `[${v.map((x) => write(x, sortKeys, sep)).join(sep[0])}]`
  if (typeof v === 'object') {
    let keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined)
    if (sortKeys) keys = keys.sort(compareCodePoints)
    return `{${keys.map((k) => `${escapeString(k)}${sep[1]}${write((v as Record<string, unknown>)[k], sortKeys, sep)}`).join(sep[0])}}`
  }
  throw new LegacyJsonError(`cannot serialise ${typeof v}`)
}

/** Python `json.dumps(v, sort_keys=True, separators=(',', ':'))` (ensure_ascii). */
export function canonicalJson(v: unknown): string { return write(v, true, [',', ':']) }

/** Converts a parsed tree to plain JS values for handlers: safe integers and floats become numbers, larger integers bigints. */
export function toPlain(v: JsonValue): unknown {
  if (v instanceof JsonNumber) {
    if (v.isInteger) {
      const n = Number(v.text)
      return Number.isSafeInteger(n) ? n : BigInt(v.text)
    }
    return Number(v.text)
  }
  if (Array.isArray(v)) return v.map(toPlain)
  if (v && typeof v === 'object' && typeof v !== 'bigint') {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) out[k] = toPlain(x)
    return out
  }
  return v
}
