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

/** True when token a ranks before token b: higher logit first, then the lower index (a total, stable order). */
function before(logits: Float32Array, a: number, b: number): boolean {
  const x = logits[a]!, y = logits[b]!
  return x > y || (x === y && a < b)
}

/** The k best-ranked token indices (in no particular order), by a size-k min-heap over one pass: O(n log k). */
function topKIndices(logits: Float32Array, k: number): Int32Array {
  const h = new Int32Array(k)
  let size = 0
  // min-heap on rank: the root is the worst of the k kept so far
  const worse = (a: number, b: number) => before(logits, b, a)
  const down = (i: number) => {
    for (;;) {
      const a = 2 * i + 1, b = a + 1
      let m = i
      if (a < size && worse(h[a]!, h[m]!)) m = a
      if (b < size && worse(h[b]!, h[m]!)) m = b
      if (m === i) return
      const t = h[i]!; h[i] = h[m]!; h[m] = t
      i = m
    }
  }
  for (let i = 0; i < logits.length; i++) {
    if (size < k) {
      let j = size++
      h[j] = i
      while (j > 0) { const p = (j - 1) >> 1; if (!worse(h[j]!, h[p]!)) break; const t = h[j]!; h[j] = h[p]!; h[p] = t; j = p }
    } else if (before(logits, i, h[0]!)) { h[0] = i; down(0) }
  }
  return h
}

/**
 * The top-p nucleus of `a` (permuted in place): the shortest rank-order prefix whose weight reaches `target`,
 * found by quickselect on rank with running weight sums (expected O(n), nothing sorted). Returns how many of
 * the (reordered) `a` belong to it: a[0..count).
 */
function nucleusCount(logits: Float32Array, weights: Float64Array, a: Int32Array, target: number): number {
  let lo = 0
  let hi = a.length
  let acc = 0
  let seed = 0x9e3779b9
  while (lo < hi) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
    const pivot = a[lo + (seed % (hi - lo))]!
    // a[lo..i) = ranked ahead of the pivot, then the pivot at i, then the rest
    let i = lo
    let sAhead = 0
    for (let j = lo; j < hi; j++) {
      const t = a[j]!
      if (t !== pivot && before(logits, t, pivot)) { a[j] = a[i]!; a[i++] = t; sAhead += weights[t]! }
    }
    for (let j = i; j < hi; j++) if (a[j] === pivot) { a[j] = a[i]!; a[i] = pivot; break }
    if (acc + sAhead >= target && i > lo) { hi = i; continue }
    acc += sAhead + weights[pivot]!
    lo = i + 1
    if (acc >= target) return lo
  }
  return lo
}

/**
 * Picks the next token from `logits`. Always draws one PRNG number when sampling, so streams stay aligned.
 * The candidates are chosen by rank (higher logit first, ties by lower index): the top k, then the shortest
 * prefix of those whose probability reaches top-p. The draw then walks the candidates in token-index order, so
 * nothing is ever sorted: O(n) exps plus O(n log k) or expected O(n) selection (was a full sort per token).
 */
export function sample(logits: Float32Array, p: SamplingParams, rng: Prng): number {
  const temp = p.temperature ?? 0
  if (!(temp > 0)) return argmax(logits)
  const n = logits.length
  const k = p.topK && p.topK > 0 ? Math.min(p.topK, n) : n
  const topP = p.topP ?? 1
  const max = logits[argmax(logits)]! / temp
  const u = rng.next()
  let cand = k < n ? topKIndices(logits, k) : undefined
  let count = cand ? k : n
  const weights = new Float64Array(n)
  let total = 0
  if (cand) for (let j = 0; j < k; j++) { const t = cand[j]!; total += (weights[t] = Math.exp(logits[t]! / temp - max)) }
  else for (let t = 0; t < n; t++) total += (weights[t] = Math.exp(logits[t]! / temp - max))
  if (topP < 1) {
    if (!cand) { cand = new Int32Array(n); for (let t = 0; t < n; t++) cand[t] = t }
    count = nucleusCount(logits, weights, cand, topP * total)
    total = 0
    for (let j = 0; j < count; j++) total += weights[cand[j]!]!
  }
  let r = u * total
  if (!cand) {
    for (let t = 0; t < n; t++) { r -= weights[t]!; if (r < 0) return t }
    return n - 1
  }
  // walk the candidates in token-index order (a version-stable rule, no sort of the vocabulary)
  const member = new Uint8Array(n)
  for (let j = 0; j < count; j++) member[cand[j]!] = 1
  let last = -1
  for (let t = 0; t < n; t++) {
    if (member[t] === 0) continue
    last = t
    r -= weights[t]!
    if (r < 0) return t
  }
  return last
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
