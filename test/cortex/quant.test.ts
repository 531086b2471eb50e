import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { StageEngine } from '../../src/cortex/stage.js'
import { argmax } from '../../src/cortex/sampling.js'
import { tinyModel } from './helpers.js'
import { quantizePerChannelKN } from '../../src/cortex/quant.js'

const m = tinyModel({ family: 'llama', layers: 2, hidden: 64, heads: 4, kvHeads: 2, std: 0.1, seed: 8 })
after(() => m.cleanup())

test('8-bit and 4-bit MatMulNBits stages track the fp32 logits', async () => {
  const ids = [5, 17, 33, 60, 2, 9]
  const ref = await StageEngine.load(m.dir, { start: 0, end: 2 })
  const base = (await ref.forwardBatch([{ sid: 'a', ids, T: ids.length }]))[0]!.data
  await ref.close()
  for (const bits of [8, 4] as const) {
    const q = await StageEngine.load(m.dir, { start: 0, end: 2, quantBits: bits, int8Kernel: 'nbits' })
    try {
      const out = (await q.forwardBatch([{ sid: 'a', ids, T: ids.length }]))[0]!.data
      let num = 0, den = 0
      for (let i = 0; i < out.length; i++) { num += (out[i]! - base[i]!) ** 2; den += base[i]! ** 2 }
      const rel = Math.sqrt(num / den)
      assert.ok(rel < (bits === 8 ? 0.05 : 0.5), `${bits}-bit relative error ${rel}`)
      assert.ok(rel > 0, 'quantised weights are really used')
      if (bits === 8) assert.equal(argmax(out), argmax(base))
    } finally { await q.close() }
  }
})

test('8-bit variants: per-channel QGEMM (gpt2 with biases, llama) and MatMulNBits block 128 track the fp32 logits', async () => {
  const g = tinyModel({ family: 'gpt2', layers: 2, hidden: 64, heads: 4, std: 0.1, seed: 9 })
  try {
    for (const dir of [m.dir, g.dir]) {
      const ids = [5, 17, 33, 60, 2, 9]
      const ref = await StageEngine.load(dir, { start: 0, end: 2 })
      const base = (await ref.forwardBatch([{ sid: 'a', ids, T: ids.length }]))[0]!.data
      await ref.close()
      for (const o of [{ int8Kernel: 'qgemm' as const }, { quantBlock: 128 }]) {
        const q = await StageEngine.load(dir, { start: 0, end: 2, quantBits: 8, ...o })
        try {
          const out = (await q.forwardBatch([{ sid: 'a', ids, T: ids.length }]))[0]!.data
          let num = 0, den = 0
          for (let i = 0; i < out.length; i++) { num += (out[i]! - base[i]!) ** 2; den += base[i]! ** 2 }
          const rel = Math.sqrt(num / den)
          assert.ok(rel < 0.05 && rel > 0, `${JSON.stringify(o)} relative error ${rel}`)
          assert.equal(argmax(out), argmax(base))
        } finally { await q.close() }
      }
    }
    await assert.rejects(StageEngine.load(m.dir, { start: 0, end: 2, quantBits: 8, quantBlock: 48 }), /quantBlock/)
  } finally { g.cleanup() }
})

test('per-channel int8: |w - q*scale| <= scale/2 for both weight layouts', () => {
  const K = 7, N = 5
  const w = Float32Array.from({ length: K * N }, (_, i) => Math.sin(i * 1.7) * (1 + (i % N)))
  for (const layout of ['KN', 'NK'] as const) {
    const { q, scales } = quantizePerChannelKN(w, K, N, layout)
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) {
      const x = layout === 'KN' ? w[k * N + n]! : w[n * K + k]!
      assert.ok(Math.abs(x - q[k * N + n]! * scales[n]!) <= scales[n]! / 2 + 1e-7, `${layout} ${k},${n}`)
    }
  }
})
