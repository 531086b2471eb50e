/**
 * Hugging Face model directory: config.json (GPT-2 or Llama family), one or more *.safetensors files (optionally
 * sharded with model.safetensors.index.json) and tokenizer.json. A stage reads only the tensors of its layer range.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ModelFormatError } from './errors.js'
import { SafetensorsFile } from './safetensors.js'

export type Family = 'gpt2' | 'llama'

export interface ModelConfig {
  family: Family
  vocabSize: number
  hidden: number
  layers: number
  heads: number
  kvHeads: number
  headDim: number
  intermediate: number
  maxPositions: number
  eps: number
  ropeTheta: number
  tiedEmbeddings: boolean
  bosTokenId?: number
  eosTokenId?: number
}

const MAX_CONFIG_BYTES = 1024 * 1024
const MAX_INDEX_BYTES = 64 * 1024 * 1024

function readJson(path: string, max: number): Record<string, unknown> {
  if (!existsSync(path)) throw new ModelFormatError('missing_file', `${path} not found`)
  if (statSync(path).size > max) throw new ModelFormatError('bad_model', `${path} exceeds ${max} bytes`)
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as unknown
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object')
    return v as Record<string, unknown>
  } catch (e) {
    throw new ModelFormatError('bad_model', `${path}: invalid JSON`, { cause: e })
  }
}

function int(c: Record<string, unknown>, key: string, fallback?: number): number {
  const v = c[key] ?? fallback
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0 || v > 1 << 24) throw new ModelFormatError('bad_config', `config.json: ${key} must be a positive integer`)
  return v
}

/**
 * Whether the output head is the token embedding. HF's default differs by family: GPT2Config inherits
 * `tie_word_embeddings: true`, LlamaConfig/MistralConfig set `false` (then lm_head.weight must be in the checkpoint).
 */
function tied(c: Record<string, unknown>, fallback: boolean): boolean {
  const v = c.tie_word_embeddings
  if (v === undefined || v === null) return fallback
  if (typeof v !== 'boolean') throw new ModelFormatError('bad_config', 'config.json: tie_word_embeddings must be a boolean')
  return v
}

/** The tensor the output head multiplies with: the token embedding when tied, else lm_head.weight. */
export function headTensorName(cfg: ModelConfig): string {
  if (!cfg.tiedEmbeddings) return 'lm_head.weight'
  return cfg.family === 'gpt2' ? 'wte.weight' : 'model.embed_tokens.weight'
}

const unsupportedField = (key: string, v: unknown, what: string): never => {
  throw new ModelFormatError('unsupported_architecture', `config.json: ${key} ${JSON.stringify(v)} is not supported (${what})`)
}

/**
 * Config fields that change the computation in ways the graph does not implement. Each is refused by name instead of
 * running a different model than the one described.
 */
function refuseUnsupported(c: Record<string, unknown>, family: Family): void {
  if (c.quantization_config !== undefined && c.quantization_config !== null) unsupportedField('quantization_config', (c.quantization_config as { quant_method?: unknown }).quant_method ?? 'present', 'pre-quantised checkpoints; use an fp32/fp16/bf16 checkpoint and --quant')
  if (family === 'gpt2') {
    const act = c.activation_function
    if (act !== undefined && act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') unsupportedField('activation_function', act, 'only the tanh GELU: gelu_new / gelu_pytorch_tanh')
    if (c.scale_attn_weights === false) unsupportedField('scale_attn_weights', false, 'attention scores are always scaled by 1/sqrt(head_dim)')
    if (c.scale_attn_by_inverse_layer_idx === true) unsupportedField('scale_attn_by_inverse_layer_idx', true, 'no per-layer attention scaling')
    if (c.add_cross_attention === true) unsupportedField('add_cross_attention', true, 'decoder-only models')
  } else {
    if (c.attention_bias === true) unsupportedField('attention_bias', true, 'q/k/v/o projections without bias')
    if (c.mlp_bias === true) unsupportedField('mlp_bias', true, 'MLP projections without bias')
    if (c.rope_scaling !== undefined && c.rope_scaling !== null) unsupportedField('rope_scaling', c.rope_scaling, 'plain RoPE only')
    if (c.hidden_act !== undefined && c.hidden_act !== 'silu') unsupportedField('hidden_act', c.hidden_act, 'SwiGLU with silu only')
  }
}

/** Context length: a sliding attention window shorter than the context is honoured by capping the context at it. */
function contextLength(c: Record<string, unknown>, key: string, fallback: number): number {
  const max = int(c, key, fallback)
  const w = c.sliding_window
  if (w === undefined || w === null || c.use_sliding_window === false) return max
  if (typeof w !== 'number' || !Number.isSafeInteger(w) || w <= 0) throw new ModelFormatError('bad_config', 'config.json: sliding_window must be a positive integer or null')
  return Math.min(max, w)
}

/**
 * RoPE base frequency. transformers <= 4 writes a top-level `rope_theta`; transformers 5 writes it inside
 * `rope_parameters` ({rope_type, rope_theta}). Both are read; a disagreement or any rope type / extra parameter we do
 * not implement is refused, never defaulted (a wrong theta gave logits off by 2.44).
 */
export function ropeTheta(c: Record<string, unknown>): number {
  const top = c.rope_theta
  if (top !== undefined && (typeof top !== 'number' || !(top > 0) || !Number.isFinite(top))) {
    throw new ModelFormatError('bad_config', 'config.json: rope_theta must be a positive number')
  }
  const rp = c.rope_parameters
  let nested: number | undefined
  if (rp !== undefined && rp !== null) {
    if (typeof rp !== 'object' || Array.isArray(rp)) throw new ModelFormatError('bad_config', 'config.json: rope_parameters must be an object')
    const o = rp as Record<string, unknown>
    const type = o.rope_type ?? o.type ?? 'default'
    if (type !== 'default') throw new ModelFormatError('unsupported_architecture', `config.json: rope_parameters.rope_type ${JSON.stringify(type)} is not supported (only "default")`)
    for (const k of Object.keys(o)) {
      if (k !== 'rope_type' && k !== 'type' && k !== 'rope_theta') {
        throw new ModelFormatError('unsupported_architecture', `config.json: rope_parameters.${k} is not supported`)
      }
    }
    if (o.rope_theta !== undefined) {
      if (typeof o.rope_theta !== 'number' || !(o.rope_theta > 0) || !Number.isFinite(o.rope_theta)) {
        throw new ModelFormatError('bad_config', 'config.json: rope_parameters.rope_theta must be a positive number')
      }
      nested = o.rope_theta
    }
  }
  if (top !== undefined && nested !== undefined && top !== nested) {
    throw new ModelFormatError('bad_config', `config.json: rope_theta (${top}) and rope_parameters.rope_theta (${nested}) disagree`)
  }
  return nested ?? (top as number | undefined) ?? 10000
}

/** Parses a config.json object. Throws ModelFormatError('unsupported_architecture') for other families. */
export function parseModelConfig(c: Record<string, unknown>): ModelConfig {
  const type = String(c.model_type ?? '')
  const eos = typeof c.eos_token_id === 'number' ? c.eos_token_id : undefined
  const bos = typeof c.bos_token_id === 'number' ? c.bos_token_id : undefined
  if (type === 'gpt2' || type === 'llama' || type === 'mistral') refuseUnsupported(c, type === 'gpt2' ? 'gpt2' : 'llama')
  if (type === 'gpt2') {
    const hidden = int(c, 'n_embd'), heads = int(c, 'n_head')
    if (hidden % heads) throw new ModelFormatError('bad_config', 'n_embd must be divisible by n_head')
    return {
      family: 'gpt2', vocabSize: int(c, 'vocab_size'), hidden, layers: int(c, 'n_layer'), heads, kvHeads: heads,
      headDim: hidden / heads, intermediate: c.n_inner === undefined || c.n_inner === null ? 4 * hidden : int(c, 'n_inner'),
      maxPositions: int(c, 'n_positions', 1024), eps: typeof c.layer_norm_epsilon === 'number' ? c.layer_norm_epsilon : 1e-5,
      ropeTheta: 0, tiedEmbeddings: tied(c, true), bosTokenId: bos, eosTokenId: eos,
    }
  }
  if (type === 'llama' || type === 'mistral') {
    const hidden = int(c, 'hidden_size'), heads = int(c, 'num_attention_heads')
    const kvHeads = int(c, 'num_key_value_heads', heads)
    if (heads % kvHeads) throw new ModelFormatError('bad_config', 'num_attention_heads must be a multiple of num_key_value_heads')
    const headDim = int(c, 'head_dim', hidden / heads)
    if (headDim % 2) throw new ModelFormatError('bad_config', 'head_dim must be even for RoPE')
    return {
      family: 'llama', vocabSize: int(c, 'vocab_size'), hidden, layers: int(c, 'num_hidden_layers'), heads, kvHeads, headDim,
      intermediate: int(c, 'intermediate_size'), maxPositions: contextLength(c, 'max_position_embeddings', 2048),
      eps: typeof c.rms_norm_eps === 'number' ? c.rms_norm_eps : 1e-6, ropeTheta: ropeTheta(c),
      tiedEmbeddings: tied(c, false), bosTokenId: bos, eosTokenId: eos,
    }
  }
  throw new ModelFormatError('unsupported_architecture', `model_type ${JSON.stringify(type)} is not supported (gpt2, llama, mistral)`)
}

/** Tensor names of one layer, in the order the graph uses them. */
export function layerTensorNames(cfg: ModelConfig, i: number): string[] {
  if (cfg.family === 'gpt2') {
    const p = `h.${i}.`
    return ['ln_1.weight', 'ln_1.bias', 'attn.c_attn.weight', 'attn.c_attn.bias', 'attn.c_proj.weight', 'attn.c_proj.bias',
      'ln_2.weight', 'ln_2.bias', 'mlp.c_fc.weight', 'mlp.c_fc.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias'].map((n) => p + n)
  }
  const p = `model.layers.${i}.`
  return ['input_layernorm.weight', 'self_attn.q_proj.weight', 'self_attn.k_proj.weight', 'self_attn.v_proj.weight', 'self_attn.o_proj.weight',
    'post_attention_layernorm.weight', 'mlp.gate_proj.weight', 'mlp.up_proj.weight', 'mlp.down_proj.weight'].map((n) => p + n)
}

/** The expected shape of a named tensor (used to refuse files whose tensors do not match config.json). */
export function expectedShape(cfg: ModelConfig, name: string): number[] | undefined {
  const D = cfg.hidden, F = cfg.intermediate, V = cfg.vocabSize
  const short = name.replace(/^(h|model\.layers)\.\d+\./, '')
  if (cfg.family === 'gpt2') {
    const t: Record<string, number[]> = {
      'wte.weight': [V, D], 'lm_head.weight': [V, D], 'wpe.weight': [cfg.maxPositions, D], 'ln_f.weight': [D], 'ln_f.bias': [D],
      'ln_1.weight': [D], 'ln_1.bias': [D], 'ln_2.weight': [D], 'ln_2.bias': [D],
      'attn.c_attn.weight': [D, 3 * D], 'attn.c_attn.bias': [3 * D], 'attn.c_proj.weight': [D, D], 'attn.c_proj.bias': [D],
      'mlp.c_fc.weight': [D, F], 'mlp.c_fc.bias': [F], 'mlp.c_proj.weight': [F, D], 'mlp.c_proj.bias': [D],
    }
    return t[short]
  }
  const qd = cfg.heads * cfg.headDim, kd = cfg.kvHeads * cfg.headDim
  const t: Record<string, number[]> = {
    'model.embed_tokens.weight': [V, D], 'lm_head.weight': [V, D], 'model.norm.weight': [D],
    'input_layernorm.weight': [D], 'post_attention_layernorm.weight': [D],
    'self_attn.q_proj.weight': [qd, D], 'self_attn.k_proj.weight': [kd, D], 'self_attn.v_proj.weight': [kd, D], 'self_attn.o_proj.weight': [D, qd],
    'mlp.gate_proj.weight': [F, D], 'mlp.up_proj.weight': [F, D], 'mlp.down_proj.weight': [D, F],
  }
  return t[short]
}

/** An opened model directory: config plus a name -> file map, with tensor data read lazily. */
export class ModelDir {
  readonly config: ModelConfig
  readonly rawConfig: Record<string, unknown>
  #files = new Map<string, SafetensorsFile>()
  #where = new Map<string, string>()

  constructor(readonly dir: string) {
    this.rawConfig = readJson(join(dir, 'config.json'), MAX_CONFIG_BYTES)
    this.config = parseModelConfig(this.rawConfig)
    const indexPath = join(dir, 'model.safetensors.index.json')
    if (existsSync(indexPath)) this.#readIndex(indexPath)
    else {
      const files = readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort()
      if (!files.length) throw new ModelFormatError('missing_file', `${dir}: no .safetensors file`)
      for (const f of files) {
        for (const name of this.#file(f).header.tensors.keys()) {
          const other = this.#where.get(name)
          if (other) throw new ModelFormatError('bad_model', `tensor ${name} is in both ${other} and ${f}`)
          this.#where.set(name, f)
        }
      }
    }
    if (!this.has(headTensorName(this.config))) {
      throw new ModelFormatError('missing_tensor', `${dir}: no ${headTensorName(this.config)} (config.json: tie_word_embeddings is ${this.config.tiedEmbeddings}); the output head cannot be built`)
    }
  }

  /**
   * A sharded checkpoint: every file the index names must exist and hold the tensors the index puts in it, so a
   * truncated download is refused when the directory is opened, not at the first forward pass.
   */
  #readIndex(indexPath: string): void {
    const idx = readJson(indexPath, MAX_INDEX_BYTES)
    const map = idx.weight_map
    if (!map || typeof map !== 'object' || Array.isArray(map)) throw new ModelFormatError('bad_model', 'model.safetensors.index.json has no weight_map object')
    for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
      if (typeof file !== 'string' || !/^[\w.-]+\.safetensors$/.test(file)) throw new ModelFormatError('bad_model', `index: bad file name for ${name}`)
      this.#where.set(name, file)
    }
    if (!this.#where.size) throw new ModelFormatError('bad_model', 'model.safetensors.index.json: empty weight_map')
    for (const f of new Set(this.#where.values())) {
      if (!existsSync(join(this.dir, f))) throw new ModelFormatError('missing_file', `${join(this.dir, f)} (named by model.safetensors.index.json) not found`)
    }
    for (const [name, f] of this.#where) {
      if (!this.#file(f).header.tensors.has(name)) throw new ModelFormatError('missing_tensor', `model.safetensors.index.json puts ${name} in ${f}, which does not hold it`)
    }
  }

  #file(f: string): SafetensorsFile {
    let h = this.#files.get(f)
    if (!h) { h = SafetensorsFile.open(join(this.dir, f)); this.#files.set(f, h) }
    return h
  }

  /** Resolves a canonical tensor name, accepting the `transformer.` prefix GPT2LMHeadModel checkpoints use. */
  resolve(name: string): string | undefined {
    if (this.#where.has(name)) return name
    if (this.#where.has(`transformer.${name}`)) return `transformer.${name}`
    return undefined
  }

  has(name: string): boolean { return this.resolve(name) !== undefined }

  tensorNames(): string[] { return [...this.#where.keys()] }

  /** Reads a tensor as float32 and checks its shape against config.json. */
  read(name: string): { data: Float32Array; shape: number[] } {
    const real = this.resolve(name)
    if (!real) throw new ModelFormatError('missing_tensor', `tensor ${name} not found in ${this.dir}`)
    const t = this.#file(this.#where.get(real)!).readF32(real)
    const want = expectedShape(this.config, name)
    if (want && (want.length !== t.shape.length || want.some((d, i) => d !== t.shape[i]))) {
      throw new ModelFormatError('bad_shape', `tensor ${name} has shape [${t.shape.join(',')}], config.json implies [${want.join(',')}]`)
    }
    return t
  }

  /** Byte size per dtype of what the files hold (for `model info`). */
  dtypes(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [name, f] of this.#where) {
      const info = this.#file(f).info(name)
      if (info) out[info.dtype] = (out[info.dtype] ?? 0) + info.byteLength
    }
    return out
  }

  close(): void {
    for (const f of this.#files.values()) f.close()
    this.#files.clear()
  }
}
