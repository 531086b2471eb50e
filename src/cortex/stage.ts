/**
 * One pipeline stage: the ONNX graph of a layer range run by onnxruntime-node, with a KV cache per session.
 * `forwardBatch` runs several sessions (same new-token count T, any past lengths) in one forward pass: shorter
 * caches are left-padded and masked out, so each session sees exactly what it would see alone.
 */
import * as ort from 'onnxruntime-node'
import { buildStageGraph, type StageSpec } from './graph.js'
import { ModelDir, type ModelConfig } from './model.js'
import { InferenceError } from './errors.js'

const NEG = -1e9

export interface StageInit extends StageSpec {
  /** ORT intra-op threads. @default 1 */
  threads?: number
  /** Most sessions holding a cache at once. @default 64 */
  maxSessions?: number
  /** Longest context (tokens) per session. @default config's max positions */
  maxContext?: number
}

export interface ForwardItem {
  sid: string
  /** Token ids (first stage). */
  ids?: number[]
  /** Hidden states [T*D] (later stages). */
  hidden?: Float32Array
  T: number
  /** Run from position 0 without reading or writing the cache (used to rebuild a replaced stage). */
  stateless?: boolean
}

export interface ForwardOut {
  /** hidden [T*D] or logits [V] (last stage). */
  data: Float32Array
  dims: number[]
  /** Cache length after this step. */
  pos: number
}

interface Cache { len: number; k: Float32Array[]; v: Float32Array[] }

export class StageEngine {
  readonly cfg: ModelConfig
  readonly first: boolean
  readonly last: boolean
  readonly layers: number
  readonly maxSessions: number
  readonly maxContext: number
  #sess: ort.InferenceSession
  #caches = new Map<string, Cache>()
  #invFreq: Float64Array
  #closed = false

  private constructor(readonly spec: StageInit, cfg: ModelConfig, sess: ort.InferenceSession, first: boolean, last: boolean) {
    this.cfg = cfg
    this.#sess = sess
    this.first = first
    this.last = last
    this.layers = spec.end - spec.start
    this.maxSessions = spec.maxSessions ?? 64
    this.maxContext = Math.min(spec.maxContext ?? cfg.maxPositions, cfg.maxPositions)
    const half = cfg.headDim / 2
    this.#invFreq = Float64Array.from({ length: half }, (_, i) => cfg.ropeTheta ** (-(2 * i) / cfg.headDim))
  }

  /** Loads the layer range [start, end) of the model in `dir`. */
  static async load(dir: string | ModelDir, init: StageInit): Promise<StageEngine> {
    const model = typeof dir === 'string' ? new ModelDir(dir) : dir
    try {
      const cfg = model.config
      if (!(Number.isInteger(init.start) && Number.isInteger(init.end) && init.start >= 0 && init.end > init.start && init.end <= cfg.layers)) {
        throw new InferenceError('bad_layers', `layer range ${init.start}:${init.end} is not inside 0:${cfg.layers}`)
      }
      const graph = buildStageGraph(model, init)
      const threads = init.threads ?? 1
      const sess = await ort.InferenceSession.create(graph.bytes, {
        intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential',
      })
      return new StageEngine(init, cfg, sess, graph.first, graph.last)
    } finally {
      if (typeof dir === 'string') model.close()
    }
  }

  get sessions(): number { return this.#caches.size }
  pastLength(sid: string): number { return this.#caches.get(sid)?.len ?? 0 }
  hasSession(sid: string): boolean { return this.#caches.has(sid) }
  endSession(sid: string): boolean { return this.#caches.delete(sid) }
  sessionIds(): string[] { return [...this.#caches.keys()] }

  /** Runs one forward pass over `items` (all with the same T). */
  async forwardBatch(items: ForwardItem[]): Promise<ForwardOut[]> {
    if (this.#closed) throw new InferenceError('closed', 'stage is closed')
    if (!items.length) return []
    const T = items[0]!.T
    const { hidden: D, kvHeads: KVH, headDim: Dh } = this.cfg
    const B = items.length
    const past = items.map((it) => (it.stateless ? 0 : this.pastLength(it.sid)))
    for (const [b, it] of items.entries()) {
      if (it.T !== T || T < 1) throw new InferenceError('bad_batch', 'items of one batch must share T >= 1')
      if (past[b]! + T > this.maxContext) throw new InferenceError('context_full', `session context would exceed ${this.maxContext} tokens`)
      if (!it.stateless && !this.#caches.has(it.sid) && this.#caches.size >= this.maxSessions) throw new InferenceError('capacity', 'stage has no free session slot')
      if (this.first ? it.ids?.length !== T : it.hidden?.length !== T * D) throw new InferenceError('bad_input', `stage input must be ${this.first ? `${T} token ids` : `${T}x${D} hidden states`}`)
      if (this.first && it.ids!.some((id) => !Number.isInteger(id) || id < 0 || id >= this.cfg.vocabSize)) throw new InferenceError('bad_input', 'token id out of range')
    }
    const P = Math.max(...past), S = P + T
    const feeds: Record<string, ort.Tensor> = {}
    if (this.first) {
      feeds.input_ids = new ort.Tensor('int64', BigInt64Array.from(items.flatMap((it) => it.ids!.map(BigInt))), [B, T])
      if (this.cfg.family === 'gpt2') {
        const pos = new BigInt64Array(B * T)
        for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) pos[b * T + t] = BigInt(past[b]! + t)
        feeds.position_ids = new ort.Tensor('int64', pos, [B, T])
      }
    } else {
      const h = B === 1 ? items[0]!.hidden! : new Float32Array(B * T * D)
      if (B > 1) items.forEach((it, b) => h.set(it.hidden!, b * T * D))
      feeds.hidden_in = new ort.Tensor('float32', h, [B, T, D])
    }
    const mask = new Float32Array(B * T * S)
    for (let b = 0; b < B; b++) {
      const lo = P - past[b]!
      for (let t = 0; t < T; t++) {
        const row = (b * T + t) * S
        for (let j = 0; j < S; j++) mask[row + j] = j >= lo && j <= P + t ? 0 : NEG
      }
    }
    feeds.mask = new ort.Tensor('float32', mask, [B, 1, T, S])
    if (this.cfg.family === 'llama') {
      const cos = new Float32Array(B * T * Dh), sin = new Float32Array(B * T * Dh)
      const half = Dh / 2
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
        const p = past[b]! + t, base = (b * T + t) * Dh
        for (let i = 0; i < half; i++) {
          const a = p * this.#invFreq[i]!
          cos[base + i] = cos[base + i + half] = Math.cos(a)
          sin[base + i] = sin[base + i + half] = Math.sin(a)
        }
      }
      feeds.cos = new ort.Tensor('float32', cos, [B, 1, T, Dh])
      feeds.sin = new ort.Tensor('float32', sin, [B, 1, T, Dh])
    }
    const row = Dh
    for (let i = 0; i < this.layers; i++) {
      for (const kind of ['k', 'v'] as const) {
        let data: Float32Array
        if (B === 1) data = past[0] ? this.#caches.get(items[0]!.sid)![kind][i]! : new Float32Array(0)
        else {
          data = new Float32Array(B * KVH * P * row)
          items.forEach((it, b) => {
            if (!past[b]) return
            const src = this.#caches.get(it.sid)![kind][i]!
            const pb = past[b]!
            for (let h = 0; h < KVH; h++) data.set(src.subarray(h * pb * row, (h + 1) * pb * row), ((b * KVH + h) * P + (P - pb)) * row)
          })
        }
        feeds[`past_${kind}.${i}`] = new ort.Tensor('float32', data, [B, KVH, P, Dh])
      }
    }
    let res: ort.InferenceSession.OnnxValueMapType
    try { res = await this.#sess.run(feeds) } catch (e) {
      throw new InferenceError('engine', `onnxruntime failed: ${(e as Error).message}`, { cause: e })
    }
    const outs: ForwardOut[] = []
    for (const [b, it] of items.entries()) {
      const newLen = past[b]! + T
      if (!it.stateless) {
        const cache: Cache = { len: newLen, k: [], v: [] }
        for (let i = 0; i < this.layers; i++) {
          for (const kind of ['k', 'v'] as const) {
            const pres = res[`present_${kind}.${i}`]!.data as Float32Array
            let dst: Float32Array
            if (B === 1 && P === past[b]) dst = pres
            else {
              dst = new Float32Array(KVH * newLen * row)
              const off = P - past[b]!
              for (let h = 0; h < KVH; h++) dst.set(pres.subarray(((b * KVH + h) * S + off) * row, ((b * KVH + h) * S + S) * row), h * newLen * row)
            }
            cache[kind].push(dst)
          }
        }
        this.#caches.set(it.sid, cache)
      }
      if (this.last) {
        const V = this.cfg.vocabSize
        const lg = res.logits!.data as Float32Array
        outs.push({ data: lg.slice(b * V, (b + 1) * V), dims: [V], pos: newLen })
      } else {
        const hs = res.hidden_out!.data as Float32Array
        outs.push({ data: B === 1 ? hs : hs.slice(b * T * D, (b + 1) * T * D), dims: [T, D], pos: newLen })
      }
    }
    return outs
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#caches.clear()
    await this.#sess.release()
  }
}
