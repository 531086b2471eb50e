/**
 * Builds the ONNX graph of one pipeline stage (layers [start, end) of a GPT-2 or Llama model) with KV-cache inputs
 * and outputs. Inputs: `input_ids` (+ `position_ids` for GPT-2) on the first stage, `hidden_in` [B,T,D] otherwise;
 * `mask` [B,T,1,1,S] (additive); `cos`/`sin` [B,T,1,1,Dh] for Llama. Outputs: `hidden_out` [B,T,D], or `logits` [B,V]
 * of the last position on the last stage. The cache tensors carry a unit axis ([B,1,KVH,..]) so that attention
 * broadcasts them over the T query rows and the heads never need transposing (Ctx.attention). Per layer i, by KV layout:
 *  - 'buffer' (default): `past_k.i` [B,1,KVH,Dh,C] (K transposed) and `past_v.i` [B,1,KVH,C,Dh] are preallocated
 *    cache buffers read in place (S = C+T; the mask hides unused positions; `kv_split` = [C, T]); one output `new_kv`
 *    [2*L*B,1,KVH,T,Dh] (layer i's K rows at [2i*B, (2i+1)*B), its V rows next) holds only this step's rows, which the
 *    caller writes into the buffers (one output, not 2L: onnxruntime-node converts each output separately). No node copies the cache.
 *  - 'concat' (the former layout, kept as a reference): `past_k.i`/`past_v.i` [B,1,KVH,P,Dh], outputs
 *    `present_k.i`/`present_v.i` [B,1,KVH,P+T,Dh] built with Concat, so every step re-emits the whole cache.
 * The memory order of every fed tensor is the same as without the unit axes (callers pass the same arrays).
 */
import { DT, GraphBuilder } from './onnx-builder.js'
import type { ModelConfig, ModelDir } from './model.js'
import { headTensorName, layerTensorNames } from './model.js'
import { quantizeNK, quantizePerChannelKN, transpose, type QuantBits } from './quant.js'

export interface StageSpec {
  start: number
  end: number
  /** Weight quantisation of linear layers: 0 = fp32. @default 0 */
  quantBits?: 0 | QuantBits
  /** KV cache layout (see the file comment). @default 'buffer' */
  kvLayout?: KvLayout
  /** 8-bit kernel: 'nbits' = MatMulNBits (int8 weights per block, activations quantised per block by the kernel);
   * 'qgemm' = DynamicQuantizeMatMul (int8 weights per output channel, activations per tensor, i.e. per token in
   * decode; MLAS QGEMM): its kernels alone run ~1.3x faster than 'nbits' block 32 here with the same top-1 agreement
   * with fp32 (docs/benchmarks.md), so it is the stage default. @default 'qgemm' */
  int8Kernel?: Int8Kernel
  /** MatMulNBits block size (a power of two, 16..256). @default 32 */
  quantBlock?: number
}

export type Int8Kernel = 'nbits' | 'qgemm'

export type KvLayout = 'buffer' | 'concat'

export interface StageGraph {
  bytes: Uint8Array
  first: boolean
  last: boolean
  layerCount: number
  kvLayout: KvLayout
}

/** Graph-building helpers shared by the decoder stages and the encoder (embed/encoder-graph.ts). */
export class Ctx {
  /** 'buffer' layout: each layer's new K and V rows, in layer order (concatenated into `new_kv`). */
  readonly newKv: string[] = []

  constructor(readonly g: GraphBuilder, readonly cfg: ModelConfig, readonly bits: 0 | QuantBits, readonly kv: KvLayout,
    readonly int8: Int8Kernel = 'nbits', readonly block = 32) {}

  /** x @ W (+ b). `w` is row-major [K][N] when `layout` is 'KN' (GPT-2 Conv1D), [N][K] when 'NK' (nn.Linear). */
  linear(x: string, name: string, w: Float32Array, K: number, N: number, layout: 'KN' | 'NK', bias?: Float32Array): string {
    const g = this.g
    let y: string
    if (this.bits === 8 && this.int8 === 'qgemm') {
      const q = quantizePerChannelKN(w, K, N, layout)
      const inputs = [x, g.init(`${name}.q`, DT.INT8, [K, N], new Uint8Array(q.q.buffer)), g.f32(`${name}.scales`, [N], q.scales)]
      if (bias) inputs.push('', g.f32(`${name}.bias`, [N], bias))
      return g.o('DynamicQuantizeMatMul', inputs, {}, 'com.microsoft')
    }
    if (this.bits) {
      const q = quantizeNK(layout === 'NK' ? w : transpose(w, K, N), N, K, this.bits, this.block)
      const bq = g.init(`${name}.q`, DT.UINT8, [N, q.blocksPerRow, (q.block * q.bits) / 8], q.packed)
      const sc = g.f32(`${name}.scales`, [N * q.blocksPerRow], q.scales)
      y = g.o('MatMulNBits', [x, bq, sc], { K, N, bits: this.bits, block_size: q.block, accuracy_level: 4 }, 'com.microsoft')
    } else {
      const wt = layout === 'KN' ? w : transpose(w, N, K)
      y = g.o('MatMul', [x, g.f32(name, [K, N], wt)])
    }
    return bias ? g.o('Add', [y, g.f32(`${name}.bias`, [N], bias)]) : y
  }

  layerNorm(x: string, name: string, w: Float32Array, b: Float32Array): string {
    const D = w.length
    return this.g.o('LayerNormalization', [x, this.g.f32(`${name}.w`, [D], w), this.g.f32(`${name}.b`, [D], b)], { axis: -1, epsilon: { f: this.cfg.eps } })
  }

  /** RMSNorm in one node (SimplifiedLayerNormalization, an ONNX-domain contrib op: x / sqrt(mean(x^2) + eps) * w, as HF's LlamaRMSNorm). */
  simplifiedNorm(x: string, name: string, w: Float32Array): string {
    return this.g.o('SimplifiedLayerNormalization', [x, this.g.f32(`${name}.w`, [w.length], w)], { axis: -1, epsilon: { f: this.cfg.eps } })
  }

  /** (x + skip, RMSNorm(x + skip)) in one SkipSimplifiedLayerNormalization node: Llama's residual add and the next norm. */
  skipRmsNorm(x: string, skip: string, name: string, w: Float32Array): { sum: string; normed: string } {
    const outs = this.g.op('SkipSimplifiedLayerNormalization', [x, skip, this.g.f32(`${name}.w`, [w.length], w)],
      { epsilon: { f: this.cfg.eps } }, 4, 'com.microsoft')
    return { normed: outs[0]!, sum: outs[3]! }
  }

  /** [B,T,n*Dh] -> [B,n,T,Dh] */
  heads(x: string, n: number): string {
    const g = this.g
    return g.o('Transpose', [g.o('Reshape', [x, g.i64([0, 0, n, this.cfg.headDim])])], { perm: [0, 2, 1, 3] })
  }

  /** Rotary embedding (HF rotate_half) on the last axis; cos/sin broadcast over the head axes. */
  rope(x: string, cos: string, sin: string): string {
    const g = this.g
    const half = this.cfg.headDim / 2
    const ax = g.i64([-1])
    const x1 = g.o('Slice', [x, g.i64([0]), g.i64([half]), ax])
    const x2 = g.o('Slice', [x, g.i64([half]), g.i64([this.cfg.headDim]), ax])
    const rot = g.o('Concat', [g.o('Neg', [x2]), x1], { axis: -1 })
    return g.o('Add', [g.o('Mul', [x, cos]), g.o('Mul', [rot, sin])])
  }

  /**
   * Attention with cache: returns [B,T,H*Dh]. Heads stay in the projection's [B,T,..] order (no transpose of Q
   * or of the context): q is [B,T,KVH,G,Dh] (G = H/KVH query heads per KV head, already scaled by 1/sqrt(Dh)),
   * k/v [B,T,KVH,1,Dh]; MatMul broadcasts the cache [B,1,KVH,..] over T. `mask` is [B,T,1,1,S] (additive).
   */
  attention(i: number, q: string, k: string, v: string, mask: string): string {
    const g = this.g
    // [B,T,KVH,1,Dh] -> [B,1,KVH,T,Dh]: the new rows in cache order (new_kv / present)
    const kn = g.o('Transpose', [k], { perm: [0, 3, 2, 1, 4] })
    const vn = g.o('Transpose', [v], { perm: [0, 3, 2, 1, 4] })
    const ctx = this.kv === 'buffer' ? this.attentionBuffered(i, q, kn, vn, mask) : this.attentionConcat(i, q, kn, vn, mask)
    return g.o('Reshape', [ctx, g.i64([0, 0, this.cfg.heads * this.cfg.headDim])])
  }

  /**
   * Scores against the cache buffer (`past_k.i` [B,1,KVH,Dh,C], K transposed) and against the new rows are computed
   * separately and joined (a small [B,T,KVH,G,C+T] tensor), so the cache itself is only read; the probabilities are
   * split back (at `kv_split` = [C, T], fed by the caller: one Split instead of Shape and two Slices) for the two V
   * products. Returns [B,T,KVH,G,Dh].
   */
  attentionBuffered(i: number, q: string, kn: string, vn: string, mask: string): string {
    const g = this.g
    this.newKv.push(kn, vn)
    const sPast = g.o('MatMul', [q, `past_k.${i}`])
    const sNew = g.o('FusedMatMul', [q, kn], { transB: 1 }, 'com.microsoft')
    const probs = g.o('Softmax', [g.o('Add', [g.o('Concat', [sPast, sNew], { axis: 4 }), mask])], { axis: -1 })
    const [pPast, pNew] = g.op('Split', [probs, 'kv_split'], { axis: 4 }, 2) as [string, string]
    return g.o('Add', [g.o('MatMul', [pPast, `past_v.${i}`]), g.o('MatMul', [pNew, vn])])
  }

  /** The former layout: `past_*.i` [B,1,KVH,P,Dh] joined with the new rows by Concat and returned as `present_*.i`. */
  attentionConcat(i: number, q: string, kn: string, vn: string, mask: string): string {
    const g = this.g
    const kAll = g.o('Concat', [`past_k.${i}`, kn], { axis: 3 })
    const vAll = g.o('Concat', [`past_v.${i}`, vn], { axis: 3 })
    g.alias(kAll, `present_k.${i}`)
    g.alias(vAll, `present_v.${i}`)
    const scores = g.o('FusedMatMul', [q, kAll], { transB: 1 }, 'com.microsoft')
    return g.o('MatMul', [g.o('Softmax', [g.o('Add', [scores, mask])], { axis: -1 }), vAll])
  }

  /** (x + skip, LayerNorm(x + skip)) in one SkipLayerNormalization node (x [B,T,D]): a residual add and the next norm. */
  skipLayerNorm(x: string, skip: string, name: string, w: Float32Array, b: Float32Array): { sum: string; normed: string } {
    const D = w.length
    const outs = this.g.op('SkipLayerNormalization', [x, skip, this.g.f32(`${name}.w`, [D], w), this.g.f32(`${name}.b`, [D], b)],
      { epsilon: { f: this.cfg.eps } }, 4, 'com.microsoft')
    return { normed: outs[0]!, sum: outs[3]! }
  }
}

/**
 * A copy of a projection with its output features [0, q) scaled by `s`: the attention score scale 1/sqrt(Dh) folded
 * into the Q weights, so no graph node multiplies Q (rotary embedding is linear, so it commutes). `w` is [K][n]
 * ('KN') or [n][K] ('NK'); a bias is 'KN' with K = 1.
 */
function scaleOut(w: Float32Array, K: number, n: number, q: number, layout: 'KN' | 'NK', s: number): Float32Array {
  const out = Float32Array.from(w)
  if (layout === 'NK') for (let i = 0; i < q * K; i++) out[i]! *= s
  else for (let r = 0; r < K; r++) for (let c = 0; c < q; c++) out[r * n + c]! *= s
  return out
}

/** Builds the stage graph, reading only this stage's tensors from `model`. */
export function buildStageGraph(model: ModelDir, spec: StageSpec): StageGraph {
  const cfg = model.config
  const { start, end } = spec
  const first = start === 0, last = end === cfg.layers
  const g = new GraphBuilder()
  const kv = spec.kvLayout ?? 'buffer'
  const block = spec.quantBlock ?? 32
  if (!(Number.isInteger(Math.log2(block)) && block >= 16 && block <= 256)) throw new RangeError('quantBlock must be a power of two in 16..256')
  const c = new Ctx(g, cfg, spec.quantBits ?? 0, kv, spec.int8Kernel ?? 'qgemm', block)
  const D = cfg.hidden, Dh = cfg.headDim, KVH = cfg.kvHeads, H = cfg.heads, F = cfg.intermediate
  const rd = (n: string): Float32Array => model.read(n).data
  const qs = 1 / Math.sqrt(Dh)
  let x: string
  if (first) {
    const ids = g.input('input_ids', DT.INT64, ['B', 'T'])
    if (cfg.family === 'gpt2') {
      const pos = g.input('position_ids', DT.INT64, ['B', 'T'])
      const wte = g.f32('wte', [cfg.vocabSize, D], rd('wte.weight'))
      const wpe = g.f32('wpe', [cfg.maxPositions, D], rd('wpe.weight'))
      x = g.o('Add', [g.o('Gather', [wte, ids], { axis: 0 }), g.o('Gather', [wpe, pos], { axis: 0 })])
    } else {
      x = g.o('Gather', [g.f32('embed', [cfg.vocabSize, D], rd('model.embed_tokens.weight')), ids], { axis: 0 })
    }
  } else {
    x = g.input('hidden_in', DT.FLOAT, ['B', 'T', D])
  }
  const mask = g.input('mask', DT.FLOAT, ['B', 'T', 1, 1, 'S'])
  if (kv === 'buffer') g.input('kv_split', DT.INT64, [2])
  const cos = cfg.family === 'llama' ? g.input('cos', DT.FLOAT, ['B', 'T', 1, 1, Dh]) : ''
  const sin = cfg.family === 'llama' ? g.input('sin', DT.FLOAT, ['B', 'T', 1, 1, Dh]) : ''
  const G = H / KVH
  /** The next block's input norm, fused with the residual add that produced x when there was one. */
  let normed = ''
  for (let l = start; l < end; l++) {
    const i = l - start
    if (kv === 'buffer') {
      g.input(`past_k.${i}`, DT.FLOAT, ['B', 1, KVH, Dh, 'C'])
      g.input(`past_v.${i}`, DT.FLOAT, ['B', 1, KVH, 'C', Dh])
    } else {
      g.input(`past_k.${i}`, DT.FLOAT, ['B', 1, KVH, 'P', Dh])
      g.input(`past_v.${i}`, DT.FLOAT, ['B', 1, KVH, 'P', Dh])
      g.output(`present_k.${i}`, DT.FLOAT, ['B', 1, KVH, 'S', Dh])
      g.output(`present_v.${i}`, DT.FLOAT, ['B', 1, KVH, 'S', Dh])
    }
    const n = layerTensorNames(cfg, l)
    const p = `L${l}`
    if (cfg.family === 'gpt2') {
      const h = normed || c.layerNorm(x, `${p}.ln1`, rd(n[0]!), rd(n[1]!))
      const qkv = c.linear(h, `${p}.attn`, scaleOut(rd(n[2]!), D, 3 * D, D, 'KN', qs), D, 3 * D, 'KN', scaleOut(rd(n[3]!), 1, 3 * D, D, 'KN', qs))
      // [B,T,3D] -> [B,T,3H,1,Dh] -> q, k, v [B,T,H,1,Dh] (the attention's head layout, G = 1): two nodes
      const [q, k, v] = g.op('Split', [g.o('Reshape', [qkv, g.i64([0, 0, 3 * H, 1, Dh])]), g.i64([H, H, H])], { axis: 2 }, 3) as [string, string, string]
      const a = c.attention(i, q, k, v, mask)
      const r1 = c.skipLayerNorm(x, c.linear(a, `${p}.proj`, rd(n[4]!), D, D, 'KN', rd(n[5]!)), `${p}.ln2`, rd(n[6]!), rd(n[7]!))
      const f = g.o('Gelu', [c.linear(r1.normed, `${p}.fc`, rd(n[8]!), D, F, 'KN', rd(n[9]!))], { approximate: 'tanh' })
      const m = c.linear(f, `${p}.mlp`, rd(n[10]!), F, D, 'KN', rd(n[11]!))
      if (l + 1 < end) {
        const n1 = layerTensorNames(cfg, l + 1)
        const r2 = c.skipLayerNorm(r1.sum, m, `L${l + 1}.ln1`, rd(n1[0]!), rd(n1[1]!))
        x = r2.sum
        normed = r2.normed
      } else if (last) {
        // the last stage's final norm (of every position; the head reads the last one)
        const r2 = c.skipLayerNorm(r1.sum, m, 'ln_f', rd('ln_f.weight'), rd('ln_f.bias'))
        x = r2.sum
        normed = r2.normed
      } else {
        x = g.o('Add', [r1.sum, m])
      }
    } else {
      // the attention's residual add is fused with ln2, the last block's with the final norm; ln1 stays a plain
      // RMSNorm node after an Add, because a stage boundary can fall there and the fused kernel's rounding differs
      // from the plain one (a split must stay bit-identical to one stage: test/cortex/kv-cache.test.ts)
      const h = c.simplifiedNorm(x, `${p}.ln1`, rd(n[0]!))
      const q = c.rope(g.o('Reshape', [c.linear(h, `${p}.q`, scaleOut(rd(n[1]!), D, H * Dh, H * Dh, 'NK', qs), D, H * Dh, 'NK'), g.i64([0, 0, KVH, G, Dh])]), cos, sin)
      const k = c.rope(g.o('Reshape', [c.linear(h, `${p}.k`, rd(n[2]!), D, KVH * Dh, 'NK'), g.i64([0, 0, KVH, 1, Dh])]), cos, sin)
      const v = g.o('Reshape', [c.linear(h, `${p}.v`, rd(n[3]!), D, KVH * Dh, 'NK'), g.i64([0, 0, KVH, 1, Dh])])
      const a = c.attention(i, q, k, v, mask)
      const r1 = c.skipRmsNorm(x, c.linear(a, `${p}.o`, rd(n[4]!), H * Dh, D, 'NK'), `${p}.ln2`, rd(n[5]!))
      const gate = c.linear(r1.normed, `${p}.gate`, rd(n[6]!), D, F, 'NK')
      const up = c.linear(r1.normed, `${p}.up`, rd(n[7]!), D, F, 'NK')
      const act = g.o('Mul', [g.o('Mul', [gate, g.o('Sigmoid', [gate])]), up])
      const m = c.linear(act, `${p}.down`, rd(n[8]!), F, D, 'NK')
      if (last && l + 1 === end) {
        const r2 = c.skipRmsNorm(r1.sum, m, 'norm', rd('model.norm.weight'))
        x = r2.sum
        normed = r2.normed
      } else {
        x = g.o('Add', [r1.sum, m])
      }
    }
  }
  if (kv === 'buffer') {
    g.alias(g.o('Concat', c.newKv, { axis: 0 }), 'new_kv')
    g.output('new_kv', DT.FLOAT, ['NKV', 1, KVH, 'T', Dh])
  }
  if (last) {
    const lastRow = (t: string): string => g.o('Reshape', [g.o('Slice', [t, g.i64([-1]), g.i64([Number.MAX_SAFE_INTEGER]), g.i64([1])]), g.i64([-1, D])])
    // the final norm (ln_f / model.norm) is already applied: fused with the last residual add, above
    const final = lastRow(normed)
    const headName = headTensorName(cfg) // tie_word_embeddings decides, as in HF
    let logits: string
    if (c.bits) logits = c.linear(final, 'lm_head', rd(headName), D, cfg.vocabSize, 'NK')
    else {
      const reuse = first ? (headName === 'wte.weight' ? 'wte' : headName === 'model.embed_tokens.weight' ? 'embed' : '') : ''
      const w = reuse || g.f32('lm_head', [cfg.vocabSize, D], rd(headName))
      logits = g.o('Gemm', [final, w], { transB: 1 })
    }
    g.alias(logits, 'logits')
    g.output('logits', DT.FLOAT, ['B', cfg.vocabSize])
  } else {
    g.alias(x, 'hidden_out')
    g.output('hidden_out', DT.FLOAT, ['B', 'T', D])
  }
  return { bytes: g.toBytes(), first, last, layerCount: end - start, kvLayout: kv }
}
