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
  /** Llama tokenizer layout: HF's legacy Prepend/Replace normalizer, or a Metaspace pre-tokenizer. @default 'legacy' */
  spm?: SpmLayout
  /** Llama tokenizer: unknown characters become <0xXX> byte tokens (else <unk>). @default true */
  byteFallback?: boolean
  /** Head tied to the token embedding (no lm_head.weight). @default gpt2 true, llama false */
  tied?: boolean
  /** RoPE base frequency. @default 10000 */
  ropeTheta?: number
  /** Where config.json puts rope_theta: top level (transformers 4) or rope_parameters (transformers 5). @default 'top' */
  ropeLayout?: 'top' | 'rope_parameters'
}

export type SpmLayout = 'legacy' | 'metaspace-first' | 'metaspace-always'


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

export function tinyTokenizerJson(family: Family, vocab: number, o: { spm?: SpmLayout; byteFallback?: boolean } = {}): { json: unknown; size: number } {
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
        // the layout GPT-2's own tokenizer.json has
        version: '1.0', truncation: null, padding: null,
        added_tokens: [{ id: eos, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
        normalizer: null, pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
        post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
        model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab: v, merges: merges.map(([a, b]) => `${a} ${b}`) },
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
  const layout = o.spm ?? 'legacy'
  const special = (id: number, content: string): unknown => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })
  // legacy: what HF's LlamaConverter writes for legacy=True; metaspace-first: legacy=False (transformers >= 4.40)
  const metaspace = (scheme: string): unknown => ({ type: 'Metaspace', replacement: '\u2581', prepend_scheme: scheme, split: false })
  return {
    size: Object.keys(v).length,
    json: {
      version: '1.0', truncation: null, padding: null,
      added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
      normalizer: layout === 'legacy' ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] } : null,
      pre_tokenizer: layout === 'legacy' ? null : metaspace(layout === 'metaspace-first' ? 'first' : 'always'),
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
      },
      decoder: layout === 'metaspace-always' ? metaspace('always')
        : { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
      model: {
        type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
        fuse_unk: o.byteFallback === false ? false : true, byte_fallback: o.byteFallback !== false, ignore_merges: false,
        vocab: v, merges: merges.map(([a, b]) => `${a} ${b}`),
      },
    },
  }
}

/** tokenizer_config.json as HF writes it next to tokenizer.json (AutoTokenizer reads both). */
function tokenizerConfig(family: Family): unknown {
  return family === 'gpt2'
    ? { tokenizer_class: 'GPT2Tokenizer', bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', add_prefix_space: false, clean_up_tokenization_spaces: false, model_max_length: 1024 }
    : { tokenizer_class: 'LlamaTokenizer', bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: true, add_eos_token: false, legacy: true, clean_up_tokenization_spaces: false, model_max_length: 2048 }
}

/** Writes a tiny model into `dir` and returns the config object written. */
export function writeTinyModel(dir: string, o: TinyModelOptions): Record<string, unknown> {
  mkdirSync(dir, { recursive: true })
  const L = o.layers ?? 2, D = o.hidden ?? 32, H = o.heads ?? 4, KVH = o.kvHeads ?? H
  const F = o.intermediate ?? (o.family === 'gpt2' ? 4 * D : 3 * D)
  const maxPos = o.maxPositions ?? 128
  let V = o.vocab ?? 320
  if (!o.noTokenizer) {
    const tok = tinyTokenizerJson(o.family, V, o)
    V = tok.size
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok.json))
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig(o.family)))
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
    if (o.tied === false) { config.tie_word_embeddings = false; add('lm_head.weight', [V, D]) }
  } else {
    config = { model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: V, hidden_size: D, num_attention_heads: H, num_key_value_heads: KVH, num_hidden_layers: L, intermediate_size: F, max_position_embeddings: maxPos, rms_norm_eps: 1e-6, hidden_act: 'silu', tie_word_embeddings: o.tied === true, bos_token_id: 1, eos_token_id: 2 }
    const theta = o.ropeTheta ?? 10000
    if (o.ropeLayout === 'rope_parameters') config.rope_parameters = { rope_type: 'default', rope_theta: theta }
    else config.rope_theta = theta
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
    add('model.norm.weight', [D], 'one')
    if (o.tied !== true) add('lm_head.weight', [V, D])
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

/**
 * A SentencePiece-style tokenizer.json with thousands of merges in a shuffled rank order over an 8-letter alphabet
 * (every 2-, 3- and 4-letter string is a token), for checking and timing BPE merging on merge-rich vocabularies.
 */
export function mergeRichTokenizerJson(seed = 1): unknown {
  const letters = 'abcdefgh'.split('')
  const v: Record<string, number> = { '<unk>': 0, '<s>': 1, '\u2581': 2 }
  for (const c of letters) v[c] = Object.keys(v).length
  const merges: string[] = []
  const add = (a: string, b: string): void => { merges.push(`${a} ${b}`); if (v[a + b] === undefined) v[a + b] = Object.keys(v).length }
  for (const c of letters) add('\u2581', c)
  const two = letters.flatMap((a) => letters.map((b) => a + b))
  for (const t of two) add(t[0]!, t[1]!)
  for (const t of two) for (const c of letters) add(t, c)
  for (const t of two) for (const u of two) add(t, u)
  const rng = new Prng(seed)
  for (let i = merges.length - 1; i > 0; i--) { const j = Math.floor(rng.next() * (i + 1)); [merges[i], merges[j]] = [merges[j]!, merges[i]!] }
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 0, content: '<unk>', special: true, normalized: false }, { id: 1, content: '<s>', special: true, normalized: false }],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
    pre_tokenizer: null, post_processor: null,
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', fuse_unk: true, byte_fallback: false, vocab: v, merges },
  }
}

/** Seeded random text over the merge-rich alphabet (letters and spaces). */
export function mergeRichText(len: number, seed = 2): string {
  const rng = new Prng(seed)
  let s = ''
  for (let i = 0; i < len; i++) s += rng.next() < 0.1 ? ' ' : 'abcdefgh'[Math.floor(rng.next() * 8)]
  return s
}
