/**
 * Token sampling in TypeScript: greedy, temperature, top-k, top-p, with a seeded PRNG so runs are reproducible
 * (and a failed-over run draws exactly the same numbers as an uninterrupted one).
 */
export interface SamplingParams {
  /** 0 = greedy. @default 0 */
  temperature?: number
  /** Keep the k most likely tokens (0 = off). @default 0 */
  topK?: number
  /** Keep the smallest set whose probability reaches p (1 = off). @default 1 */
  topP?: number
  /** PRNG seed. @default 0 */
  seed?: number
}

/** mulberry32: small, fast, seedable 32-bit PRNG; `state` can be saved and restored. */
export class Prng {
  state: number
  constructor(seed: number) { this.state = seed >>> 0 }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = Math.max(this.next(), 1e-12)
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next())
  }
}

export function argmax(x: Float32Array): number {
  let best = 0
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i
  return best
}

/** Picks the next token from `logits`. Always draws one PRNG number when sampling, so streams stay aligned. */
export function sample(logits: Float32Array, p: SamplingParams, rng: Prng): number {
  const temp = p.temperature ?? 0
  if (!(temp > 0)) return argmax(logits)
  const n = logits.length
  let idx = Array.from({ length: n }, (_, i) => i)
  idx.sort((a, b) => logits[b]! - logits[a]! || a - b)
  const k = p.topK && p.topK > 0 ? Math.min(p.topK, n) : n
  idx = idx.slice(0, k)
  const max = logits[idx[0]!]! / temp
  const probs = idx.map((i) => Math.exp(logits[i]! / temp - max))
  let sum = probs.reduce((a, b) => a + b, 0)
  const topP = p.topP ?? 1
  if (topP < 1) {
    let acc = 0
    let cut = probs.length
    for (let i = 0; i < probs.length; i++) { acc += probs[i]! / sum; if (acc >= topP) { cut = i + 1; break } }
    probs.length = cut
    idx.length = cut
    sum = probs.reduce((a, b) => a + b, 0)
  }
  let r = rng.next() * sum
  for (let i = 0; i < probs.length; i++) { r -= probs[i]!; if (r < 0) return idx[i]! }
  return idx[probs.length - 1]!
}

export interface StopParams {
  maxTokens: number
  /** Token ids that end generation (not emitted). */
  stopTokens?: number[]
  /** Strings that end generation when the decoded text contains them (the text is cut before them). */
  stopStrings?: string[]
}

/** Validates untrusted sampling parameters (HTTP/wire) and fills defaults. */
export function normalizeSampling(p: SamplingParams): Required<SamplingParams> {
  const t = p.temperature ?? 0, k = p.topK ?? 0, tp = p.topP ?? 1, s = p.seed ?? 0
  if (!(Number.isFinite(t) && t >= 0 && t <= 10)) throw new RangeError('temperature must be in [0, 10]')
  if (!(Number.isInteger(k) && k >= 0 && k <= 1_000_000)) throw new RangeError('top_k must be a non-negative integer')
  if (!(Number.isFinite(tp) && tp > 0 && tp <= 1)) throw new RangeError('top_p must be in (0, 1]')
  if (!(Number.isInteger(s) && s >= 0 && s <= 0xffffffff)) throw new RangeError('seed must be a 32-bit unsigned integer')
  return { temperature: t, topK: k, topP: tp, seed: s }
}

/** Samples with a pre-drawn uniform number `u` (the last stage samples for the coordinator, which owns the PRNG). */
export function sampleWithDraw(logits: Float32Array, p: { temperature: number; topK: number; topP: number; u: number }, ): number {
  return sample(logits, p, { next: () => p.u } as Prng)
}
