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

/**
 * The sampling distribution is defined on exact integers so that it does not depend on summation order: with
 * S = weightShift(n), token t weighs W_t = tokenWeight(x_t/T - x_max/T, S) ~ floor(exp(.) * 2^S) (0 below ~2^-S of
 * the best one), so every sum of at most n weights is an integer below 2^53, exact in any order. Rank order is
 * higher logit first, ties by lower index. The kept set is the top k by rank, then the shortest rank-order prefix
 * of those whose weight `acc` satisfies acc / sum(top k) >= top-p. The draw takes target = u * sum(kept) and returns
 * the first kept token, walking in token-index order, whose running weight exceeds target. A full sort gives
 * exactly the same token (test/cortex/sampling.test.ts keeps one as the oracle); here nothing is sorted but a few
 * dozen tokens.
 */
export function weightShift(n: number): number {
  let b = 0
  while (2 ** b < n) b++
  return 52 - b
}

const POW64 = Float64Array.from({ length: 64 }, (_, j) => 2 ** (j / 64))
const POW2 = Float64Array.from({ length: 60 }, (_, e) => 2 ** (e - 2))

/**
 * floor(2^shift * e^z) for z <= 0, by 2^(z log2 e) = 2^e * 2^(j/64) * 2^f with a degree-4 polynomial for 2^f,
 * f < 1/64 (relative error < 2e-12; Math.exp costs several times more and this runs once per vocabulary entry).
 * Plain float arithmetic (tables from V8's own 2 ** x), so the same wherever the Node build is; 0 below weight 1.
 */
export function tokenWeight(z: number, shift: number): number {
  const y = z * Math.LOG2E
  if (!(y >= -shift - 1)) return 0
  const yi = Math.floor(y * 64)
  const g = (y - yi / 64) * Math.LN2
  const poly = 1 + g * (1 + g * (0.5 + g * (1 / 6 + g * (1 / 24))))
  return Math.floor(POW64[yi & 63]! * poly * POW2[(yi >> 6) + shift + 2]!)
}

const BUCKETS = 2048
const LEAF = 48
// scratch reused across calls (sample() is synchronous): no per-token O(vocab) allocation
let wts = new Float64Array(0)
let cand = new Int32Array(0)
let work = new Int32Array(0)
const hCount = new Int32Array(BUCKETS)
const hMass = new Float64Array(BUCKETS)

function scratch(n: number): void {
  if (wts.length >= n) return
  wts = new Float64Array(n); cand = new Int32Array(n); work = new Int32Array(n)
}

/** True when token a ranks before token b. */
function before(logits: Float32Array, a: number, b: number): boolean {
  const x = logits[a]!, y = logits[b]!
  return x > y || (x === y && a < b)
}

// results of cutPrefix / scanBuckets (module state: no allocation per call)
let cutLast = -1
let cutCount = 0
let cutMass = 0
let scanBucket = 0

/**
 * Finds the first of nb histogram buckets where the predicate holds; cutCount/cutMass = totals before it. The
 * predicate always holds by the last token; should it not, the last non-empty bucket is taken (never an empty one,
 * so the selection cannot loop).
 */
function scanBuckets(nb: number, c0: number, a0: number, k: number, sum: number, topP: number, byMass: boolean): void {
  let lastFull = 0, c1 = c0, a1 = a0
  for (let j = 0; j < nb; j++) {
    if (hCount[j] === 0) continue
    const c = c0 + hCount[j]!
    const a = byMass ? a0 + hMass[j]! : 0
    if (byMass ? a / sum >= topP : c >= k) { scanBucket = j; cutCount = c0; cutMass = a0; return }
    lastFull = j; c1 = c0; a1 = a0
    c0 = c; a0 = a
  }
  scanBucket = lastFull; cutCount = c1; cutMass = a1
}

/** Bucket of logit x among nb linear buckets from hi (bucket 0) down to hi - nb/scale: monotone in x. */
const bucketOf = (x: number, hi: number, scale: number, last: number): number => Math.min(last, ((hi - x) * scale) | 0)

/**
 * Over the tokens list[0..m) (ascending ids) ranked after c0 tokens of weight a0, finds the shortest rank-order
 * prefix for which the predicate holds: count >= k (byMass false) or mass / sum >= topP (byMass true, mass over
 * wts). Sets cutLast (the prefix's last token), cutCount and cutMass. Buckets the logits linearly between the list's
 * max and min (monotone, so each bucket is a rank interval), keeps the bucket where the predicate first holds and
 * repeats on it; a small bucket is sorted, an all-equal one is already in rank order. Each round splits the max
 * from the min, so it ends; expected O(m) work.
 */
function cutPrefix(logits: Float32Array, list: Int32Array, m: number, c0: number, a0: number, k: number, sum: number, topP: number, byMass: boolean): void {
  for (;;) {
    let hi = -Infinity, lo = Infinity
    for (let i = 0; i < m; i++) { const x = logits[list[i]!]!; if (x > hi) hi = x; if (x < lo) lo = x }
    if (m === 0) throw new RangeError('sampling: empty selection') // unreachable: scanBuckets never picks an empty bucket
    if (m <= LEAF || hi === lo) {
      if (hi !== lo) {
        for (let i = 1; i < m; i++) {
          const t = list[i]!
          let j = i - 1
          for (; j >= 0 && before(logits, t, list[j]!); j--) list[j + 1] = list[j]!
          list[j + 1] = t
        }
      }
      for (let i = 0; i < m; i++) {
        const t = list[i]!
        c0++
        if (byMass) a0 += wts[t]!
        if ((byMass ? a0 / sum >= topP : c0 >= k) || i === m - 1) { cutLast = t; cutCount = c0; cutMass = a0; return }
      }
    }
    const nb = Math.min(BUCKETS, m), scale = nb / (hi - lo), last = nb - 1
    hCount.fill(0, 0, nb)
    if (byMass) hMass.fill(0, 0, nb)
    for (let i = 0; i < m; i++) {
      const t = list[i]!
      const b = bucketOf(logits[t]!, hi, scale, last)
      hCount[b]++
      if (byMass) hMass[b] += wts[t]!
    }
    scanBuckets(nb, c0, a0, k, sum, topP, byMass)
    c0 = cutCount; a0 = cutMass
    const j = scanBucket
    let w = 0
    for (let i = 0; i < m; i++) { const t = list[i]!; if (bucketOf(logits[t]!, hi, scale, last) === j) list[w++] = t }
    m = w
  }
}

/**
 * Picks the next token from `logits` (the distribution defined above weightShift). Always draws one PRNG number
 * when sampling, so streams stay aligned. Without top-k: one pass for the max, one computing the weights and a
 * bucket histogram, one keeping the boundary bucket, one for the draw; top-k runs the same selection on logits
 * alone and weighs only the k kept.
 */
export function sample(logits: Float32Array, p: SamplingParams, rng: Prng): number {
  const temp = p.temperature ?? 0
  if (!(temp > 0)) return argmax(logits)
  const n = logits.length
  if (n === 0) throw new RangeError('no logits to sample from')
  const k = p.topK && p.topK > 0 ? Math.min(p.topK, n) : n
  const topP = p.topP ?? 1
  const u = rng.next()
  scratch(n)
  let best = 0, hi = logits[0]!, lo = hi
  for (let i = 0; i < n; i++) {
    const x = logits[i]!
    if (x - x !== 0) throw new RangeError('logits must be finite')
    if (x > hi) { hi = x; best = i }
    if (x < lo) lo = x
  }
  const maxS = hi / temp
  const shift = weightShift(n)
  const spread = hi > lo
  const nb = Math.min(BUCKETS, n), last = nb - 1, scale = spread ? nb / (hi - lo) : 0
  let m = n // candidates: cand[0..m) when `sparse`, else every token
  let sparse = false
  let cut = -1 // the kept set is the rank prefix ending at token `cut` (-1: every candidate)
  let total = 0
  if (k < n) {
    // top-k: first round over all tokens without copying them, then cutPrefix on the boundary bucket
    hCount.fill(0, 0, nb)
    for (let t = 0; t < n; t++) hCount[bucketOf(logits[t]!, hi, scale, last)]++
    scanBuckets(nb, 0, 0, k, 0, 0, false)
    const j = scanBucket
    let w = 0
    for (let t = 0; t < n; t++) if (bucketOf(logits[t]!, hi, scale, last) === j) work[w++] = t
    cutPrefix(logits, work, w, cutCount, 0, k, 0, 0, false)
    cut = cutLast
    const xl = logits[cut]!
    m = 0
    for (let t = 0; t < n; t++) {
      const x = logits[t]!
      if (x > xl || (x === xl && t <= cut)) { cand[m++] = t; total += (wts[t] = tokenWeight(x / temp - maxS, shift)) }
    }
    sparse = true
    if (topP < 1) {
      work.set(cand.subarray(0, m))
      cutPrefix(logits, work, m, 0, 0, 0, total, topP, true)
      cut = cutLast; total = cutMass
    }
  } else if (topP < 1 && spread) {
    // top-p: weights and the first histogram in one pass
    hCount.fill(0, 0, nb); hMass.fill(0, 0, nb)
    for (let t = 0; t < n; t++) {
      const x = logits[t]!
      const w = (wts[t] = tokenWeight(x / temp - maxS, shift))
      total += w
      const b = bucketOf(x, hi, scale, last)
      hCount[b]++; hMass[b] += w
    }
    scanBuckets(nb, 0, 0, 0, total, topP, true)
    const j = scanBucket
    let w = 0
    for (let t = 0; t < n; t++) if (bucketOf(logits[t]!, hi, scale, last) === j) work[w++] = t
    cutPrefix(logits, work, w, cutCount, cutMass, 0, total, topP, true)
    cut = cutLast; total = cutMass
  } else {
    for (let t = 0; t < n; t++) total += (wts[t] = tokenWeight(logits[t]! / temp - maxS, shift))
    if (topP < 1) { for (let t = 0; t < n; t++) work[t] = t; cutPrefix(logits, work, n, 0, 0, 0, total, topP, true); cut = cutLast; total = cutMass }
  }
  const target = u * total
  let acc = 0
  let fallback = best
  const xl = cut < 0 ? Infinity : logits[cut]!
  for (let j = 0; j < m; j++) {
    const t = sparse ? cand[j]! : j
    if (cut >= 0) { const x = logits[t]!; if (x < xl || (x === xl && t > cut)) continue }
    const w = wts[t]!
    if (w === 0) continue
    acc += w
    if (acc > target) return t
    fallback = t
  }
  return fallback // only when u * total rounds up to total (a hand-made u just below 1)
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
