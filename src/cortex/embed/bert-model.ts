/**
 * A BERT-family encoder directory (the all-MiniLM-L6-v2 layout: config.json with model_type "bert", one or more
 * *.safetensors holding BertModel tensors, with or without the `bert.` prefix BertFor* checkpoints use). Config fields
 * that change the computation in ways the encoder graph does not implement are refused by name.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ModelFormatError } from '../errors.js'
import { SafetensorsFile } from '../safetensors.js'

export interface BertConfig {
  vocabSize: number
  hidden: number
  layers: number
  heads: number
  headDim: number
  intermediate: number
  maxPositions: number
  typeVocabSize: number
  eps: number
}

const MAX_CONFIG_BYTES = 1024 * 1024

function int(c: Record<string, unknown>, key: string, fallback?: number): number {
  const v = c[key] ?? fallback
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0 || v > 1 << 24) throw new ModelFormatError('bad_config', `config.json: ${key} must be a positive integer`)
  return v
}

export function parseBertConfig(c: Record<string, unknown>): BertConfig {
  const type = c.model_type
  if (type !== 'bert') throw new ModelFormatError('unsupported_architecture', `model_type ${JSON.stringify(type)} is not an encoder this engine builds (bert)`)
  const refuse = (k: string, what: string): never => { throw new ModelFormatError('unsupported_architecture', `config.json: ${k} ${JSON.stringify(c[k])} is not supported (${what})`) }
  if (c.hidden_act !== undefined && c.hidden_act !== 'gelu') refuse('hidden_act', 'exact (erf) GELU only')
  if (c.position_embedding_type !== undefined && c.position_embedding_type !== 'absolute') refuse('position_embedding_type', 'absolute positions only')
  if (c.is_decoder === true) refuse('is_decoder', 'encoders only')
  if (c.add_cross_attention === true) refuse('add_cross_attention', 'encoders only')
  if (c.quantization_config !== undefined && c.quantization_config !== null) refuse('quantization_config', 'fp32/fp16/bf16 checkpoints')
  const hidden = int(c, 'hidden_size'), heads = int(c, 'num_attention_heads')
  if (hidden % heads) throw new ModelFormatError('bad_config', 'hidden_size must be divisible by num_attention_heads')
  const eps = c.layer_norm_eps ?? 1e-12
  if (typeof eps !== 'number' || !(eps > 0) || eps > 1) throw new ModelFormatError('bad_config', 'config.json: layer_norm_eps must be a small positive number')
  return {
    vocabSize: int(c, 'vocab_size'), hidden, layers: int(c, 'num_hidden_layers'), heads, headDim: hidden / heads,
    intermediate: int(c, 'intermediate_size'), maxPositions: int(c, 'max_position_embeddings', 512), typeVocabSize: int(c, 'type_vocab_size', 2), eps,
  }
}

/** Canonical (BertModel) tensor names of layer i, in graph order. */
export function bertLayerNames(i: number): string[] {
  const p = `encoder.layer.${i}.`
  return ['attention.self.query.weight', 'attention.self.query.bias', 'attention.self.key.weight', 'attention.self.key.bias',
    'attention.self.value.weight', 'attention.self.value.bias', 'attention.output.dense.weight', 'attention.output.dense.bias',
    'attention.output.LayerNorm.weight', 'attention.output.LayerNorm.bias', 'intermediate.dense.weight', 'intermediate.dense.bias',
    'output.dense.weight', 'output.dense.bias', 'output.LayerNorm.weight', 'output.LayerNorm.bias'].map((n) => p + n)
}

export function bertShape(c: BertConfig, name: string): number[] | undefined {
  const D = c.hidden, F = c.intermediate
  const t: Record<string, number[]> = {
    'embeddings.word_embeddings.weight': [c.vocabSize, D], 'embeddings.position_embeddings.weight': [c.maxPositions, D],
    'embeddings.token_type_embeddings.weight': [c.typeVocabSize, D], 'embeddings.LayerNorm.weight': [D], 'embeddings.LayerNorm.bias': [D],
    'attention.self.query.weight': [D, D], 'attention.self.key.weight': [D, D], 'attention.self.value.weight': [D, D],
    'attention.self.query.bias': [D], 'attention.self.key.bias': [D], 'attention.self.value.bias': [D],
    'attention.output.dense.weight': [D, D], 'attention.output.dense.bias': [D], 'attention.output.LayerNorm.weight': [D], 'attention.output.LayerNorm.bias': [D],
    'intermediate.dense.weight': [F, D], 'intermediate.dense.bias': [F], 'output.dense.weight': [D, F], 'output.dense.bias': [D],
    'output.LayerNorm.weight': [D], 'output.LayerNorm.bias': [D],
  }
  return t[name.replace(/^encoder\.layer\.\d+\./, '')]
}

export class BertDir {
  readonly config: BertConfig
  readonly rawConfig: Record<string, unknown>
  readonly files: string[]
  #files = new Map<string, SafetensorsFile>()
  #where = new Map<string, [string, string]>()

  constructor(readonly dir: string) {
    const p = join(dir, 'config.json')
    if (!existsSync(p)) throw new ModelFormatError('missing_file', `${p} not found`)
    if (statSync(p).size > MAX_CONFIG_BYTES) throw new ModelFormatError('bad_model', `${p} exceeds ${MAX_CONFIG_BYTES} bytes`)
    let raw: unknown
    try { raw = JSON.parse(readFileSync(p, 'utf8')) } catch (e) { throw new ModelFormatError('bad_model', `${p}: invalid JSON`, { cause: e }) }
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelFormatError('bad_model', `${p}: not an object`)
    this.rawConfig = raw as Record<string, unknown>
    this.config = parseBertConfig(this.rawConfig)
    this.files = readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort()
    if (!this.files.length) throw new ModelFormatError('missing_file', `${dir}: no .safetensors file`)
    for (const f of this.files) {
      const sf = SafetensorsFile.open(join(dir, f))
      this.#files.set(f, sf)
      for (const name of sf.header.tensors.keys()) {
        const canon = name.startsWith('bert.') ? name.slice(5) : name
        if (this.#where.has(canon)) throw new ModelFormatError('bad_model', `tensor ${canon} is held twice`)
        this.#where.set(canon, [f, name])
      }
    }
    for (const n of ['embeddings.word_embeddings.weight', ...Array.from({ length: this.config.layers }, (_, i) => bertLayerNames(i)).flat()]) {
      if (!this.#where.has(n)) throw new ModelFormatError('missing_tensor', `${dir}: tensor ${n} not found`)
    }
  }

  read(name: string): Float32Array {
    const w = this.#where.get(name)
    if (!w) throw new ModelFormatError('missing_tensor', `tensor ${name} not found in ${this.dir}`)
    const t = this.#files.get(w[0])!.readF32(w[1])
    const want = bertShape(this.config, name)
    if (want && (want.length !== t.shape.length || want.some((d, i) => d !== t.shape[i]))) {
      throw new ModelFormatError('bad_shape', `tensor ${name} has shape [${t.shape.join(',')}], config.json implies [${want.join(',')}]`)
    }
    return t.data
  }

  close(): void {
    for (const f of this.#files.values()) f.close()
    this.#files.clear()
  }
}
