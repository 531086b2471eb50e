/**
 * sample() selects the kept tokens by bucketing instead of sorting the vocabulary; it must pick exactly what a full
 * sort picks for the same draw. The oracle below is the former full-sort sampler with the weights on the exact
 * integer scale sampling.ts defines (float sums differ with summation order, integer sums below 2^53 do not); the
 * weight function itself is checked against Math.exp and the whole distribution against a float64 softmax.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Prng, sample, sampleWithDraw, tokenWeight, weightShift, type SamplingParams } from '../../src/cortex/sampling.js'

/** Reference: sort every index by (logit desc, index asc), cut to top-k, then top-p; kept tokens in id order. */
function sortedKept(logits: Float32Array, p: SamplingParams): { kept: (readonly [number, number])[]; sum: number } {
  const temp = p.temperature!
  let idx = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b)
  if (p.topK && p.topK > 0) idx = idx.slice(0, p.topK)
  const max = logits[idx[0]!]! / temp
  let shift = 52
  while (2 ** (52 - shift) < logits.length) shift--
  let probs = idx.map((i) => tokenWeight(logits[i]! / temp - max, shift))
  let sum = probs.reduce((a, b) => a + b, 0)
  if ((p.topP ?? 1) < 1) {
    let acc = 0
    let cut = probs.length
    for (let i = 0; i < probs.length; i++) { acc += probs[i]!; if (acc / sum >= p.topP!) { cut = i + 1; break } }
    idx = idx.slice(0, cut); probs = probs.slice(0, cut); sum = probs.reduce((a, b) => a + b, 0)
  }
  return { kept: idx.map((t, i) => [t, probs[i]!] as const).filter(([, w]) => w > 0).sort((a, b) => a[0] - b[0]), sum }
}

/** The draw: the first kept id (in id order) whose running weight exceeds u * sum. */
function sortedSample(logits: Float32Array, p: SamplingParams, u: number): number {
  const { kept, sum } = sortedKept(logits, p)
  const target = u * sum
  let acc = 0
  for (const [t, w] of kept) { acc += w; if (acc > target) return t }
  return kept[kept.length - 1]![0]
}

/** The former float sampler's distribution (softmax of the top-k/top-p set, float64): token -> probability. */
function floatProbs(logits: Float32Array, p: SamplingParams): Map<number, number> {
  const temp = p.temperature!
  let idx = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b)
  if (p.topK && p.topK > 0) idx = idx.slice(0, p.topK)
  const max = logits[idx[0]!]! / temp
  let probs = idx.map((i) => Math.exp(logits[i]! / temp - max))
  let sum = probs.reduce((a, b) => a + b, 0)
  if ((p.topP ?? 1) < 1) {
    let acc = 0
    for (let i = 0; i < probs.length; i++) { acc += probs[i]!; if (acc / sum >= p.topP!) { idx = idx.slice(0, i + 1); probs = probs.slice(0, i + 1); break } }
    sum = probs.reduce((a, b) => a + b, 0)
  }
  return new Map(idx.map((t, i) => [t, probs[i]! / sum]))
}

const seed = Number(process.env.FC_SEED ?? Date.now() % 1_000_000)
console.log(`fast-check seed ${seed}`)

/** Logits: flat (random-weight models: all close), peaked, coarsely quantised (many exact ties), one far outlier. */
const logitsArb = fc.tuple(
  fc.array(fc.float({ min: -20, max: 20, noNaN: true }), { minLength: 1, maxLength: 600 }),
  fc.constantFrom('flat', 'peaked', 'ties', 'outlier', 'equal', 'raw'),
).map(([xs, kind]) => Float32Array.from(xs, (x, i) => {
  switch (kind) {
    case 'flat': return x / 40
    case 'peaked': return i % 97 === 3 ? 15 + x / 20 : x / 4
    case 'ties': return Math.round(x / 4)
    case 'outlier': return i === 0 ? -1e30 : x / 10
    case 'equal': return 0.5
    default: return x
  }
}))

test('sample() picks the same token as a full sort: top-k, top-p, both, neither; flat, peaked, ties (property)', () => {
  fc.assert(fc.property(
    logitsArb, fc.integer({ min: 0, max: 700 }), fc.oneof(fc.double({ min: 0.01, max: 1, noNaN: true }), fc.constant(1)),
    fc.double({ min: 0.05, max: 5, noNaN: true }), fc.integer({ min: 0, max: 0xffffffff }),
    (logits, topK, topP, temperature, s) => {
      const p = { temperature, topK, topP }
      const u = new Prng(s).next()
      assert.equal(sample(logits, p, new Prng(s)), sortedSample(logits, p, u))
    }), { seed, numRuns: 3000 })
})

test('sample(): top-p exactly at a prefix boundary, and draws at the edges of [0, 1) (property)', () => {
  fc.assert(fc.property(
    logitsArb, fc.integer({ min: 0, max: 700 }), fc.double({ min: 0.1, max: 3, noNaN: true }), fc.nat(), fc.constantFrom(0, 0.5, 1 - 2 ** -32, 1 - 2 ** -53),
    (logits, topK, temperature, at, u) => {
      // top-p equal to the share of some rank-order prefix: the cut must land on that very token
      const idx = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b).slice(0, topK || undefined)
      const max = logits[idx[0]!]! / temperature
      let shift = 52
      while (2 ** (52 - shift) < logits.length) shift--
      const w = idx.map((i) => tokenWeight(logits[i]! / temperature - max, shift))
      const sum = w.reduce((a, b) => a + b, 0)
      let acc = 0
      for (let i = 0; i <= at % w.length; i++) acc += w[i]!
      const topP = acc / sum
      if (!(topP > 0 && topP <= 1)) return
      const p = { temperature, topK, topP }
      assert.equal(sampleWithDraw(logits, { temperature, topK, topP, u }), sortedSample(logits, p, u))
    }), { seed, numRuns: 1500 })
})

test('tokenWeight() is floor(2^S e^z) to 2e-12 relative, exact at the best token, 0 below weight 1', () => {
  for (const n of [1, 2, 1000, 50_257, 65_536, 262_144]) {
    const S = weightShift(n)
    assert.ok(n * 2 ** S <= 2 ** 52, `n ${n}: sums stay exact`)
    assert.equal(tokenWeight(0, S), 2 ** S)
    assert.equal(tokenWeight(-1e30, S), 0)
    let worst = 0
    for (let i = 0; i <= 200_000; i++) {
      const z = -(i / 200_000) * (S - 4) * Math.LN2
      const ref = Math.exp(z) * 2 ** S
      worst = Math.max(worst, Math.abs(tokenWeight(z, S) - ref) / ref - 1 / ref)
    }
    assert.ok(worst < 2e-12, `n ${n}: relative error ${worst}`)
  }
})

test('the integer weights give the float softmax distribution to 1e-9 (top-k/top-p/temperature combos)', () => {
  const rng = new Prng(3)
  for (const [kind, n] of [['flat', 50_257], ['peaked', 5000], ['ties', 3000]] as const) {
    const logits = Float32Array.from({ length: n }, (_, i) => kind === 'flat' ? rng.normal() * 0.3 : kind === 'peaked' ? (i % 501 === 0 ? 12 : rng.normal() * 2) : Math.round(rng.normal() * 3))
    for (const p of [{ temperature: 0.8, topP: 0.9 }, { temperature: 1, topK: 40 }, { temperature: 0.3, topK: 100, topP: 0.5 }, { temperature: 2 }, { temperature: 0.05, topP: 0.99 }]) {
      const ref = floatProbs(logits, p)
      const { kept, sum } = sortedKept(logits, p)
      let maxErr = 0, missing = 0
      for (const [t, w] of kept) maxErr = Math.max(maxErr, Math.abs(w / sum - (ref.get(t) ?? 0)))
      const ids = new Set(kept.map(([t]) => t))
      for (const [t, pr] of ref) if (!ids.has(t)) { missing++; maxErr = Math.max(maxErr, pr) }
      assert.ok(maxErr < 1e-9, `${kind} ${JSON.stringify(p)}: max probability error ${maxErr} (${missing} float-kept tokens missing)`)
    }
  }
})

test('sample(): greedy at temperature 0, one draw per token, restricted to top-k, non-finite logits refused', () => {
  const logits = Float32Array.from({ length: 50_000 }, (_, i) => Math.sin(i * 12.9898) * 8)
  const best = logits.indexOf(Math.max(...logits))
  assert.equal(sample(logits, { temperature: 0 }, new Prng(1)), best)
  const rng = new Prng(7)
  const before = rng.state
  sample(logits, { temperature: 0.8, topP: 0.9 }, rng)
  assert.equal(rng.state, new Prng(before).state + 0x6d2b79f5 >>> 0, 'exactly one PRNG draw')
  const top5 = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b).slice(0, 5)
  for (let s = 0; s < 200; s++) assert.ok(top5.includes(sample(logits, { temperature: 5, topK: 5 }, new Prng(s))))
  const bad = new Float32Array([1, Number.NaN, 2])
  assert.throws(() => sample(bad, { temperature: 1 }, new Prng(1)), /finite/)
  assert.throws(() => sample(new Float32Array([Infinity, 0]), { temperature: 1 }, new Prng(1)), /finite/)
})

test('sample(): a 50k-vocabulary flat distribution at top-p 0.9 keeps most of it and matches the full sort', () => {
  const rng = new Prng(11)
  const logits = Float32Array.from({ length: 50_257 }, () => rng.normal() * 0.05)
  for (let s = 0; s < 20; s++) {
    const p = { temperature: 0.8, topP: 0.9, topK: s % 2 ? 0 : 30_000 }
    assert.equal(sample(logits, p, new Prng(s)), sortedSample(logits, p, new Prng(s).next()))
  }
})
