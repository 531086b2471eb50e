/**
 * The ONNX graph of a BERT encoder with sentence-embedding pooling, built with the same builder and linear/LayerNorm
 * helpers as the decoder stages (graph.ts Ctx, so --quant 8/4-bit MatMulNBits applies here too).
 * Inputs: `input_ids`, `token_type_ids`, `position_ids` [B,T] int64; `attention_mask` [B,T] float (1 = token, 0 = pad).
 * Output: `embeddings` [B,D] = L2-normalised mean of the last hidden states over the mask (sentence-transformers'
 * Pooling(mean) + Normalize: count clamped at 1e-9, norm at 1e-12).
 */
import { DT, GraphBuilder } from '../onnx-builder.js'
import { Ctx } from '../graph.js'
import type { ModelConfig } from '../model.js'
import type { QuantBits } from '../quant.js'
import { bertLayerNames, type BertDir } from './bert-model.js'

/** 'fused': com.microsoft MultiHeadAttention (one kernel for scores, mask, softmax, context); 'plain': standard ops. */
export type EncoderAttention = 'fused' | 'plain'

export function buildEncoderGraph(model: BertDir, o: { quantBits?: 0 | QuantBits; attention?: EncoderAttention } = {}): Uint8Array {
  const cfg = model.config
  const g = new GraphBuilder()
  // Ctx reads eps (LayerNorm) and headDim (heads) from a decoder config; the rest is unused here
  const c = new Ctx(g, { eps: cfg.eps, headDim: cfg.headDim } as ModelConfig, o.quantBits ?? 0, 'buffer')
  const D = cfg.hidden, H = cfg.heads, Dh = cfg.headDim, F = cfg.intermediate
  const rd = (n: string): Float32Array => model.read(n)
  const ids = g.input('input_ids', DT.INT64, ['B', 'T'])
  const types = g.input('token_type_ids', DT.INT64, ['B', 'T'])
  const pos = g.input('position_ids', DT.INT64, ['B', 'T'])
  const mask = g.input('attention_mask', DT.FLOAT, ['B', 'T'])
  const gather = (name: string, rows: number, idx: string): string => g.o('Gather', [g.f32(name, [rows, D], rd(name)), idx], { axis: 0 })
  const emb = g.o('Add', [g.o('Add', [gather('embeddings.word_embeddings.weight', cfg.vocabSize, ids), gather('embeddings.position_embeddings.weight', cfg.maxPositions, pos)]),
    gather('embeddings.token_type_embeddings.weight', cfg.typeVocabSize, types)])
  let x = c.layerNorm(emb, 'emb.ln', rd('embeddings.LayerNorm.weight'), rd('embeddings.LayerNorm.bias'))
  // additive key mask [B,1,1,T]: 0 for tokens, -1e9 for padding (softmax gives padding exactly 0 weight)
  const fused = (o.attention ?? 'fused') === 'fused'
  const addMask = fused ? '' : g.o('Unsqueeze', [g.o('Mul', [g.o('Sub', [mask, g.scalar(1)]), g.scalar(1e9)]), g.i64([1, 2])])
  // MultiHeadAttention's key_padding_mask: int32 [B,T], 1 = attend; masked scores get mask_filter_value before softmax
  const keyMask = fused ? g.o('Cast', [mask], { to: DT.INT32 }) : ''
  for (let l = 0; l < cfg.layers; l++) {
    const n = bertLayerNames(l)
    const p = `L${l}`
    const lin = (h: string, name: string, wi: number, K: number, N: number): string => c.linear(h, `${p}.${name}`, rd(n[wi]!), K, N, 'NK', rd(n[wi + 1]!))
    let ctx: string
    if (fused) {
      ctx = g.o('MultiHeadAttention', [lin(x, 'q', 0, D, D), lin(x, 'k', 2, D, D), lin(x, 'v', 4, D, D), '', keyMask],
        { num_heads: H, mask_filter_value: { f: -1e9 } }, 'com.microsoft')
    } else {
      const q = c.heads(g.o('Mul', [lin(x, 'q', 0, D, D), g.scalar(1 / Math.sqrt(Dh))]), H)
      const k = c.heads(lin(x, 'k', 2, D, D), H)
      const v = c.heads(lin(x, 'v', 4, D, D), H)
      const scores = g.o('Add', [g.o('MatMul', [q, g.o('Transpose', [k], { perm: [0, 1, 3, 2] })]), addMask])
      const ctx4 = g.o('MatMul', [g.o('Softmax', [scores], { axis: -1 }), v])
      ctx = g.o('Reshape', [g.o('Transpose', [ctx4], { perm: [0, 2, 1, 3] }), g.i64([0, 0, D])])
    }
    x = c.layerNorm(g.o('Add', [x, lin(ctx, 'o', 6, D, D)]), `${p}.ln1`, rd(n[8]!), rd(n[9]!))
    const f = g.o('Gelu', [lin(x, 'fc', 10, D, F)])
    x = c.layerNorm(g.o('Add', [x, lin(f, 'out', 12, F, D)]), `${p}.ln2`, rd(n[14]!), rd(n[15]!))
  }
  const m3 = g.o('Unsqueeze', [mask, g.i64([2])])
  const sum = g.o('ReduceSum', [g.o('Mul', [x, m3]), g.i64([1])], { keepdims: 0 })
  const count = g.o('Max', [g.o('ReduceSum', [mask, g.i64([1])], { keepdims: 1 }), g.scalar(1e-9)])
  const mean = g.o('Div', [sum, count])
  const norm = g.o('Max', [g.o('Sqrt', [g.o('ReduceSum', [g.o('Mul', [mean, mean]), g.i64([-1])], { keepdims: 1 })]), g.scalar(1e-12)])
  g.alias(g.o('Div', [mean, norm]), 'embeddings')
  g.output('embeddings', DT.FLOAT, ['B', D])
  return g.toBytes()
}
