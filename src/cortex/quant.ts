/**
 * Block-wise symmetric weight quantisation for the com.microsoft MatMulNBits operator: each output row (N) of a
 * K-long weight column is split into blocks of `block` values sharing one float scale; values are stored as unsigned
 * `bits`-bit integers around the default zero point 2^(bits-1) (4-bit: two per byte, low nibble first).
 */
export type QuantBits = 4 | 8

export interface Quantized {
  packed: Uint8Array
  scales: Float32Array
  N: number
  K: number
  bits: QuantBits
  block: number
  blocksPerRow: number
}

/** Quantises W given row-major as [N][K] (one row per output feature). */
export function quantizeNK(w: Float32Array, N: number, K: number, bits: QuantBits, block = 32): Quantized {
  const blocksPerRow = Math.ceil(K / block)
  const blob = (block * bits) / 8
  const packed = new Uint8Array(N * blocksPerRow * blob)
  const scales = new Float32Array(N * blocksPerRow)
  const zp = 1 << (bits - 1)
  const qmax = zp - 1
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocksPerRow; b++) {
      const k0 = b * block, k1 = Math.min(K, k0 + block)
      let amax = 0
      for (let k = k0; k < k1; k++) amax = Math.max(amax, Math.abs(w[n * K + k]!))
      const scale = amax / qmax || 1
      scales[n * blocksPerRow + b] = scale
      const base = (n * blocksPerRow + b) * blob
      for (let j = 0; j < block; j++) {
        const k = k0 + j
        const v = k < k1 ? w[n * K + k]! : 0
        const q = Math.max(0, Math.min(2 * zp - 1, Math.round(v / scale) + zp))
        if (bits === 8) packed[base + j] = q
        else packed[base + (j >> 1)]! |= (j & 1) ? q << 4 : q
      }
    }
  }
  return { packed, scales, N, K, bits, block, blocksPerRow }
}

/** Dequantises back to [N][K] (tests: bounds the quantisation error). */
export function dequantizeNK(q: Quantized): Float32Array {
  const out = new Float32Array(q.N * q.K)
  const blob = (q.block * q.bits) / 8
  const zp = 1 << (q.bits - 1)
  for (let n = 0; n < q.N; n++) {
    for (let k = 0; k < q.K; k++) {
      const b = Math.floor(k / q.block), j = k % q.block
      const base = (n * q.blocksPerRow + b) * blob
      const raw = q.bits === 8 ? q.packed[base + j]! : (q.packed[base + (j >> 1)]! >> ((j & 1) * 4)) & 0xf
      out[n * q.K + k] = (raw - zp) * q.scales[n * q.blocksPerRow + b]!
    }
  }
  return out
}

/** Transposes a row-major [R][C] matrix to [C][R]. */
export function transpose(w: Float32Array, R: number, C: number): Float32Array {
  const out = new Float32Array(R * C)
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[c * R + r] = w[r * C + c]!
  return out
}

/**
 * Symmetric int8 per output channel, laid out [K][N] for DynamicQuantizeMatMul: scale_n = max_k |w| / 127.
 * `w` is row-major [K][N] ('KN') or [N][K] ('NK').
 */
export function quantizePerChannelKN(w: Float32Array, K: number, N: number, layout: 'KN' | 'NK'): { q: Int8Array; scales: Float32Array } {
  const at = layout === 'KN' ? (k: number, n: number) => w[k * N + n]! : (k: number, n: number) => w[n * K + k]!
  const scales = new Float32Array(N)
  for (let n = 0; n < N; n++) {
    let amax = 0
    for (let k = 0; k < K; k++) amax = Math.max(amax, Math.abs(at(k, n)))
    scales[n] = amax / 127 || 1
  }
  const q = new Int8Array(K * N)
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) q[k * N + n] = Math.max(-127, Math.min(127, Math.round(at(k, n) / scales[n]!)))
  return { q, scales }
}
