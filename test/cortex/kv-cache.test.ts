import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { StageEngine } from '../../src/cortex/stage.js'
import { KV_CHUNK } from '../../src/cortex/kv-cache.js'
import type { Family } from '../../src/cortex/model.js'
import { maxAbsDiff, tinyModel } from './helpers.js'

const models: { cleanup(): void }[] = []
after(() => { for (const m of models) m.cleanup() })

// the preallocated cache against the former Concat graph: same logits (1e-5) through prefill, decode past a capacity
// step, and a batch of sessions with different lengths; a 2-stage split against the whole model stays bit-identical
for (const [family, kvHeads] of [['gpt2', undefined], ['llama', 2]] as [Family, number | undefined][]) {
  test(`${family}: buffer KV cache == concat KV cache (1e-5), across growth and in batches`, async () => {
    const m = tinyModel({ family, layers: 2, kvHeads, maxPositions: 160, seed: 11 })
    models.push(m)
    const [buf, ref] = await Promise.all([StageEngine.load(m.dir, { start: 0, end: 2 }), StageEngine.load(m.dir, { start: 0, end: 2, kvLayout: 'concat' })])
    try {
      const ids = Array.from({ length: KV_CHUNK + 12 }, (_, i) => (i * 37 + 5) % 200)
      const both = async (items: { sid: string; ids: number[] }[]): Promise<void> => {
        const f = items.map((it) => ({ ...it, T: it.ids.length }))
        const [a, b] = await Promise.all([buf.forwardBatch(f), ref.forwardBatch(f)])
        a.forEach((o, i) => {
          const d = maxAbsDiff(o.data, b[i]!.data)
          assert.ok(d < 1e-5, `${items[i]!.sid} at ${o.pos}: ${d}`)
          assert.equal(o.pos, b[i]!.pos)
        })
      }
      await both([{ sid: 's', ids: ids.slice(0, 3) }])
      for (let n = 3; n < ids.length; n++) await both([{ sid: 's', ids: [ids[n]!] }])
      assert.equal(buf.pastLength('s'), ids.length)
      await both([{ sid: 'a', ids: ids.slice(0, 5) }])
      await both([{ sid: 'a', ids: [9, 8] }, { sid: 's', ids: [7, 6] }, { sid: 'new', ids: [1, 2] }])
      await both([{ sid: 'a', ids: [3] }, { sid: 's', ids: [4] }])
      await both([{ sid: 'a', ids: [5] }])
      assert.equal(buf.pastLength('a'), 9)
    } finally { await Promise.all([buf.close(), ref.close()]) }
  })
}

test('buffer KV cache: a 2-stage split is bit-identical to one stage', async () => {
  const m = tinyModel({ family: 'llama', layers: 3, kvHeads: 2, maxPositions: 160, seed: 12 })
  models.push(m)
  const [a, b, whole] = await Promise.all([StageEngine.load(m.dir, { start: 0, end: 1 }), StageEngine.load(m.dir, { start: 1, end: 3 }), StageEngine.load(m.dir, { start: 0, end: 3 })])
  try {
    let ids = [1, 2, 3, 4]
    for (let step = 0; step < KV_CHUNK + 4; step++) {
      const h = (await a.forwardBatch([{ sid: 's', ids, T: ids.length }]))[0]!
      const out = (await b.forwardBatch([{ sid: 's', hidden: h.data, T: ids.length }]))[0]!
      const ref = (await whole.forwardBatch([{ sid: 's', ids, T: ids.length }]))[0]!
      assert.deepEqual(out.data, ref.data, `step ${step}`)
      ids = [(step * 13 + 7) % 200]
    }
  } finally { await Promise.all([a.close(), b.close(), whole.close()]) }
})
