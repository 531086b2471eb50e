/**
 * The node's embedding service: the loaded encoders by model id, the `embed` wire service (SERVICE_REQUEST payload
 * = JSON `{model?, input: string[]}`, answer = JSON `{model, dim, tokens, data: base64 float32 LE per input}`),
 * and the semantic index over the vector store. Inputs are bounded (count, characters) before tokenizing.
 */
import { ZeoneError } from '../../util/errors.js'
import type { Service } from '../../interfaces/service.js'
import type { Embedder } from './embedder.js'
import type { SemanticIndex } from './semantic-index.js'
import type { SpaceKey } from './vector-store.js'

/** Longest input accepted, characters (the encoder truncates to its context anyway). */
export const MAX_INPUT_CHARS = 65_536

export interface LoadedModel { id: string; version: string; embedder: Embedder; space: SpaceKey; spaceId?: number }

export interface EmbedServiceInit {
  models: LoadedModel[]
  defaultId: string
  maxInputs: number
  pricePer1kTokens: number
  index?: SemanticIndex
}

export class EmbedService {
  readonly #models = new Map<string, LoadedModel>()
  constructor(readonly init: EmbedServiceInit) {
    for (const m of init.models) this.#models.set(m.id, m)
  }

  get index(): SemanticIndex | undefined { return this.init.index }

  models(): { id: string; version: string; dim: number; weightsRoot: string; space?: number; default: boolean }[] {
    return [...this.#models.values()].map((m) => ({ id: m.id, version: m.version, dim: m.embedder.dim, weightsRoot: m.space.weightsRoot, space: m.spaceId, default: m.id === this.init.defaultId }))
  }

  model(id?: string): LoadedModel {
    const m = this.#models.get(id ?? this.init.defaultId)
    if (!m) throw new ZeoneError('model_not_found', `The model '${id}' does not exist (this node serves ${[...this.#models.keys()].join(', ') || 'no embedding model'})`)
    return m
  }

  checkInputs(input: unknown): string[] {
    const list = typeof input === 'string' ? [input] : input
    if (!Array.isArray(list) || !list.length) throw new ZeoneError('bad_input', "'input' must be a non-empty string or array of strings")
    if (list.length > this.init.maxInputs) throw new ZeoneError('bad_input', `'input' holds ${list.length} items, at most ${this.init.maxInputs} are accepted`)
    for (const [i, s] of list.entries()) {
      if (typeof s !== 'string') throw new ZeoneError('bad_input', `'input[${i}]' must be a string`)
      if (s.length > MAX_INPUT_CHARS) throw new ZeoneError('bad_input', `'input[${i}]' has ${s.length} characters, at most ${MAX_INPUT_CHARS}`)
      if (!s.length) throw new ZeoneError('bad_input', `'input[${i}]' is empty`)
    }
    return list as string[]
  }

  async embed(model: string | undefined, input: unknown): Promise<{ model: string; vectors: Float32Array[]; tokens: number }> {
    const m = this.model(model)
    const texts = this.checkInputs(input)
    const r = await m.embedder.embed(texts)
    return { model: m.id, ...r }
  }

  /** The `embed` service for the service router. */
  wireService(): Service {
    const parse = (payload: Uint8Array): { model?: string; input: unknown } => {
      let v: unknown
      try { v = JSON.parse(Buffer.from(payload).toString('utf8')) } catch { throw new ZeoneError('bad_input', 'embed request is not JSON') }
      if (!v || typeof v !== 'object') throw new ZeoneError('bad_input', 'embed request must be an object')
      const o = v as { model?: unknown; input?: unknown }
      if (o.model !== undefined && typeof o.model !== 'string') throw new ZeoneError('bad_input', 'model must be a string')
      return { model: o.model as string | undefined, input: o.input }
    }
    const price = BigInt(this.init.pricePer1kTokens)
    return {
      name: 'embed',
      quote: (payload) => {
        if (!price) return 0n
        const p = parse(payload)
        const m = this.model(p.model)
        const tokens = this.checkInputs(p.input).reduce((a, t) => a + m.embedder.tokenizer.encode(t).length, 0)
        return (BigInt(tokens) * price + 999n) / 1000n
      },
      units: (_payload, result) => BigInt((JSON.parse(Buffer.from(result).toString('utf8')) as { tokens: number }).tokens),
      serve: async (payload) => {
        const p = parse(payload)
        const r = await this.embed(p.model, p.input)
        const data = r.vectors.map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'))
        return Buffer.from(JSON.stringify({ model: r.model, dim: this.model(r.model).embedder.dim, tokens: r.tokens, data }))
      },
    }
  }

  async close(): Promise<void> {
    await this.init.index?.close()
    this.init.index?.store.close()
    for (const m of this.#models.values()) await m.embedder.close()
  }
}

/** Decodes the `embed` service's answer. */
export function decodeEmbedAnswer(bytes: Uint8Array): { model: string; dim: number; tokens: number; vectors: Float32Array[] } {
  const o = JSON.parse(Buffer.from(bytes).toString('utf8')) as { model: string; dim: number; tokens: number; data: string[] }
  return { model: o.model, dim: o.dim, tokens: o.tokens, vectors: o.data.map((b) => { const buf = Buffer.from(b, 'base64'); const v = new Float32Array(buf.byteLength / 4); new Uint8Array(v.buffer).set(buf); return v }) }
}
