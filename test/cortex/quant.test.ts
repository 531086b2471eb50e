import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { StageEngine } from '../../src/cortex/stage.js'
import { argmax } from '../../src/cortex/sampling.js'
import { tinyModel } from './helpers.js'

const m = tinyModel({ family: 'llama', layers: 2, hidden: 64, heads: 4, kvHeads: 2, std: 0.1, seed: 8 })
after(() => m.cleanup())

test('8-bit and 4-bit MatMulNBits stages track the fp32 logits', async () => {
  const ids = [5, 17, 33, 60, 2, 9]
  const ref = await StageEngine.load(m.dir, { start: 0, end: 2 })
  const base = (await ref.forwardBatch([{ sid: 'a', ids, T: ids.length }]))[0]!.data
  await ref.close()
  for (const bits of [8, 4] as const) {
    const q = await StageEngine.load(m.dir, { start: 0, end: 2, quantBits: bits })
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
