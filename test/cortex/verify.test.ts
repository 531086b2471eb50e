/**
 * Verified inference (issue 21 item 4): the GF(p) polynomial, the commitment and its tolerance, signed
 * commitments and their hostile decoding, and the verifier end to end on self-made models (honest, fp16-rounded,
 * swapped), with the trust event on a failed check.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Prng } from '../../src/cortex/sampling.js'
import { StageEngine } from '../../src/cortex/stage.js'
import { evaluate, interpolate, P } from '../../src/cortex/verify/poly.js'
import { BLOCK, checkBlock, commitBlock, decodeCommitment } from '../../src/cortex/verify/commit.js'
import { decodeSignedCommitment, encodeSignedCommitment, isEquivocation, signCommitment, verifyCommitment, INPUT_GENESIS, type SignedCommitment } from '../../src/cortex/verify/attest.js'
import { StageProver } from '../../src/cortex/verify/prover.js'
import { lastRow, rowWidth, type StepInput } from '../../src/cortex/verify/trace.js'
import { verifyTrace } from '../../src/cortex/verify/verifier.js'
import { f16ToF32, f32ToF16 } from '../../src/cortex/safetensors.js'
import { writeTinyModel } from '../../src/cortex/testing/tiny-model.js'
import { identity, refClock, tempDir } from './helpers.js'
import { makeEconomy } from '../economy/helpers.js'

test('poly: the interpolated polynomial passes through every point and not through others', () => {
  const rng = new Prng(1)
  const xs = [...new Set(Array.from({ length: 200 }, () => Math.floor(rng.next() * 60000)))].slice(0, 128)
  const ys = xs.map(() => Math.floor(rng.next() * P))
  const c = interpolate(xs, ys)
  assert.equal(c.length, 128)
  xs.forEach((x, i) => assert.equal(evaluate(c, x), ys[i]))
  const off = Array.from({ length: 50 }, (_, i) => 60001 + i).filter((x) => evaluate(c, x) === 0).length
  assert.ok(off < 3)
  assert.throws(() => interpolate([5, 5 + P], [1, 2]), /distinct/)
})

test('commit: 258 bytes per block; fp16 rounding passes; other values, scaled values and garbage fail', () => {
  const rng = new Prng(2)
  const block = Float32Array.from({ length: BLOCK * 64 }, () => rng.normal())
  const c = commitBlock(block)
  assert.equal(c.byteLength, 258)
  assert.equal(checkBlock(c, block).ok, true)
  const rounded = block.map((v) => f16ToF32(f32ToF16(v * (1 + 1e-4))))
  assert.equal(checkBlock(c, rounded).ok, true)
  assert.equal(checkBlock(c, block.map((v) => v * 1.05)).ok, false, 'a 5% deviation (e.g. 4-bit weights) fails')
  assert.equal(checkBlock(c, Float32Array.from({ length: block.length }, () => rng.normal())).ok, false)
  // hostile encodings
  assert.throws(() => decodeCommitment(new Uint8Array(1)), /too short/)
  assert.throws(() => decodeCommitment(c.subarray(0, 100)), /does not hold/)
  const bad = c.slice(); bad[2] = 0xff; bad[3] = 0xff
  assert.throws(() => decodeCommitment(bad), /out of the field/)
  assert.throws(() => decodeCommitment(new Uint8Array([0, 0])), /does not hold/)
})

test('signed commitments: round trip, tamper and forgery detection, equivocation, hostile decoding', () => {
  const me = identity(90), other = identity(91)
  const ref = { model: 'm', weightsRoot: new Uint8Array(32), start: 0, end: 2, nonce: new Uint8Array(16).fill(3) }
  const blk = commitBlock(Float32Array.from({ length: BLOCK * 8 }, (_, i) => Math.cos(i)))
  const a = signCommitment(me, ref, 0, INPUT_GENESIS, blk)
  const back = decodeSignedCommitment(encodeSignedCommitment(a))
  assert.equal(verifyCommitment(back), true)
  assert.equal(verifyCommitment({ ...back, index: 1 }), false)
  assert.equal(verifyCommitment({ ...back, signer: other.publicKey }), false)
  const c2 = commitBlock(Float32Array.from({ length: BLOCK * 8 }, (_, i) => Math.sin(i)))
  const b = signCommitment(me, ref, 0, INPUT_GENESIS, c2)
  assert.equal(isEquivocation(a, b), true)
  assert.equal(isEquivocation(a, a), false)
  assert.equal(isEquivocation(a, signCommitment(me, { ...ref, nonce: new Uint8Array(16) }, 0, INPUT_GENESIS, c2)), false, 'another session is no conflict')
  assert.equal(isEquivocation(a, signCommitment(other, ref, 0, INPUT_GENESIS, c2)), false)
  assert.throws(() => decodeSignedCommitment(new Uint8Array(5000)), /too large/)
  assert.throws(() => decodeSignedCommitment(new Uint8Array([0xa0])), /v1/)
})

const tmp = tempDir('zeone-verify-')
const claimed = join(tmp.dir, 'claimed'), fp16 = join(tmp.dir, 'fp16'), swapped = join(tmp.dir, 'swapped')
const opts = { family: 'llama' as const, layers: 2, hidden: 64, heads: 4, vocab: 320, maxPositions: 128, noTokenizer: true }
let verifierEngine: StageEngine
before(async () => {
  writeTinyModel(claimed, { ...opts, seed: 11 })
  writeTinyModel(fp16, { ...opts, seed: 11, dtype: 'F16' })
  writeTinyModel(swapped, { ...opts, seed: 12 })
  verifierEngine = await StageEngine.load(claimed, { start: 0, end: 1 })
})
after(async () => { await verifierEngine.close(); tmp.cleanup() })

/** Serves a trace on `dir`'s first stage as a provider does, with its prover. */
async function serve(dir: string, who: ReturnType<typeof identity>, steps: StepInput[]): Promise<SignedCommitment[]> {
  const e = await StageEngine.load(dir, { start: 0, end: 1 })
  const prover = new StageProver(who, { model: 'tiny', weightsRoot: new Uint8Array(32), start: 0, end: 1 }, rowWidth(e))
  const out: SignedCommitment[] = []
  try {
    for (const s of steps) {
      const [o] = await e.forwardBatch([{ sid: 's', ...s }])
      const c = prover.step(s, lastRow(o!, rowWidth(e)))
      if (c) out.push(c)
    }
  } finally { await e.close() }
  return out
}

function trace(seed: number): StepInput[] {
  const rng = new Prng(seed)
  return [{ ids: [1, 2, 3, 4, 5], T: 5 }, ...Array.from({ length: 2 * BLOCK - 1 }, () => ({ ids: [Math.floor(rng.next() * 320)], T: 1 }))]
}

test('verifier: honest fp32 and fp16 providers pass; a swapped model fails with a trust event; wrong inputs, forged and missing blocks are caught', async () => {
  const provider = identity(92)
  const eco = makeEconomy(join(tmp.dir, 'v.sqlite'), identity(93), refClock)
  try {
    const rng = new Prng(5)
    const v = { engine: verifierEngine, random: () => rng.next(), samples: 2, trust: eco.trust }
    const steps = trace(1)
    assert.deepEqual(await verifyTrace(v, provider.publicKey, steps, await serve(claimed, provider, steps)), { ok: true, checked: [0, 1] })
    assert.equal((await verifyTrace(v, provider.publicKey, steps, await serve(fp16, provider, steps))).ok, true, 'fp16 weights are honest rounding')
    const before = eco.trust.view(provider.publicKey).behavior
    const bad = await verifyTrace(v, provider.publicKey, steps, await serve(swapped, provider, steps))
    assert.equal(bad.ok, false)
    assert.equal(!bad.ok && bad.reason, 'failed_check')
    assert.ok(!bad.ok && bad.commitment && verifyCommitment(bad.commitment), 'the evidence is the provider-signed commitment')
    assert.ok(eco.trust.view(provider.publicKey).behavior < before, 'a failed check is a trust event')
    // commitments over other inputs than the verifier's record of what was sent
    const honest = await serve(claimed, provider, steps)
    const r1 = await verifyTrace(v, provider.publicKey, trace(2), honest)
    assert.equal(!r1.ok && r1.reason, 'wrong_inputs')
    // signed by another key than the provider's, or tampered after signing
    const r2 = await verifyTrace(v, provider.publicKey, steps, [{ ...honest[0]!, commitment: honest[1]!.commitment }])
    assert.equal(!r2.ok && r2.reason, 'bad_signature')
    // a block the provider never committed (a cut stream): not a trust event
    const r3 = await verifyTrace(v, provider.publicKey, steps, honest.slice(0, 1))
    assert.equal(!r3.ok && r3.reason, 'missing_block')
  } finally { eco.close() }
})
