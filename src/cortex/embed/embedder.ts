/**
 * A sentence embedder: WordPiece tokenizer + the encoder graph on onnxruntime-node. Texts are sorted by length and
 * run in padded batches (at most `maxBatch` texts and `maxBatchTokens` padded positions per forward pass), so one long
 * text does not pad a whole batch to its length; results come back in input order.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import * as ort from 'onnxruntime-node'
import { InferenceError, ModelFormatError } from '../errors.js'
import type { QuantBits } from '../quant.js'
import { dirWeightsRoot } from '../cards/weights-root.js'
import { BertDir } from './bert-model.js'
import { buildEncoderGraph, type EncoderAttention } from './encoder-graph.js'
import { WordPieceTokenizer } from './wordpiece.js'

export interface EmbedderInit {
  /** ORT intra-op threads. @default 1 */
  threads?: number
  /** Most texts per forward pass. @default 32 */
  maxBatch?: number
  /** Most padded token positions per forward pass. @default 8192 */
  maxBatchTokens?: number
  /** Cap on tokens per text ([CLS]/[SEP] included). @default the tokenizer's model_max_length and max positions */
  maxLength?: number
  quantBits?: 0 | QuantBits
  /** Attention kernel (encoder-graph.ts). @default 'fused' */
  attention?: EncoderAttention
}

export interface EmbedResult { vectors: Float32Array[]; tokens: number }

/** Hex weights root of an encoder directory: the same content-manifest Merkle root decoders' cards bind
 *  (cards/weights-root.ts), so a space key names weights the content layer can fetch and a card can vouch for. */
export async function weightsRoot(dir: string, files: string[]): Promise<string> {
  return Buffer.from(await dirWeightsRoot(dir, files)).toString('hex')
}

function modelMaxLength(dir: string): number | undefined {
  const p = join(dir, 'tokenizer_config.json')
  if (!existsSync(p) || statSync(p).size > 1 << 20) return undefined
  try {
    const v = (JSON.parse(readFileSync(p, 'utf8')) as { model_max_length?: unknown }).model_max_length
    return typeof v === 'number' && Number.isSafeInteger(v) && v > 2 ? v : undefined
  } catch { return undefined }
}

export class Embedder {
  readonly dim: number
  readonly weightsRoot: string
  #closed = false

  private constructor(readonly dir: string, readonly tokenizer: WordPieceTokenizer, readonly maxPositions: number,
    readonly vocabSize: number, weights: string, dim: number, readonly init: Required<Omit<EmbedderInit, 'maxLength' | 'quantBits' | 'attention'>>, readonly session: ort.InferenceSession) {
    this.dim = dim
    this.weightsRoot = weights
  }

  static async load(path: string, init: EmbedderInit = {}): Promise<Embedder> {
    const dir = resolve(path)
    const model = new BertDir(dir)
    try {
      const cfg = model.config
      const maxLength = Math.min(init.maxLength ?? Infinity, modelMaxLength(dir) ?? Infinity, cfg.maxPositions)
      const tokenizer = WordPieceTokenizer.fromFile(join(dir, 'tokenizer.json'), { maxLength })
      if (tokenizer.vocabSize > cfg.vocabSize) throw new ModelFormatError('bad_tokenizer', `tokenizer has ids up to ${tokenizer.vocabSize - 1}, the model's vocabulary is ${cfg.vocabSize}`)
      const bytes = buildEncoderGraph(model, { quantBits: init.quantBits ?? 0, attention: init.attention ?? 'fused' })
      const threads = init.threads ?? 1
      const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' })
      return new Embedder(dir, tokenizer, cfg.maxPositions, cfg.vocabSize, await weightsRoot(dir, model.files), cfg.hidden,
        { threads, maxBatch: init.maxBatch ?? 32, maxBatchTokens: init.maxBatchTokens ?? 8192 }, session)
    } finally { model.close() }
  }

  /** Token ids per text (with [CLS]/[SEP], truncated). */
  tokenize(texts: string[]): number[][] { return texts.map((t) => this.tokenizer.encode(t)) }

  async embed(texts: string[]): Promise<EmbedResult> {
    return this.embedIds(this.tokenize(texts))
  }

  async embedIds(seqs: number[][]): Promise<EmbedResult> {
    if (this.#closed) throw new InferenceError('closed', 'embedder is closed')
    for (const s of seqs) {
      if (!s.length || s.length > this.maxPositions) throw new InferenceError('bad_input', `a sequence must hold 1..${this.maxPositions} ids`)
      for (const id of s) if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new InferenceError('bad_input', 'token id out of range')
    }
    const order = seqs.map((_, i) => i).sort((a, b) => seqs[a]!.length - seqs[b]!.length)
    const out: Float32Array[] = new Array(seqs.length)
    let tokens = 0
    for (let i = 0; i < order.length;) {
      // sorted ascending: the batch's last member sets its padded length
      let j = i + 1
      while (j < order.length && j - i < this.init.maxBatch && (j - i + 1) * seqs[order[j]!]!.length <= this.init.maxBatchTokens) j++
      const batch = order.slice(i, j)
      const vecs = await this.#run(batch.map((k) => seqs[k]!))
      batch.forEach((k, b) => { out[k] = vecs[b]!; tokens += seqs[k]!.length })
      i = j
    }
    return { vectors: out, tokens }
  }

  async #run(batch: number[][]): Promise<Float32Array[]> {
    const B = batch.length, T = Math.max(...batch.map((s) => s.length))
    const ids = new BigInt64Array(B * T), pos = new BigInt64Array(B * T), types = new BigInt64Array(B * T), mask = new Float32Array(B * T)
    const pad = BigInt(this.tokenizer.padId)
    batch.forEach((s, b) => {
      for (let t = 0; t < T; t++) {
        const o = b * T + t
        ids[o] = t < s.length ? BigInt(s[t]!) : pad
        pos[o] = BigInt(t)
        mask[o] = t < s.length ? 1 : 0
      }
    })
    const r = await this.session.run({
      input_ids: new ort.Tensor('int64', ids, [B, T]), token_type_ids: new ort.Tensor('int64', types, [B, T]),
      position_ids: new ort.Tensor('int64', pos, [B, T]), attention_mask: new ort.Tensor('float32', mask, [B, T]),
    })
    const e = r.embeddings!.data as Float32Array
    return batch.map((_, b) => e.slice(b * this.dim, (b + 1) * this.dim))
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.session.release()
  }
}
