/**
 * Safetensors reader and writer (https://huggingface.co/docs/safetensors: `[u64 LE header length][JSON header][data]`).
 * The header length is bounded before anything is allocated, every tensor's offsets are checked against the file
 * and its dtype/shape, and tensors are read by byte range so a stage reads only its own layers.
 */
import { closeSync, fstatSync, openSync, readSync, writeFileSync } from 'node:fs'
import { ModelFormatError } from './errors.js'

/** Largest accepted JSON header (the format's own reference limit is 100 MB). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024
/** Largest tensor dimension count accepted. */
export const MAX_RANK = 8

export type SafeDtype = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8' | 'I8'
export const DTYPE_BYTES: Record<SafeDtype, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1, I8: 1 }

export interface TensorInfo {
  name: string
  dtype: SafeDtype
  shape: number[]
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number
  byteLength: number
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorInfo>
  metadata: Record<string, string>
  dataStart: number
}

function fail(msg: string): never { throw new ModelFormatError('bad_safetensors', msg) }

/** Parses and validates a safetensors header given the file size. Pure: no I/O. */
export function parseHeader(headerJson: Uint8Array, fileSize: number): SafetensorsHeader {
  const dataStart = 8 + headerJson.byteLength
  let raw: unknown
  try { raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerJson)) } catch (e) {
    throw new ModelFormatError('bad_safetensors', 'safetensors header is not valid UTF-8 JSON', { cause: e })
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail('safetensors header is not an object')
  const tensors = new Map<string, TensorInfo>()
  let metadata: Record<string, string> = {}
  const dataLen = fileSize - dataStart
  if (dataLen < 0) fail('file shorter than its header')
  const ranges: [number, number][] = []
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (v && typeof v === 'object') metadata = Object.fromEntries(Object.entries(v).filter(([, x]) => typeof x === 'string')) as Record<string, string>
      continue
    }
    const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown }
    if (!t || typeof t !== 'object') fail(`tensor ${name}: entry is not an object`)
    if (typeof t.dtype !== 'string' || !(t.dtype in DTYPE_BYTES)) fail(`tensor ${name}: unsupported dtype ${String(t.dtype)}`)
    const dtype = t.dtype as SafeDtype
    if (!Array.isArray(t.shape) || t.shape.length > MAX_RANK || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor ${name}: bad shape`)
    const shape = t.shape as number[]
    const off = t.data_offsets
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor ${name}: bad data_offsets`)
    const [b, e] = off as [number, number]
    if (e < b || e > dataLen) fail(`tensor ${name}: data_offsets [${b}, ${e}] outside the data section (${dataLen} bytes)`)
    let count = 1
    for (const d of shape) count *= d
    if (!Number.isSafeInteger(count * DTYPE_BYTES[dtype]) || count * DTYPE_BYTES[dtype] !== e - b) fail(`tensor ${name}: ${e - b} bytes do not match ${dtype}[${shape.join(',')}]`)
    tensors.set(name, { name, dtype, shape, offset: dataStart + b, byteLength: e - b })
    ranges.push([b, e])
  }
  ranges.sort((x, y) => x[0] - y[0])
  for (let i = 1; i < ranges.length; i++) if (ranges[i]![0] < ranges[i - 1]![1]) fail('tensors overlap in the data section')
  return { tensors, metadata, dataStart }
}

/** An open safetensors file: header parsed, tensors read on demand by byte range. */
export class SafetensorsFile {
  readonly header: SafetensorsHeader
  #fd: number | null

  private constructor(readonly path: string, fd: number, header: SafetensorsHeader) {
    this.#fd = fd
    this.header = header
  }

  static open(path: string): SafetensorsFile {
    const fd = openSync(path, 'r')
    try {
      const size = fstatSync(fd).size
      if (size < 8) fail(`${path}: too short for a safetensors file`)
      const lenBuf = Buffer.alloc(8)
      readSync(fd, lenBuf, 0, 8, 0)
      const n = lenBuf.readBigUInt64LE(0)
      if (n > BigInt(MAX_HEADER_BYTES)) fail(`${path}: header length ${n} exceeds ${MAX_HEADER_BYTES}`)
      if (n > BigInt(size - 8)) fail(`${path}: header length ${n} exceeds the file`)
      const hdr = Buffer.alloc(Number(n))
      readSync(fd, hdr, 0, hdr.length, 8)
      return new SafetensorsFile(path, fd, parseHeader(hdr, size))
    } catch (e) {
      closeSync(fd)
      throw e
    }
  }

  info(name: string): TensorInfo | undefined { return this.header.tensors.get(name) }

  /** Reads one tensor's raw bytes (a single positioned read of its range). */
  readRaw(name: string): Uint8Array {
    const t = this.header.tensors.get(name)
    if (!t) throw new ModelFormatError('missing_tensor', `${this.path}: tensor ${name} not found`)
    if (this.#fd === null) throw new ModelFormatError('closed', 'safetensors file is closed')
    const out = Buffer.alloc(t.byteLength)
    let done = 0
    while (done < t.byteLength) {
      const n = readSync(this.#fd, out, done, t.byteLength - done, t.offset + done)
      if (n <= 0) fail(`${this.path}: unexpected end of file reading ${name}`)
      done += n
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
  }

  /** Reads one tensor converted to float32 (F32, F16 and BF16 files). */
  readF32(name: string): { data: Float32Array; shape: number[] } {
    const t = this.header.tensors.get(name)
    if (!t) throw new ModelFormatError('missing_tensor', `${this.path}: tensor ${name} not found`)
    return { data: toF32(this.readRaw(name), t.dtype, name), shape: t.shape }
  }

  close(): void {
    if (this.#fd !== null) { closeSync(this.#fd); this.#fd = null }
  }
}

/** Converts raw little-endian tensor bytes to float32. */
export function toF32(raw: Uint8Array, dtype: SafeDtype, name = 'tensor'): Float32Array {
  if (dtype === 'F32') {
    if (raw.byteOffset % 4 === 0) return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4)
    const out = new Float32Array(raw.byteLength / 4)
    new Uint8Array(out.buffer).set(raw)
    return out
  }
  const n = raw.byteLength / 2
  const out = new Float32Array(n)
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
  if (dtype === 'BF16') {
    const u = new Uint32Array(out.buffer)
    for (let i = 0; i < n; i++) u[i] = dv.getUint16(i * 2, true) << 16
    return out
  }
  if (dtype === 'F16') {
    for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(i * 2, true))
    return out
  }
  throw new ModelFormatError('unsupported_dtype', `${name}: dtype ${dtype} is not a float type`)
}

export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1
  const e = (h >> 10) & 0x1f
  const m = h & 0x3ff
  if (e === 0) return s * m * 2 ** -24
  if (e === 31) return m ? NaN : s * Infinity
  return s * (1 + m / 1024) * 2 ** (e - 15)
}

export function f32ToF16(v: number): number {
  const f = new Float32Array([v])
  const x = new Uint32Array(f.buffer)[0]!
  const sign = (x >>> 16) & 0x8000
  const exp = ((x >>> 23) & 0xff) - 127 + 15
  let mant = x & 0x7fffff
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0)
  if (exp >= 31) return sign | 0x7c00
  if (exp <= 0) {
    if (exp < -10) return sign
    mant = (mant | 0x800000) >> (1 - exp)
    return sign | ((mant + 0x1000) >> 13)
  }
  const r = sign | (exp << 10) | (mant >> 13)
  return (mant & 0x1000) ? r + 1 : r
}

export interface WriteTensor { dtype: SafeDtype; shape: number[]; data: Uint8Array }

/** Writes a safetensors file (tests, benchmarks, conversion). Tensors are laid out in the given order. */
export function writeSafetensors(path: string, tensors: Record<string, WriteTensor>, metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = {}
  if (metadata) header.__metadata__ = metadata
  let off = 0
  const parts: Uint8Array[] = []
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.byteLength] }
    parts.push(t.data)
    off += t.data.byteLength
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8')
  const pad = (8 - (json.length % 8)) % 8
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)])
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(json.length))
  writeFileSync(path, Buffer.concat([len, json, ...parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))]))
}

/** Encodes float32 values in a file dtype (F32/F16/BF16; BF16 rounds to nearest even). */
export function fromF32(data: Float32Array, dtype: 'F32' | 'F16' | 'BF16'): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  const out = new Uint8Array(data.length * 2)
  const dv = new DataView(out.buffer)
  const u = new Uint32Array(data.buffer, data.byteOffset, data.length)
  for (let i = 0; i < data.length; i++) {
    if (dtype === 'F16') dv.setUint16(i * 2, f32ToF16(data[i]!), true)
    else { const x = u[i]!; dv.setUint16(i * 2, ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff, true) }
  }
  return out
}
