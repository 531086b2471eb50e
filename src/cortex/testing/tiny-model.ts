/**
 * Writes small Hugging Face-layout models with seeded random weights (config.json, *.safetensors, tokenizer.json)
 * for tests and benchmarks. The tokenizer is trained (byte-pair merges) on a small built-in corpus.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Prng } from '../sampling.js'
import { fromF32, writeSafetensors, type WriteTensor } from '../safetensors.js'
import { bytesToUnicode } from '../tokenizer.js'
import type { Family } from '../model.js'

export interface TinyModelOptions {
  family: Family
  layers?: number
  hidden?: number
  heads?: number
  kvHeads?: number
  intermediate?: number
  /** Target vocabulary size; the tokenizer is trained up to it. @default 320 */
  vocab?: number
  maxPositions?: number
  dtype?: 'F32' | 'F16' | 'BF16'
  /** Split the weights into two shards with an index file. @default false */
  sharded?: boolean
  seed?: number
  /** Weight standard deviation. @default 0.2 */
  std?: number
  /** Skip the tokenizer (benchmarks with a large vocabulary). @default false */
  noTokenizer?: boolean
}

const CORPUS = `the quick brown fox jumps over the lazy dog. a peer to peer network of nodes shares the layers of a model,
and each node keeps the cache of its own layers. tokens stream back to the node that asked. hello world, hello zeone!
inference runs in stages: the first stage embeds the tokens, the last stage predicts the next token.`

/** Trains byte-pair merges on `words` (symbol arrays). Returns merges in rank order. */
function trainMerges(words: string[][], count: number): [string, string][] {
  const merges: [string, string][] = []
  let ws = words.map((w) => w.slice())
  for (let m = 0; m < count; m++) {
    const counts = new Map<string, number>()
    for (const w of ws) for (let i = 0; i < w.length - 1; i++) { const k = `${w[i]} ${w[i + 1]}`; counts.set(k, (counts.get(k) ?? 0) + 1) }
    let best = '', bc = 0
    for (const [k, c] of [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1))) if (c > bc) { best = k; bc = c }
    if (bc < 2) break
    const [a, b] = best.split(' ') as [string, string]
    merges.push([a, b])
    ws = ws.map((w) => {
      const out: string[] = []
      for (let i = 0; i < w.length; i++) if (i < w.length - 1 && w[i] === a && w[i + 1] === b) { out.push(a + b); i++ } else out.push(w[i]!)
      return out
    })
  }
  return merges
}

export function tinyTokenizerJson(family: Family, vocab: number): { json: unknown; size: number } {
  if (family === 'gpt2') {
    const b2u = bytesToUnicode()
    const words = (CORPUS.match(/ ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+/gu) ?? []).map((w) => Array.from(Buffer.from(w, 'utf8'), (b) => b2u[b]!))
    const merges = trainMerges(words, vocab - 257)
    const v: Record<string, number> = {}
    b2u.forEach((u, i) => { v[u] = i })
    merges.forEach(([a, b]) => { if (v[a + b] === undefined) v[a + b] = Object.keys(v).length })
    const eos = Object.keys(v).length
    return {
      size: eos + 1,
      json: {
        version: '1.0', added_tokens: [{ id: eos, content: '<|endoftext|>', special: true }],
        normalizer: null, pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
        decoder: { type: 'ByteLevel' }, model: { type: 'BPE', vocab: v, merges: merges.map(([a, b]) => `${a} ${b}`) },
      },
    }
  }
  const v: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 }
  for (let b = 0; b < 256; b++) v[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b
  const chars = [...new Set(Array.from(CORPUS.replace(/\n/g, ' ').replaceAll(' ', '\u2581')))].filter((c) => /[\u2581a-z]/.test(c)).sort()
  for (const c of chars) v[c] = Object.keys(v).length
  const words = CORPUS.split(/\s+/).map((w) => Array.from('\u2581' + w).filter((c) => v[c] !== undefined))
  const merges = trainMerges(words, Math.max(0, vocab - Object.keys(v).length))
  merges.forEach(([a, b]) => { if (v[a + b] === undefined) v[a + b] = Object.keys(v).length })
  return {
    size: Object.keys(v).length,
    json: {
      version: '1.0',
      added_tokens: [{ id: 0, content: '<unk>', special: true }, { id: 1, content: '<s>', special: true }, { id: 2, content: '</s>', special: true }],
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
      pre_tokenizer: null, decoder: { type: 'Sequence', decoders: [] },
      model: { type: 'BPE', vocab: v, merges: merges.map(([a, b]) => `${a} ${b}`), byte_fallback: true, unk_token: '<unk>', fuse_unk: true },
    },
  }
}

/** Writes a tiny model into `dir` and returns the config object written. */
export function writeTinyModel(dir: string, o: TinyModelOptions): Record<string, unknown> {
  mkdirSync(dir, { recursive: true })
  const L = o.layers ?? 2, D = o.hidden ?? 32, H = o.heads ?? 4, KVH = o.kvHeads ?? H
  const F = o.intermediate ?? (o.family === 'gpt2' ? 4 * D : 3 * D)
  const maxPos = o.maxPositions ?? 128
  let V = o.vocab ?? 320
  if (!o.noTokenizer) {
    const tok = tinyTokenizerJson(o.family, V)
    V = tok.size
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok.json))
  }
  const rng = new Prng(o.seed ?? 1)
  const std = o.std ?? 0.2
  const dtype = o.dtype ?? 'F32'
  const tensors: Record<string, WriteTensor> = {}
  const add = (name: string, shape: number[], kind: 'rand' | 'one' | 'zero' | 'small' = 'rand'): void => {
    const n = shape.reduce((a, b) => a * b, 1)
    const d = new Float32Array(n)
    for (let i = 0; i < n; i++) d[i] = kind === 'rand' ? rng.normal() * std : kind === 'one' ? 1 + rng.normal() * 0.05 : kind === 'small' ? rng.normal() * 0.02 : 0
    tensors[name] = { dtype, shape, data: fromF32(d, dtype) }
  }
  let config: Record<string, unknown>
  if (o.family === 'gpt2') {
    config = { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], vocab_size: V, n_embd: D, n_head: H, n_layer: L, n_positions: maxPos, n_inner: F, layer_norm_epsilon: 1e-5, eos_token_id: V - 1, bos_token_id: V - 1 }
    add('wte.weight', [V, D]); add('wpe.weight', [maxPos, D])
    for (let l = 0; l < L; l++) {
      const p = `h.${l}.`
      add(p + 'ln_1.weight', [D], 'one'); add(p + 'ln_1.bias', [D], 'small')
      add(p + 'attn.c_attn.weight', [D, 3 * D]); add(p + 'attn.c_attn.bias', [3 * D], 'small')
      add(p + 'attn.c_proj.weight', [D, D]); add(p + 'attn.c_proj.bias', [D], 'small')
      add(p + 'ln_2.weight', [D], 'one'); add(p + 'ln_2.bias', [D], 'small')
      add(p + 'mlp.c_fc.weight', [D, F]); add(p + 'mlp.c_fc.bias', [F], 'small')
      add(p + 'mlp.c_proj.weight', [F, D]); add(p + 'mlp.c_proj.bias', [D], 'small')
    }
    add('ln_f.weight', [D], 'one'); add('ln_f.bias', [D], 'small')
  } else {
    config = { model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: V, hidden_size: D, num_attention_heads: H, num_key_value_heads: KVH, num_hidden_layers: L, intermediate_size: F, max_position_embeddings: maxPos, rms_norm_eps: 1e-6, rope_theta: 10000, hidden_act: 'silu', tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2 }
    const Dh = D / H
    add('model.embed_tokens.weight', [V, D])
    for (let l = 0; l < L; l++) {
      const p = `model.layers.${l}.`
      add(p + 'input_layernorm.weight', [D], 'one')
      add(p + 'self_attn.q_proj.weight', [H * Dh, D]); add(p + 'self_attn.k_proj.weight', [KVH * Dh, D])
      add(p + 'self_attn.v_proj.weight', [KVH * Dh, D]); add(p + 'self_attn.o_proj.weight', [D, H * Dh])
      add(p + 'post_attention_layernorm.weight', [D], 'one')
      add(p + 'mlp.gate_proj.weight', [F, D]); add(p + 'mlp.up_proj.weight', [F, D]); add(p + 'mlp.down_proj.weight', [D, F])
    }
    add('model.norm.weight', [D], 'one'); add('lm_head.weight', [V, D])
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2))
  if (o.sharded) {
    const names = Object.keys(tensors)
    const half = Math.ceil(names.length / 2)
    const shards = [names.slice(0, half), names.slice(half)]
    const weightMap: Record<string, string> = {}
    shards.forEach((ns, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`
      writeSafetensors(join(dir, file), Object.fromEntries(ns.map((n) => [n, tensors[n]!])))
      for (const n of ns) weightMap[n] = file
    })
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }))
  } else {
    writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' })
  }
  return config
}
