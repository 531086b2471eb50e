import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { StageEngine } from '../../src/cortex/stage.js'
import { ModelDir } from '../../src/cortex/model.js'
import type { Family } from '../../src/cortex/model.js'
import { maxAbsDiff, tinyModel } from './helpers.js'
import { Tokenizer } from '../../src/cortex/tokenizer.js'

const models: { cleanup(): void }[] = []
after(() => { for (const m of models) m.cleanup() })

const cases: { family: Family; dtype: 'F32' | 'F16' | 'BF16'; sharded: boolean; kvHeads?: number }[] = [
  { family: 'gpt2', dtype: 'F32', sharded: false },
  { family: 'gpt2', dtype: 'F16', sharded: true },
  { family: 'llama', dtype: 'BF16', sharded: false, kvHeads: 2 },
  { family: 'llama', dtype: 'F32', sharded: true, kvHeads: 4 },
]

for (const c of cases) {
  test(`${c.family} ${c.dtype}${c.sharded ? ' sharded' : ''}: cached decode == full recompute (1e-4), batched == solo`, async () => {
    const m = tinyModel({ family: c.family, layers: 2, dtype: c.dtype, sharded: c.sharded, kvHeads: c.kvHeads, seed: 3 })
    models.push(m)
    const tok = Tokenizer.fromFile(join(m.dir, 'tokenizer.json'))
    const ids = tok.encode('hello world, the quick fox jumps!')
    assert.ok(ids.length > 8)
    const e = await StageEngine.load(m.dir, { start: 0, end: 2 })
    try {
      // full recompute for every prefix vs one prefill + token-by-token decode
      await e.forwardBatch([{ sid: 'inc', ids: ids.slice(0, 3), T: 3 }])
      for (let n = 4; n <= ids.length; n++) {
        const [inc] = await e.forwardBatch([{ sid: 'inc', ids: [ids[n - 1]!], T: 1 }])
        const [fullRun] = await e.forwardBatch([{ sid: 'x', ids: ids.slice(0, n), T: n, stateless: true }])
        assert.ok(maxAbsDiff(inc!.data, fullRun!.data) < 1e-4, `prefix ${n}: ${maxAbsDiff(inc!.data, fullRun!.data)}`)
        assert.equal(inc!.pos, n)
      }
      assert.equal(e.hasSession('x'), false, 'stateless runs keep no cache')
      // batch of sessions with different past lengths == each alone
      await e.forwardBatch([{ sid: 'a', ids: ids.slice(0, 2), T: 2 }])
      await e.forwardBatch([{ sid: 'b', ids: ids.slice(0, 7), T: 7 }])
      const solo = (await e.forwardBatch([{ sid: 'x', ids: ids.slice(0, 3), T: 3, stateless: true }]))[0]!.data
      const solo2 = (await e.forwardBatch([{ sid: 'x', ids: ids.slice(0, 8), T: 8, stateless: true }]))[0]!.data
      const [ra, rb] = await e.forwardBatch([{ sid: 'a', ids: [ids[2]!], T: 1 }, { sid: 'b', ids: [ids[7]!], T: 1 }])
      assert.ok(maxAbsDiff(ra!.data, solo) < 1e-4)
      assert.ok(maxAbsDiff(rb!.data, solo2) < 1e-4)
      assert.equal(e.pastLength('a'), 3)
      assert.equal(e.pastLength('b'), 8)
    } finally { await e.close() }
  })
}

test('a stage split reproduces the whole model: hidden states chain', async () => {
  const m = tinyModel({ family: 'gpt2', layers: 3, seed: 9 })
  models.push(m)
  const [a, b, whole] = await Promise.all([StageEngine.load(m.dir, { start: 0, end: 1 }), StageEngine.load(m.dir, { start: 1, end: 3 }), StageEngine.load(m.dir, { start: 0, end: 3 })])
  try {
    const ids = [1, 2, 3, 4, 5]
    const h = (await a.forwardBatch([{ sid: 's', ids, T: 5 }]))[0]!
    assert.deepEqual(h.dims, [5, 32])
    const out = (await b.forwardBatch([{ sid: 's', hidden: h.data, T: 5 }]))[0]!
    const ref = (await whole.forwardBatch([{ sid: 's', ids, T: 5 }]))[0]!
    assert.ok(maxAbsDiff(out.data, ref.data) < 1e-4)
    await assert.rejects(b.forwardBatch([{ sid: 't', hidden: new Float32Array(7), T: 1 }]), { code: 'bad_input' })
    await assert.rejects(a.forwardBatch([{ sid: 't', ids: [999999], T: 1 }]), { code: 'bad_input' })
  } finally { await Promise.all([a.close(), b.close(), whole.close()]) }
})

test('context limit and layer range are enforced', async () => {
  const m = tinyModel({ family: 'gpt2', layers: 2, maxPositions: 8, seed: 2 })
  models.push(m)
  await assert.rejects(StageEngine.load(m.dir, { start: 1, end: 3 }), { code: 'bad_layers' })
  const e = await StageEngine.load(new ModelDir(m.dir), { start: 0, end: 2, maxSessions: 1 })
  try {
    await e.forwardBatch([{ sid: 'a', ids: [1, 2, 3, 4, 5, 6], T: 6 }])
    await assert.rejects(e.forwardBatch([{ sid: 'a', ids: [1, 2, 3], T: 3 }]), { code: 'context_full' })
    await assert.rejects(e.forwardBatch([{ sid: 'b', ids: [1], T: 1 }]), { code: 'capacity' })
  } finally { await e.close() }
})

test('a stage reads only the tensors of its own layers', async () => {
  const m = tinyModel({ family: 'llama', layers: 3, sharded: true, seed: 4 })
  models.push(m)
  const read: string[] = []
  class Tracking extends ModelDir { override read(n: string): { data: Float32Array; shape: number[] } { read.push(n); return super.read(n) } }
  const e = await StageEngine.load(new Tracking(m.dir), { start: 1, end: 2 })
  await e.close()
  assert.ok(read.length > 0)
  assert.ok(read.every((n) => n.startsWith('model.layers.1.')), read.join(','))
})
