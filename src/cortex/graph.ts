/**
 * Builds the ONNX graph of one pipeline stage (layers [start, end) of a GPT-2 or Llama model) with KV-cache inputs
 * and outputs. Inputs: `input_ids` (+ `position_ids` for GPT-2) on the first stage, `hidden_in` [B,T,D] otherwise;
 * `mask` [B,1,T,S] (additive); `cos`/`sin` [B,1,T,Dh] for Llama. Outputs: `hidden_out` [B,T,D], or `logits` [B,V] of
 * the last position on the last stage. Per layer i, by KV layout:
 *  - 'buffer' (default): `past_k.i` [B,KVH,Dh,C] (K transposed) and `past_v.i` [B,KVH,C,Dh] are preallocated cache
 *    buffers read in place (S = C+T; the mask hides unused positions); one output `new_kv`
 *    [2*L*B,KVH,T,Dh] (layer i's K rows at [2i*B, (2i+1)*B), its V rows next) holds only this step's rows, which the
 *    caller writes into the buffers (one output, not 2L: onnxruntime-node converts each output separately). No node copies the cache.
 *  - 'concat' (the former layout, kept as a reference): `past_k.i`/`past_v.i` [B,KVH,P,Dh], outputs
 *    `present_k.i`/`present_v.i` [B,KVH,P+T,Dh] built with Concat, so every step re-emits the whole cache.
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

  rmsNorm(x: string, name: string, w: Float32Array): string {
    const g = this.g
    const ms = g.o('ReduceMean', [g.o('Mul', [x, x]), g.i64([-1])], { keepdims: 1 })
    const inv = g.o('Reciprocal', [g.o('Sqrt', [g.o('Add', [ms, g.scalar(this.cfg.eps)])])])
    return g.o('Mul', [g.o('Mul', [x, inv]), g.f32(`${name}.w`, [w.length], w)])
  }

  /** [B,T,n*Dh] -> [B,n,T,Dh] */
  heads(x: string, n: number): string {
    const g = this.g
    return g.o('Transpose', [g.o('Reshape', [x, g.i64([0, 0, n, this.cfg.headDim])])], { perm: [0, 2, 1, 3] })
  }

  rope(x: string, cos: string, sin: string): string {
    const g = this.g
    const half = this.cfg.headDim / 2
    const x1 = g.o('Slice', [x, g.i64([0]), g.i64([half]), g.i64([3])])
    const x2 = g.o('Slice', [x, g.i64([half]), g.i64([this.cfg.headDim]), g.i64([3])])
    const rot = g.o('Concat', [g.o('Neg', [x2]), x1], { axis: 3 })
    return g.o('Add', [g.o('Mul', [x, cos]), g.o('Mul', [rot, sin])])
  }

  /** Attention with cache: returns [B,T,H*Dh]. q [B,H,T,Dh] already scaled by 1/sqrt(Dh), k/v [B,KVH,T,Dh]. */
  attention(i: number, q: string, k: string, v: string, mask: string): string {
    return this.kv === 'buffer' ? this.attentionBuffered(i, q, k, v, mask) : this.attentionConcat(i, q, k, v, mask)
  }

  /**
   * Scores against the cache buffer and against the new rows are computed separately and joined (a small
   * [.., G*T, C+T] tensor), so the cache itself is only read; probabilities are split back for the two V products.
   */
  attentionBuffered(i: number, q: string, k: string, v: string, mask: string): string {
    const g = this.g
    const { heads: H, kvHeads: KVH, headDim: Dh } = this.cfg
    this.newKv.push(k, v)
    const pastV = `past_v.${i}`
    // q arrives pre-scaled by 1/sqrt(Dh) (folded into its projection weights); the head-group reshapes are no-ops
    // when every query head has its own KV head (GPT-2), so they are left out there
    const grouped = H !== KVH
    const qg = grouped ? g.o('Reshape', [q, g.i64([0, KVH, -1, Dh])]) : q
    const sPast = g.o('MatMul', [qg, `past_k.${i}`])
    const sNew = g.o('MatMul', [qg, g.o('Transpose', [k], { perm: [0, 1, 3, 2] })])
    const scores = g.o('Concat', [sPast, sNew], { axis: 3 })
    const masked = g.o('Add', [grouped ? g.o('Reshape', [scores, g.i64([0, H, -1, 0])]) : scores, mask])
    const sm = g.o('Softmax', [masked], { axis: -1 })
    const probs = grouped ? g.o('Reshape', [sm, g.i64([0, KVH, -1, 0])]) : sm
    const C = g.o('Shape', [pastV], { start: 2, end: 3 })
    const ax = g.i64([3])
    const pPast = g.o('Slice', [probs, g.i64([0]), C, ax])
    const pNew = g.o('Slice', [probs, C, g.i64([Number.MAX_SAFE_INTEGER]), ax])
    const ctx4 = g.o('Add', [g.o('MatMul', [pPast, pastV]), g.o('MatMul', [pNew, v])])
    const ctx = grouped ? g.o('Reshape', [ctx4, g.i64([0, H, -1, Dh])]) : ctx4
    return g.o('Reshape', [g.o('Transpose', [ctx], { perm: [0, 2, 1, 3] }), g.i64([0, 0, H * Dh])])
  }

  attentionConcat(i: number, q: string, k: string, v: string, mask: string): string {
    const g = this.g
    const { heads: H, kvHeads: KVH, headDim: Dh } = this.cfg
    const kAll = g.o('Concat', [`past_k.${i}`, k], { axis: 2 })
    const vAll = g.o('Concat', [`past_v.${i}`, v], { axis: 2 })
    g.alias(kAll, `present_k.${i}`)
    g.alias(vAll, `present_v.${i}`)
    const qg = g.o('Reshape', [q, g.i64([0, KVH, -1, Dh])]) // q is pre-scaled (see attentionBuffered)
    const scores = g.o('MatMul', [qg, g.o('Transpose', [kAll], { perm: [0, 1, 3, 2] })])
    const masked = g.o('Add', [g.o('Reshape', [scores, g.i64([0, H, -1, 0])]), mask])
    const probs = g.o('Reshape', [g.o('Softmax', [masked], { axis: -1 }), g.i64([0, KVH, -1, 0])])
    const ctx = g.o('Reshape', [g.o('MatMul', [probs, vAll]), g.i64([0, H, -1, Dh])])
    return g.o('Reshape', [g.o('Transpose', [ctx], { perm: [0, 2, 1, 3] }), g.i64([0, 0, H * Dh])])
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
  const mask = g.input('mask', DT.FLOAT, ['B', 1, 'T', 'S'])
  const cos = cfg.family === 'llama' ? g.input('cos', DT.FLOAT, ['B', 1, 'T', Dh]) : ''
  const sin = cfg.family === 'llama' ? g.input('sin', DT.FLOAT, ['B', 1, 'T', Dh]) : ''
  for (let l = start; l < end; l++) {
    const i = l - start
    if (kv === 'buffer') {
      g.input(`past_k.${i}`, DT.FLOAT, ['B', KVH, Dh, 'C'])
      g.input(`past_v.${i}`, DT.FLOAT, ['B', KVH, 'C', Dh])
    } else {
      g.input(`past_k.${i}`, DT.FLOAT, ['B', KVH, 'P', Dh])
      g.input(`past_v.${i}`, DT.FLOAT, ['B', KVH, 'P', Dh])
      g.output(`present_k.${i}`, DT.FLOAT, ['B', KVH, 'S', Dh])
      g.output(`present_v.${i}`, DT.FLOAT, ['B', KVH, 'S', Dh])
    }
    const n = layerTensorNames(cfg, l)
    const p = `L${l}`
    if (cfg.family === 'gpt2') {
      const h = c.layerNorm(x, `${p}.ln1`, rd(n[0]!), rd(n[1]!))
      const qkv = c.linear(h, `${p}.attn`, scaleOut(rd(n[2]!), D, 3 * D, D, 'KN', qs), D, 3 * D, 'KN', scaleOut(rd(n[3]!), 1, 3 * D, D, 'KN', qs))
      // [B,T,3D] -> [B,T,3H,Dh] -> [B,3H,T,Dh] -> q, k, v [B,H,T,Dh]: three nodes instead of a split and three head transposes
      const heads3 = g.o('Transpose', [g.o('Reshape', [qkv, g.i64([0, 0, 3 * H, Dh])])], { perm: [0, 2, 1, 3] })
      const [q, k, v] = g.op('Split', [heads3, g.i64([H, H, H])], { axis: 1 }, 3) as [string, string, string]
      const a = c.attention(i, q, k, v, mask)
      x = g.o('Add', [x, c.linear(a, `${p}.proj`, rd(n[4]!), D, D, 'KN', rd(n[5]!))])
      const h2 = c.layerNorm(x, `${p}.ln2`, rd(n[6]!), rd(n[7]!))
      const f = g.o('Gelu', [c.linear(h2, `${p}.fc`, rd(n[8]!), D, F, 'KN', rd(n[9]!))], { approximate: 'tanh' })
      x = g.o('Add', [x, c.linear(f, `${p}.mlp`, rd(n[10]!), F, D, 'KN', rd(n[11]!))])
    } else {
      const h = c.rmsNorm(x, `${p}.ln1`, rd(n[0]!))
      const q = c.rope(c.heads(c.linear(h, `${p}.q`, scaleOut(rd(n[1]!), D, H * Dh, H * Dh, 'NK', qs), D, H * Dh, 'NK'), H), cos, sin)
      const k = c.rope(c.heads(c.linear(h, `${p}.k`, rd(n[2]!), D, KVH * Dh, 'NK'), KVH), cos, sin)
      const v = c.heads(c.linear(h, `${p}.v`, rd(n[3]!), D, KVH * Dh, 'NK'), KVH)
      const a = c.attention(i, q, k, v, mask)
      x = g.o('Add', [x, c.linear(a, `${p}.o`, rd(n[4]!), H * Dh, D, 'NK')])
      const h2 = c.rmsNorm(x, `${p}.ln2`, rd(n[5]!))
      const gate = c.linear(h2, `${p}.gate`, rd(n[6]!), D, F, 'NK')
      const up = c.linear(h2, `${p}.up`, rd(n[7]!), D, F, 'NK')
      const act = g.o('Mul', [g.o('Mul', [gate, g.o('Sigmoid', [gate])]), up])
      x = g.o('Add', [x, c.linear(act, `${p}.down`, rd(n[8]!), F, D, 'NK')])
    }
  }
  if (kv === 'buffer') {
    g.alias(g.o('Concat', c.newKv, { axis: 0 }), 'new_kv')
    g.output('new_kv', DT.FLOAT, ['NKV', KVH, 'T', Dh])
  }
  if (last) {
    const lastPos = g.o('Reshape', [g.o('Slice', [x, g.i64([-1]), g.i64([Number.MAX_SAFE_INTEGER]), g.i64([1])]), g.i64([-1, D])])
    const normed = cfg.family === 'gpt2'
      ? c.layerNorm(lastPos, 'ln_f', rd('ln_f.weight'), rd('ln_f.bias'))
      : c.rmsNorm(lastPos, 'norm', rd('model.norm.weight'))
    const headName = headTensorName(cfg) // tie_word_embeddings decides, as in HF
    let logits: string
    if (c.bits) logits = c.linear(normed, 'lm_head', rd(headName), D, cfg.vocabSize, 'NK')
    else {
      const reuse = first ? (headName === 'wte.weight' ? 'wte' : headName === 'model.embed_tokens.weight' ? 'embed' : '') : ''
      const w = reuse || g.f32('lm_head', [cfg.vocabSize, D], rd(headName))
      logits = g.o('Gemm', [normed, w], { transB: 1 })
    }
    g.alias(logits, 'logits')
    g.output('logits', DT.FLOAT, ['B', cfg.vocabSize])
  } else {
    g.alias(x, 'hidden_out')
    g.output('hidden_out', DT.FLOAT, ['B', 'T', D])
  }
  return { bytes: g.toBytes(), first, last, layerCount: end - start, kvLayout: kv }
}
