/**
 * Tensor codec for activations and logits on the wire (docs/protocol/cortex.md §"Tensor"):
 *   [version u8 = 1][dtype u8: 1 = f32, 2 = f16][rank u8: 1..4][flags u8 = 0][dims: rank x u32 BE][data, little-endian]
 * The element count and byte length are checked against limits before anything is allocated; non-finite values
 * (NaN, ±Inf) are refused.
 */
import { f16ToF32, f32ToF16 } from './safetensors.js'
import { TensorError } from './errors.js'

export const TENSOR_VERSION = 1
export const TDTYPE = { F32: 1, F16: 2 } as const
export type TensorDtype = keyof typeof TDTYPE
export const MAX_RANK = 4
/** Largest single dimension. */
export const MAX_DIM = 1 << 24

export interface DecodedTensor { dtype: TensorDtype; dims: number[]; data: Float32Array }

export interface TensorLimits {
  /** Most elements accepted. @default 16 Mi */
  maxElements?: number
  /** Required shape; -1 matches any size in that position. */
  expectDims?: number[]
  /** Refuse NaN/Inf. @default true */
  finiteOnly?: boolean
}

export function encodeTensor(data: Float32Array, dims: number[], dtype: TensorDtype = 'F32'): Uint8Array {
  if (dims.length < 1 || dims.length > MAX_RANK) throw new TensorError('bad_rank', `rank ${dims.length} not in 1..${MAX_RANK}`)
  const n = dims.reduce((a, b) => a * b, 1)
  if (n !== data.length) throw new TensorError('bad_shape', `shape [${dims.join(',')}] does not hold ${data.length} values`)
  const size = dtype === 'F32' ? 4 : 2
  const head = 4 + 4 * dims.length
  const out = new Uint8Array(head + n * size)
  const dv = new DataView(out.buffer)
  out[0] = TENSOR_VERSION
  out[1] = TDTYPE[dtype]
  out[2] = dims.length
  out[3] = 0
  dims.forEach((d, i) => dv.setUint32(4 + 4 * i, d))
  if (dtype === 'F32') {
    const le = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    out.set(le, head)
  } else {
    for (let i = 0; i < n; i++) dv.setUint16(head + 2 * i, f32ToF16(data[i]!), true)
  }
  return out
}

export function decodeTensor(bytes: Uint8Array, limits: TensorLimits = {}): DecodedTensor {
  const maxEl = limits.maxElements ?? 16 * 1024 * 1024
  if (bytes.byteLength < 8) throw new TensorError('truncated', 'tensor shorter than its header')
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes[0] !== TENSOR_VERSION) throw new TensorError('bad_version', `tensor version ${bytes[0]} not supported`)
  const dtype = bytes[1] === TDTYPE.F32 ? 'F32' : bytes[1] === TDTYPE.F16 ? 'F16' : null
  if (!dtype) throw new TensorError('bad_dtype', `tensor dtype ${bytes[1]} not supported`)
  const rank = bytes[2]!
  if (rank < 1 || rank > MAX_RANK) throw new TensorError('bad_rank', `tensor rank ${rank} not in 1..${MAX_RANK}`)
  if (bytes[3] !== 0) throw new TensorError('bad_flags', 'tensor flags must be 0')
  const head = 4 + 4 * rank
  if (bytes.byteLength < head) throw new TensorError('truncated', 'tensor header truncated')
  const dims: number[] = []
  let n = 1
  for (let i = 0; i < rank; i++) {
    const d = dv.getUint32(4 + 4 * i)
    if (d < 1 || d > MAX_DIM) throw new TensorError('bad_shape', `dimension ${d} out of range`)
    n *= d
    if (n > maxEl) throw new TensorError('oversize', `tensor exceeds ${maxEl} elements`)
    dims.push(d)
  }
  if (limits.expectDims) {
    const e = limits.expectDims
    if (e.length !== rank || e.some((d, i) => d !== -1 && d !== dims[i])) throw new TensorError('bad_shape', `tensor shape [${dims.join(',')}] does not match [${e.join(',')}]`)
  }
  const size = dtype === 'F32' ? 4 : 2
  if (bytes.byteLength !== head + n * size) throw new TensorError('bad_length', `tensor data is ${bytes.byteLength - head} bytes, shape needs ${n * size}`)
  let data: Float32Array
  if (dtype === 'F32') {
    // copy into a fresh, aligned buffer (the input may be a view into a larger pooled Buffer)
    data = new Float32Array(n)
    new Uint8Array(data.buffer).set(bytes.subarray(head))
  }
  else {
    data = new Float32Array(n)
    for (let i = 0; i < n; i++) data[i] = f16ToF32(dv.getUint16(head + 2 * i, true))
  }
  if (limits.finiteOnly !== false) {
    for (let i = 0; i < n; i++) if (!Number.isFinite(data[i]!)) throw new TensorError('non_finite', `tensor holds a non-finite value at ${i}`)
  }
  return { dtype, dims, data }
}
