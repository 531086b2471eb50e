import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import onnxProto from 'onnx-proto'
import { buildStageGraph } from '../../src/cortex/graph.js'
import { ModelDir } from '../../src/cortex/model.js'
import { tinyModel } from './helpers.js'

const models: { cleanup(): void }[] = []
after(() => { for (const m of models) m.cleanup() })

function opCounts(bytes: Uint8Array): Record<string, number> {
  const c: Record<string, number> = {}
  for (const n of onnxProto.onnx.ModelProto.decode(bytes).graph!.node!) c[n.opType!] = (c[n.opType!] ?? 0) + 1
  return c
}

// the decode-cost structure of the 'buffer' graph (each node costs per token at batch 1, docs/cortex.md): per block
// only K and V are transposed (the heads stay in projection order), GPT-2's residual adds are fused with the next
// norm, and the probabilities are split once at the fed kv_split; correctness is checked by reference/kv-cache tests
test('buffer graph: per block 2 transposes, no Shape/Slice in attention; residual add + norm fused (GPT-2 and Llama)', () => {
  for (const family of ['gpt2', 'llama'] as const) {
    const m = tinyModel({ family, layers: 3, kvHeads: family === 'llama' ? 2 : undefined, seed: 3 })
    models.push(m)
    const model = new ModelDir(m.dir)
    try {
      const c = opCounts(buildStageGraph(model, { start: 0, end: 3 }).bytes)
      assert.equal(c.Transpose, 2 * 3, `${family} transposes`)
      assert.equal(c.Shape ?? 0, 0, `${family} Shape nodes`)
      assert.equal(c.Split, (family === 'gpt2' ? 2 : 1) * 3, `${family} splits`)
      if (family === 'gpt2') {
        assert.equal(c.SkipLayerNormalization, 2 * 3, 'SkipLayerNormalization per block (ln2, next ln1 / ln_f)')
        assert.equal(c.LayerNormalization, 1, 'only the first ln1 is unfused')
        assert.equal(c.Slice, 1, 'the head reads the last position')
      } else {
        // Llama: every RMSNorm is one node; the attention's residual add is fused with ln2, the last block's with
        // the final norm (ln1 stays unfused: a stage boundary may fall there)
        assert.equal(c.SkipSimplifiedLayerNormalization, 3 + 1, 'SkipSimplifiedLayerNormalization: ln2 per block + final norm')
        assert.equal(c.SimplifiedLayerNormalization, 3, 'ln1 per block')
        for (const op of ['ReduceMean', 'Sqrt', 'Reciprocal']) assert.equal(c[op] ?? 0, 0, `no decomposed RMSNorm (${op})`)
        assert.equal(c.Add, 4 * 3 + 2, 'Adds: per block rotary q and k, mask, past + new attention; 2 residual adds before an ln1')
      }
      const mid = opCounts(buildStageGraph(model, { start: 0, end: 2 }).bytes)
      if (family === 'gpt2') assert.equal(mid.SkipLayerNormalization, 2 * 2 - 1, 'a middle stage ends with a plain residual Add')
      else assert.equal(mid.SkipSimplifiedLayerNormalization, 2, 'a middle stage: ln2 only, it ends with a plain residual Add')
    } finally { model.close() }
  }
})
