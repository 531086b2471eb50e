/**
 * One pipeline stage: the ONNX graph of a layer range run by onnxruntime-node, with a KV cache per session.
 * `forwardBatch` runs several sessions (same new-token count T, any past lengths) in one forward pass: positions a
 * session does not have are masked out, so each session sees exactly what it would see alone. The default 'buffer'
 * KV layout keeps preallocated caches (kv-cache.ts) that a step reads in place; 'concat' is the former layout.
 */
import * as ort from 'onnxruntime-node'
import { buildStageGraph, type KvLayout, type StageSpec } from './graph.js'
import { ModelDir, type ModelConfig } from './model.js'
import { InferenceError } from './errors.js'
import { gatherBatch, KvBuffer } from './kv-cache.js'

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
  /** Cache per session: KvBuffer for the 'buffer' layout, Cache for 'concat'. */
  #caches = new Map<string, Cache | KvBuffer>()
  #kvLayout: KvLayout
  #invFreq: Float64Array
  #closed = false

  private constructor(readonly spec: StageInit, cfg: ModelConfig, sess: ort.InferenceSession, first: boolean, last: boolean, kvLayout: KvLayout) {
    this.cfg = cfg
    this.#kvLayout = kvLayout
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
      return new StageEngine(init, cfg, sess, graph.first, graph.last, graph.kvLayout)
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
    const D = this.cfg.hidden
    const past = items.map((it) => (it.stateless ? 0 : this.pastLength(it.sid)))
    for (const [b, it] of items.entries()) {
      if (it.T !== T || T < 1) throw new InferenceError('bad_batch', 'items of one batch must share T >= 1')
      if (past[b]! + T > this.maxContext) throw new InferenceError('context_full', `session context would exceed ${this.maxContext} tokens`)
      if (!it.stateless && !this.#caches.has(it.sid) && this.#caches.size >= this.maxSessions) throw new InferenceError('capacity', 'stage has no free session slot')
      if (this.first ? it.ids?.length !== T : it.hidden?.length !== T * D) throw new InferenceError('bad_input', `stage input must be ${this.first ? `${T} token ids` : `${T}x${D} hidden states`}`)
      if (this.first && it.ids!.some((id) => !Number.isInteger(id) || id < 0 || id >= this.cfg.vocabSize)) throw new InferenceError('bad_input', 'token id out of range')
    }
    const feeds = this.#inputFeeds(items, past, T)
    return this.#kvLayout === 'buffer' ? this.#forwardBuffer(items, past, T, feeds) : this.#forwardConcat(items, past, T, feeds)
  }

  /** Token/hidden inputs and Llama's rotary tables (the same for both KV layouts). */
  #inputFeeds(items: ForwardItem[], past: number[], T: number): Record<string, ort.Tensor> {
    const { hidden: D, headDim: Dh } = this.cfg
    const B = items.length
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
      feeds.cos = new ort.Tensor('float32', cos, [B, T, 1, 1, Dh])
      feeds.sin = new ort.Tensor('float32', sin, [B, T, 1, 1, Dh])
    }
    return feeds
  }

  async #run(feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
    try { return await this.#sess.run(feeds) } catch (e) {
      throw new InferenceError('engine', `onnxruntime failed: ${(e as Error).message}`, { cause: e })
    }
  }

  #output(res: ort.InferenceSession.OnnxValueMapType, b: number, B: number, T: number, pos: number): ForwardOut {
    if (this.last) {
      const V = this.cfg.vocabSize
      const all = res.logits!.data as Float32Array
      return { data: B === 1 ? all : all.slice(b * V, (b + 1) * V), dims: [V], pos }
    }
    const D = this.cfg.hidden
    const hs = res.hidden_out!.data as Float32Array
    return { data: B === 1 ? hs : hs.slice(b * T * D, (b + 1) * T * D), dims: [T, D], pos }
  }

  /**
   * Preallocated cache: each session's buffers sit at their own length (no padding); a batch of one feeds them in
   * place, a larger batch gathers them. Only the T new rows come back and are written at each session's length.
   */
  async #forwardBuffer(items: ForwardItem[], past: number[], T: number, feeds: Record<string, ort.Tensor>): Promise<ForwardOut[]> {
    const { kvHeads: KVH, headDim: Dh } = this.cfg
    const B = items.length
    // a new session's buffer is registered only after the run succeeds
    const caches = items.map((it) => it.stateless ? null : (this.#caches.get(it.sid) as KvBuffer | undefined) ?? new KvBuffer(this.layers, KVH, Dh))
    let C: number
    if (B === 1 && caches[0]) {
      caches[0].reserve(past[0]! + T, this.maxContext)
      C = caches[0].cap
    } else C = Math.max(1, ...past)
    const S = C + T
    const mask = new Float32Array(B * T * S)
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const row = (b * T + t) * S
        for (let j = 0; j < S; j++) mask[row + j] = j < past[b]! || (j >= C && j - C <= t) ? 0 : NEG
      }
    }
    feeds.mask = new ort.Tensor('float32', mask, [B, T, 1, 1, S])
    feeds.kv_split = new ort.Tensor('int64', BigInt64Array.of(BigInt(C), BigInt(T)), [2])
    for (let i = 0; i < this.layers; i++) {
      const { k, v } = B === 1 && caches[0] ? { k: caches[0].k[i]!, v: caches[0].v[i]! } : gatherBatch(caches, i, KVH, Dh, C)
      feeds[`past_k.${i}`] = new ort.Tensor('float32', k, [B, 1, KVH, Dh, C])
      feeds[`past_v.${i}`] = new ort.Tensor('float32', v, [B, 1, KVH, C, Dh])
    }
    const res = await this.#run(feeds)
    // new_kv: per layer B*KVH*T*Dh K values, then as many V
    const newKv = res.new_kv!.data as Float32Array, rows = B * KVH * T * Dh
    return items.map((it, b) => {
      const c = caches[b]
      if (c) {
        c.reserve(past[b]! + T, this.maxContext)
        for (let i = 0; i < this.layers; i++) c.write(i, newKv.subarray(2 * i * rows, (2 * i + 1) * rows), newKv.subarray((2 * i + 1) * rows, (2 * i + 2) * rows), b, T)
        c.commit(T)
        this.#caches.set(it.sid, c)
      }
      return this.#output(res, b, B, T, past[b]! + T)
    })
  }

  /** The former Concat layout: caches left-padded to the longest, the whole cache comes back as present_*. */
  async #forwardConcat(items: ForwardItem[], past: number[], T: number, feeds: Record<string, ort.Tensor>): Promise<ForwardOut[]> {
    const { kvHeads: KVH, headDim: Dh } = this.cfg
    const B = items.length
    const P = Math.max(...past), S = P + T
    const mask = new Float32Array(B * T * S)
    for (let b = 0; b < B; b++) {
      const lo = P - past[b]!
      for (let t = 0; t < T; t++) {
        const row = (b * T + t) * S
        for (let j = 0; j < S; j++) mask[row + j] = j >= lo && j <= P + t ? 0 : NEG
      }
    }
    feeds.mask = new ort.Tensor('float32', mask, [B, T, 1, 1, S])
    const row = Dh
    for (let i = 0; i < this.layers; i++) {
      for (const kind of ['k', 'v'] as const) {
        let data: Float32Array
        if (B === 1) data = past[0] ? (this.#caches.get(items[0]!.sid) as Cache)[kind][i]! : new Float32Array(0)
        else {
          data = new Float32Array(B * KVH * P * row)
          items.forEach((it, b) => {
            if (!past[b]) return
            const src = (this.#caches.get(it.sid) as Cache)[kind][i]!
            const pb = past[b]!
            for (let h = 0; h < KVH; h++) data.set(src.subarray(h * pb * row, (h + 1) * pb * row), ((b * KVH + h) * P + (P - pb)) * row)
          })
        }
        feeds[`past_${kind}.${i}`] = new ort.Tensor('float32', data, [B, 1, KVH, P, Dh])
      }
    }
    const res = await this.#run(feeds)
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
      outs.push(this.#output(res, b, B, T, newLen))
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
