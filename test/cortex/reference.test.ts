/**
 * Checks the ONNX stage graphs against a plain TypeScript transformer written from the model definitions
 * (GPT-2: pre-LN, tanh-GELU, learned positions; Llama: RMSNorm, rotate-half RoPE, GQA, SwiGLU), in float64.
 * It reads the checkpoint-layout facts itself from the raw config.json (rope_theta at the top level or inside
 * rope_parameters, tie_word_embeddings with HF's per-family default), not from the engine's parsed config, so a
 * layout the loader misreads shows up as a logits mismatch. (transformers.js cannot serve as this oracle: it runs
 * models only from ONNX files, not from safetensors.)
 */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { ModelDir, layerTensorNames, type ModelConfig } from '../../src/cortex/model.js'
import { StageEngine } from '../../src/cortex/stage.js'
import { tinyModel } from './helpers.js'
import type { TinyModelOptions } from '../../src/cortex/testing/tiny-model.js'

type M = number[][]
const matmul = (x: M, w: Float32Array, K: number, N: number, layout: 'KN' | 'NK'): M =>
  x.map((row) => Array.from({ length: N }, (_, n) => { let s = 0; for (let k = 0; k < K; k++) s += row[k]! * (layout === 'KN' ? w[k * N + n]! : w[n * K + k]!); return s }))
const addBias = (x: M, b: Float32Array): M => x.map((r) => r.map((v, i) => v + b[i]!))
const layerNorm = (x: M, w: Float32Array, b: Float32Array, eps: number): M => x.map((r) => {
  const mu = r.reduce((a, v) => a + v, 0) / r.length
  const va = r.reduce((a, v) => a + (v - mu) ** 2, 0) / r.length
  return r.map((v, i) => ((v - mu) / Math.sqrt(va + eps)) * w[i]! + b[i]!)
})
const rmsNorm = (x: M, w: Float32Array, eps: number): M => x.map((r) => {
  const ms = r.reduce((a, v) => a + v * v, 0) / r.length
  return r.map((v, i) => (v / Math.sqrt(ms + eps)) * w[i]!)
})
const gelu = (v: number): number => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))

function reference(md: ModelDir, ids: number[]): number[] {
  const c: ModelConfig = md.config
  const raw = md.rawConfig as { rope_theta?: number; rope_parameters?: { rope_theta?: number }; tie_word_embeddings?: boolean }
  const theta = raw.rope_parameters?.rope_theta ?? raw.rope_theta ?? 10000
  const tied = raw.tie_word_embeddings ?? c.family === 'gpt2'
  const rd = (n: string): Float32Array => md.read(n).data
  const D = c.hidden, H = c.heads, KVH = c.kvHeads, Dh = c.headDim, T = ids.length, F = c.intermediate
  let x: M
  if (c.family === 'gpt2') {
    const wte = rd('wte.weight'), wpe = rd('wpe.weight')
    x = ids.map((id, t) => Array.from({ length: D }, (_, i) => wte[id * D + i]! + wpe[t * D + i]!))
  } else {
    const e = rd('model.embed_tokens.weight')
    x = ids.map((id) => Array.from({ length: D }, (_, i) => e[id * D + i]!))
  }
  const rope = (v: M, nHeads: number): M => v.map((row, t) => {
    const out = row.slice()
    for (let h = 0; h < nHeads; h++) for (let i = 0; i < Dh / 2; i++) {
      const a = t * theta ** (-(2 * i) / Dh)
      const x1 = row[h * Dh + i]!, x2 = row[h * Dh + i + Dh / 2]!
      out[h * Dh + i] = x1 * Math.cos(a) - x2 * Math.sin(a)
      out[h * Dh + i + Dh / 2] = x2 * Math.cos(a) + x1 * Math.sin(a)
    }
    return out
  })
  const attend = (q: M, k: M, v: M): M => q.map((qr, t) => {
    const out = new Array(H * Dh).fill(0)
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / (H / KVH))
      const s = Array.from({ length: t + 1 }, (_, j) => { let d = 0; for (let i = 0; i < Dh; i++) d += qr[h * Dh + i]! * k[j]![kh * Dh + i]!; return d / Math.sqrt(Dh) })
      const mx = Math.max(...s), e = s.map((z) => Math.exp(z - mx)), sum = e.reduce((a, b) => a + b, 0)
      for (let j = 0; j <= t; j++) for (let i = 0; i < Dh; i++) out[h * Dh + i] += (e[j]! / sum) * v[j]![kh * Dh + i]!
    }
    return out
  })
  const add = (a: M, b: M): M => a.map((r, i) => r.map((v, j) => v + b[i]![j]!))
  for (let l = 0; l < c.layers; l++) {
    const n = layerTensorNames(c, l)
    if (c.family === 'gpt2') {
      const h = layerNorm(x, rd(n[0]!), rd(n[1]!), c.eps)
      const qkv = addBias(matmul(h, rd(n[2]!), D, 3 * D, 'KN'), rd(n[3]!))
      const a = attend(qkv.map((r) => r.slice(0, D)), qkv.map((r) => r.slice(D, 2 * D)), qkv.map((r) => r.slice(2 * D)))
      x = add(x, addBias(matmul(a, rd(n[4]!), D, D, 'KN'), rd(n[5]!)))
      const h2 = layerNorm(x, rd(n[6]!), rd(n[7]!), c.eps)
      const f = addBias(matmul(h2, rd(n[8]!), D, F, 'KN'), rd(n[9]!)).map((r) => r.map(gelu))
      x = add(x, addBias(matmul(f, rd(n[10]!), F, D, 'KN'), rd(n[11]!)))
    } else {
      const h = rmsNorm(x, rd(n[0]!), c.eps)
      const q = rope(matmul(h, rd(n[1]!), D, H * Dh, 'NK'), H)
      const k = rope(matmul(h, rd(n[2]!), D, KVH * Dh, 'NK'), KVH)
      const v = matmul(h, rd(n[3]!), D, KVH * Dh, 'NK')
      x = add(x, matmul(attend(q, k, v), rd(n[4]!), H * Dh, D, 'NK'))
      const h2 = rmsNorm(x, rd(n[5]!), c.eps)
      const g = matmul(h2, rd(n[6]!), D, F, 'NK'), u = matmul(h2, rd(n[7]!), D, F, 'NK')
      const act = g.map((r, i) => r.map((z, j) => (z / (1 + Math.exp(-z))) * u[i]![j]!))
      x = add(x, matmul(act, rd(n[8]!), F, D, 'NK'))
    }
  }
  const last = [x[T - 1]!]
  const normed = c.family === 'gpt2' ? layerNorm(last, rd('ln_f.weight'), rd('ln_f.bias'), c.eps) : rmsNorm(last, rd('model.norm.weight'), c.eps)
  const head = rd(tied ? (c.family === 'gpt2' ? 'wte.weight' : 'model.embed_tokens.weight') : 'lm_head.weight')
  return matmul(normed, head, D, c.vocabSize, 'NK')[0]!
}

const cleanups: (() => void)[] = []
after(() => { for (const c of cleanups) c() })

const layouts: [string, TinyModelOptions][] = [
  ['gpt2 (tied head)', { family: 'gpt2' }],
  ['gpt2 (untied head: lm_head.weight)', { family: 'gpt2', tied: false }],
  ['gpt2 (sharded index)', { family: 'gpt2', sharded: true }],
  ['llama (GQA, kv heads 2)', { family: 'llama', kvHeads: 2 }],
  ['llama (kv heads 1)', { family: 'llama', kvHeads: 1 }],
  ['llama (tied head)', { family: 'llama', kvHeads: 2, tied: true }],
  ['llama (rope_parameters, theta 500000)', { family: 'llama', kvHeads: 2, ropeLayout: 'rope_parameters', ropeTheta: 500000 }],
  ['llama (top-level rope_theta 250000, sharded index)', { family: 'llama', kvHeads: 2, ropeTheta: 250000, sharded: true }],
]

for (const [name, o] of layouts) {
  test(`${name}: engine logits == TypeScript reference`, async () => {
    const m = tinyModel({ layers: 2, hidden: 32, heads: 4, seed: 31, ...o })
    cleanups.push(m.cleanup)
    const md = new ModelDir(m.dir)
    const ids = [3, 50, 7, 120, 9, 77, 11]
    const ref = reference(md, ids)
    const e = await StageEngine.load(md, { start: 0, end: 2 })
    try {
      const out = (await e.forwardBatch([{ sid: 's', ids, T: ids.length }]))[0]!.data
      let md2 = 0
      for (let i = 0; i < ref.length; i++) md2 = Math.max(md2, Math.abs(out[i]! - ref[i]!))
      assert.ok(md2 < 1e-3, `max abs diff ${md2}`)
    } finally { await e.close(); md.close() }
  })
}
