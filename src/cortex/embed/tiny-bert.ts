/**
 * Writes a small BERT encoder in the Hugging Face layout (config.json, model.safetensors, tokenizer.json with a
 * WordPiece model, tokenizer_config.json) with seeded random weights, for tests and benchmarks. The layout follows
 * what `BertModel.save_pretrained` + `BertTokenizerFast.save_pretrained` write for all-MiniLM-L6-v2.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Prng } from '../sampling.js'
import { fromF32, writeSafetensors, type WriteTensor } from '../safetensors.js'
import { bertLayerNames } from './bert-model.js'

export interface TinyBertOptions {
  layers?: number
  hidden?: number
  heads?: number
  intermediate?: number
  maxPositions?: number
  /** tokenizer_config.json model_max_length. @default maxPositions */
  modelMaxLength?: number
  seed?: number
  /** Weight standard deviation. @default 0.2 */
  std?: number
  /** Tensor names with the `bert.` prefix (BertFor* checkpoints). @default false */
  prefixed?: boolean
  dtype?: 'F32' | 'F16' | 'BF16'
  /** Extra whole-word tokens appended to the vocabulary (e.g. to reach a target size for benchmarks). */
  extraWords?: number
}

const WORDS = `the quick brown fox jumps over lazy dog a peer to network of nodes shares layers model and each node keeps
cache its own tokens stream back that asked hello world zeone inference runs in stages first stage embeds last
predicts next token vector space query search embedding cafe naive resume sentence similar different`.split(/\s+/)
const SUFFIXES = ['s', 'ing', 'ed', 'er', 'ly', 'tion', 'est']
const SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']

export function tinyBertVocab(extraWords = 0): string[] {
  const v = [...SPECIAL]
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('')
  const punct = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~¿¡«»—–…'.split('')
  v.push(...chars, ...punct, '日', '本', '語', '中', '文', 'é', 'ß')
  v.push(...chars.map((c) => `##${c}`), ...SUFFIXES.map((s) => `##${s}`))
  for (const w of WORDS) if (!v.includes(w)) v.push(w)
  const rng = new Prng(99)
  for (let i = 0; i < extraWords; i++) {
    let w = ''
    const n = 3 + Math.floor(rng.next() * 6)
    for (let k = 0; k < n; k++) w += chars[Math.floor(rng.next() * 26)]
    v.push(i % 3 ? w : `##${w}`)
  }
  return [...new Set(v)]
}

export function tinyBertTokenizerJson(vocab: string[]): unknown {
  const ids = Object.fromEntries(vocab.map((t, i) => [t, i]))
  const added = SPECIAL.map((t) => ({ id: ids[t], content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }))
  const st = (t: string): unknown => ({ id: t, ids: [ids[t]], tokens: [t] })
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: added,
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
      special_tokens: { '[CLS]': st('[CLS]'), '[SEP]': st('[SEP]') },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: ids },
  }
}

/** Writes the model into `dir`; returns config.json's object. */
export function writeTinyBert(dir: string, o: TinyBertOptions = {}): Record<string, unknown> {
  mkdirSync(dir, { recursive: true })
  const L = o.layers ?? 2, D = o.hidden ?? 32, H = o.heads ?? 4, F = o.intermediate ?? 4 * D, P = o.maxPositions ?? 64
  const vocab = tinyBertVocab(o.extraWords ?? 0)
  const V = vocab.length
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tinyBertTokenizerJson(vocab)))
  writeFileSync(join(dir, 'vocab.txt'), vocab.join('\n') + '\n')
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({
    tokenizer_class: 'BertTokenizer', do_lower_case: true, tokenize_chinese_chars: true, strip_accents: null,
    cls_token: '[CLS]', sep_token: '[SEP]', pad_token: '[PAD]', unk_token: '[UNK]', mask_token: '[MASK]',
    model_max_length: o.modelMaxLength ?? P, clean_up_tokenization_spaces: true,
  }))
  const config = {
    model_type: 'bert', architectures: ['BertModel'], vocab_size: V, hidden_size: D, num_hidden_layers: L, num_attention_heads: H,
    intermediate_size: F, hidden_act: 'gelu', max_position_embeddings: P, type_vocab_size: 2, layer_norm_eps: 1e-12,
    pad_token_id: 0, position_embedding_type: 'absolute', hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1,
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2))
  const rng = new Prng(o.seed ?? 1)
  const std = o.std ?? 0.2
  const dtype = o.dtype ?? 'F32'
  const pre = o.prefixed ? 'bert.' : ''
  const tensors: Record<string, WriteTensor> = {}
  const add = (name: string, shape: number[], kind: 'rand' | 'one' | 'small'): void => {
    const n = shape.reduce((a, b) => a * b, 1)
    const d = new Float32Array(n)
    for (let i = 0; i < n; i++) d[i] = kind === 'rand' ? rng.normal() * std : kind === 'one' ? 1 + rng.normal() * 0.05 : rng.normal() * 0.02
    tensors[pre + name] = { dtype, shape, data: fromF32(d, dtype) }
  }
  add('embeddings.word_embeddings.weight', [V, D], 'rand')
  add('embeddings.position_embeddings.weight', [P, D], 'rand')
  add('embeddings.token_type_embeddings.weight', [2, D], 'rand')
  add('embeddings.LayerNorm.weight', [D], 'one'); add('embeddings.LayerNorm.bias', [D], 'small')
  for (let l = 0; l < L; l++) {
    const n = bertLayerNames(l)
    const shapes: number[][] = [[D, D], [D], [D, D], [D], [D, D], [D], [D, D], [D], [D], [D], [F, D], [F], [D, F], [D], [D], [D]]
    n.forEach((name, i) => add(name, shapes[i]!, name.includes('LayerNorm.weight') ? 'one' : shapes[i]!.length === 1 ? 'small' : 'rand'))
  }
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' })
  return config
}
