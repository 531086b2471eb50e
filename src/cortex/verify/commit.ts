/**
 * Activation commitments in the manner of TOPLOC (Ong et al., 2025): for every block of BLOCK rows a stage
 * produced (one row per forward step: the output of its last position, hidden states or logits), the top-k
 * entries by magnitude of the block, as fp16 values, interpolated into a degree-(k-1) polynomial over GF(65521).
 * Encoding: [k u16 BE][k coefficients u16 BE] = 2 + 2k bytes (258 bytes for k = 128, as in TOPLOC).
 */
import { f16ToF32, f32ToF16 } from '../safetensors.js'
import { InvalidInputError } from '../../util/errors.js'
import { evaluate, interpolate, P } from './poly.js'

export const BLOCK = 32
export const DEFAULT_K = 128
export const MAX_K = 1024

/**
 * Indices (flattened, into `block`) of the k entries of largest magnitude, ties by lower index. Two entries whose
 * index is equal mod p cannot both be points: the later (smaller) one is skipped, the same way on both sides.
 */
export function topK(block: Float32Array, k: number): number[] {
  const order = Array.from({ length: block.length }, (_, i) => i)
  order.sort((a, b) => (Math.abs(block[b]!) - Math.abs(block[a]!)) || a - b)
  const out: number[] = []
  const used = new Set<number>()
  for (const i of order) {
    if (out.length >= k) break
    if (!Number.isFinite(block[i]!)) continue
    const x = i % P
    if (used.has(x)) continue
    used.add(x)
    out.push(i)
  }
  return out
}

/** Commits to one block of rows (concatenated, row-major). */
export function commitBlock(block: Float32Array, k = DEFAULT_K): Uint8Array {
  const idx = topK(block, Math.min(k, MAX_K))
  const ys = idx.map((i) => f32ToF16(block[i]!))
  const c = interpolate(idx.map((i) => i % P), ys)
  const out = new Uint8Array(2 + 2 * c.length)
  const dv = new DataView(out.buffer)
  dv.setUint16(0, c.length)
  for (let i = 0; i < c.length; i++) dv.setUint16(2 + 2 * i, c[i]!)
  return out
}

export function decodeCommitment(b: Uint8Array): Uint16Array {
  if (b.byteLength < 2) throw new InvalidInputError('bad_commitment', 'commitment too short')
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const k = dv.getUint16(0)
  if (k < 1 || k > MAX_K || b.byteLength !== 2 + 2 * k) throw new InvalidInputError('bad_commitment', `commitment of ${b.byteLength} bytes does not hold k = ${k}`)
  const c = new Uint16Array(k)
  for (let i = 0; i < k; i++) { c[i] = dv.getUint16(2 + 2 * i); if (c[i]! >= P) throw new InvalidInputError('bad_commitment', 'coefficient out of the field') }
  return c
}

/** Tolerances: what fp16/fp32 rounding and a different kernel order pass, and a different computation fails. */
export interface Tolerance {
  /** An entry matches when |claimed - recomputed| <= atol + rtol * |recomputed|. */
  rtol: number
  atol: number
  /** Least fraction of the recomputed top-k that must match (top-k membership can change at the boundary). */
  minMatch: number
  /** Largest median relative error over the matched entries. */
  maxMedian: number
}
export const DEFAULT_TOLERANCE: Tolerance = { rtol: 0.02, atol: 1e-3, minMatch: 0.8, maxMedian: 0.005 }

export interface CheckResult { ok: boolean; matched: number; k: number; median: number }

/** Checks a commitment against a block the verifier recomputed. */
export function checkBlock(commitment: Uint8Array, recomputed: Float32Array, tol: Tolerance = DEFAULT_TOLERANCE): CheckResult {
  const c = decodeCommitment(commitment)
  const idx = topK(recomputed, c.length)
  let matched = 0
  const rel: number[] = []
  for (const i of idx) {
    const y = evaluate(c, i % P)
    const claimed = f16ToF32(y)
    const r = recomputed[i]!
    const err = Math.abs(claimed - r)
    if (Number.isFinite(claimed) && err <= tol.atol + tol.rtol * Math.abs(r)) { matched++; rel.push(err / Math.max(Math.abs(r), 1e-12)) }
  }
  rel.sort((a, b) => a - b)
  const median = rel.length ? rel[rel.length >> 1]! : Infinity
  const k = idx.length
  return { ok: k > 0 && matched >= tol.minMatch * k && median <= tol.maxMedian, matched, k, median }
}
