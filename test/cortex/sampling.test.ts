/** sample() selects candidates by rank without sorting the vocabulary; it must pick what a full sort would pick. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Prng, sample, type SamplingParams } from '../../src/cortex/sampling.js'

/** The reference: sort every index by (logit desc, index asc), cut to top-k and top-p, then draw walking the kept
 * tokens in index order (the rule sample() documents). */
function sortedSample(logits: Float32Array, p: SamplingParams, u: number): number {
  const temp = p.temperature!
  let idx = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b)
  if (p.topK && p.topK > 0) idx = idx.slice(0, p.topK)
  const max = logits[idx[0]!]! / temp
  let probs = idx.map((i) => Math.exp(logits[i]! / temp - max))
  let sum = probs.reduce((a, b) => a + b, 0)
  if ((p.topP ?? 1) < 1) {
    let acc = 0
    let cut = probs.length
    for (let i = 0; i < probs.length; i++) { acc += probs[i]!; if (acc / sum >= p.topP!) { cut = i + 1; break } }
    idx = idx.slice(0, cut); probs = probs.slice(0, cut); sum = probs.reduce((a, b) => a + b, 0)
  }
  const kept = idx.map((t, i) => [t, probs[i]!] as const).sort((a, b) => a[0] - b[0])
  let r = u * sum
  for (const [t, w] of kept) { r -= w; if (r < 0) return t }
  return kept[kept.length - 1]![0]
}

test('sample() picks the same token as a full sort, for top-k, top-p, both and neither (property)', () => {
  const seed = Number(process.env.FC_SEED ?? Date.now() % 1_000_000)
  console.log(`fast-check seed ${seed}`)
  fc.assert(fc.property(
    fc.array(fc.float({ min: -20, max: 20, noNaN: true }), { minLength: 1, maxLength: 400 }),
    fc.integer({ min: 0, max: 50 }), fc.double({ min: 0.05, max: 1, noNaN: true }), fc.double({ min: 0.1, max: 3, noNaN: true }),
    fc.integer({ min: 0, max: 0xffffffff }), fc.boolean(),
    (xs, topK, topP, temperature, s, ties) => {
      // quantised logits make many exact ties, which must break by index like the sort does
      const logits = Float32Array.from(ties ? xs.map((x) => Math.round(x)) : xs)
      const p = { temperature, topK, topP }
      const u = new Prng(s).next()
      assert.equal(sample(logits, p, new Prng(s)), sortedSample(logits, p, u))
    }), { seed, numRuns: 3000 })
})

test('sample(): greedy at temperature 0, one draw per token, restricted to top-k', () => {
  const logits = Float32Array.from({ length: 50_000 }, (_, i) => Math.sin(i * 12.9898) * 8)
  const best = logits.indexOf(Math.max(...logits))
  assert.equal(sample(logits, { temperature: 0 }, new Prng(1)), best)
  const rng = new Prng(7)
  const before = rng.state
  sample(logits, { temperature: 0.8, topP: 0.9 }, rng)
  assert.equal(rng.state, new Prng(before).state + 0x6d2b79f5 >>> 0, 'exactly one PRNG draw')
  const top5 = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b).slice(0, 5)
  for (let s = 0; s < 200; s++) assert.ok(top5.includes(sample(logits, { temperature: 5, topK: 5 }, new Prng(s))))
})
