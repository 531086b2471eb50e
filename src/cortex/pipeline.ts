/**
 * The coordinator side of pipeline-parallel inference: a session runs each step through a chain of stages
 * (token ids into the first, hidden states between, last-position logits out of the last). Each stage keeps the
 * session's KV cache. When a stage fails (link closed, timeout), the session replaces it with another node serving
 * the same layers and rebuilds that stage's cache from the tokens so far (a stateless pass through the stages before
 * it), then retries the step: the output is the same as an uninterrupted run.
 */
import { randomBytes } from 'node:crypto'
import type { Link, LinkProvider } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import { ZeoneError } from '../util/errors.js'
import { toB64, toHex } from '../util/bytes.js'
import { assembleChain, type StageCandidate, type StageDirectory } from './directory.js'
import { InferenceError, NoRouteError } from './errors.js'
import { CortexType, decodeForwardResp, decodeInfoResp, encodeEnd, encodeForwardReq, encodeInfoReq, type TailSample } from './messages.js'
import { sampleWithDraw } from './sampling.js'
import type { StageServer } from './server.js'
import { decodeTensor, encodeTensor } from './tensor-codec.js'

export interface StepInput { ids?: number[]; hidden?: Float32Array; T: number }
/** `data`: hidden states or logits; `tok` instead when the last stage was asked to sample. */
export interface StepOutput { data?: Float32Array; tok?: number; pos: number; commit?: Uint8Array }

/** One stage as the coordinator sees it. */
export interface StageClient {
  readonly id: string
  readonly nodeId: Uint8Array
  readonly start: number
  readonly end: number
  readonly last: boolean
  forward(sid: Uint8Array, pos: number, input: StepInput, stateless?: boolean, sample?: TailSample, signal?: AbortSignal): Promise<StepOutput>
  /** Frees the session's cache on this stage. */
  release(sid: Uint8Array): void
}

/** A stage on another node, reached over a Link. */
export class RemoteStageClient implements StageClient {
  readonly id: string
  readonly nodeId: Uint8Array
  constructor(readonly link: Link, readonly model: string, readonly start: number, readonly end: number, readonly layers: number, readonly hidden: number, readonly vocab: number, readonly timeoutMs = 60_000) {
    this.nodeId = link.peer.nodeId
    this.id = `${link.peer.nodeIdB64}/${start}:${end}`
  }
  get last(): boolean { return this.end === this.layers }

  async forward(sid: Uint8Array, pos: number, input: StepInput, stateless = false, sample?: TailSample, signal?: AbortSignal): Promise<StepOutput> {
    const smp = this.last ? sample : undefined
    const body = encodeForwardReq({ sid, model: this.model, pos, ids: input.ids, x: input.hidden ? encodeTensor(input.hidden, [input.T, this.hidden]) : undefined, stateless, sample: smp })
    const resp = await this.link.request(CortexType.CORTEX_FORWARD, body, { timeoutMs: this.timeoutMs, ...(signal ? { signal } : {}) })
    if (resp.type !== CortexType.CORTEX_FORWARD_RESP) throw new InferenceError('bad_reply', `stage replied with type 0x${resp.type.toString(16)}`)
    const r = decodeForwardResp(resp.body)
    if (smp) {
      if (r.tok === undefined || r.tok >= this.vocab) throw new InferenceError('bad_reply', 'stage did not return a valid token')
      return { tok: r.tok, pos: r.pos, ...(r.commit ? { commit: r.commit } : {}) }
    }
    if (!r.y) throw new InferenceError('bad_reply', 'stage did not return a tensor')
    const t = decodeTensor(r.y, { expectDims: this.last ? [this.vocab] : [input.T, this.hidden] })
    return { data: t.data, pos: r.pos, ...(r.commit ? { commit: r.commit } : {}) }
  }

  release(sid: Uint8Array): void { if (!this.link.closed) this.link.send(CortexType.CORTEX_END, encodeEnd(sid)) }
}

/** A stage served by this node, used without the network (same batcher as remote requests). */
export class LocalStageClient implements StageClient {
  readonly id: string
  constructor(readonly server: StageServer, readonly nodeId: Uint8Array) { this.id = `local/${server.engine.spec.start}:${server.engine.spec.end}` }
  get start(): number { return this.server.engine.spec.start }
  get end(): number { return this.server.engine.spec.end }
  get last(): boolean { return this.server.engine.last }
  #key(sid: Uint8Array): string { return `local:${toHex(sid)}` }
  async forward(sid: Uint8Array, pos: number, input: StepInput, stateless = false, sample?: TailSample, signal?: AbortSignal): Promise<StepOutput> {
    signal?.throwIfAborted()
    const key = this.#key(sid)
    if (!stateless && this.server.engine.pastLength(key) !== pos) {
      if (pos === 0) this.server.engine.endSession(key)
      else throw new InferenceError('pos_mismatch', 'local stage cache out of step')
    }
    const out = await this.server.run({ sid: key, ids: input.ids, hidden: input.hidden, T: input.T, stateless })
    if (sample && this.last) return { tok: sampleWithDraw(out.data, sample), pos: out.pos }
    return { data: out.data, pos: out.pos }
  }
  release(sid: Uint8Array): void { this.server.engine.endSession(this.#key(sid)) }
}

/** Opens a stage client for a discovered candidate (dials it and confirms its range with CORTEX_INFO). */
export async function connectStage(links: LinkProvider, c: StageCandidate, dims: { hidden: number; vocab: number }, timeoutMs = 60_000): Promise<RemoteStageClient> {
  let lastErr: unknown = new NoRouteError('unreachable', 'candidate has no address')
  for (const addr of c.addrs) {
    try {
      const link = links.get(c.nodeId) ?? await links.dial(addr, { expectNodeId: c.nodeId })
      const r = await link.request(CortexType.CORTEX_INFO, encodeInfoReq(), { timeoutMs: 10_000 })
      const info = decodeInfoResp(r.body)
      if (info.model !== c.model || info.start !== c.start || info.end !== c.end) throw new InferenceError('stale_record', 'stage no longer serves the announced range')
      return new RemoteStageClient(link, c.model, c.start, c.end, c.layers, dims.hidden, dims.vocab, timeoutMs)
    } catch (e) { lastErr = e }
  }
  throw lastErr
}

/** Errors after which a stage is considered dead and replaced. */
function isStageFailure(e: unknown): boolean {
  const code = e instanceof ZeoneError ? e.code : ''
  return ['link_closed', 'closed', 'timeout', 'connect_refused', 'aborted'].includes(code) || (e as Error)?.name === 'LinkClosedError' || (e as Error)?.name === 'TimeoutError'
}

export interface PipelineSessionInit {
  model: string
  layers: number
  hidden: number
  vocab: number
  chain: StageClient[]
  /** Finds replacements; without it a failed stage fails the session. */
  directory?: StageDirectory
  links?: LinkProvider
  /** Local stages that can stand in for failed remote ones. */
  localStages?: StageClient[]
  /** Most stage replacements per session. @default 4 */
  maxFailovers?: number
  logger?: Logger
  timeoutMs?: number
  /** The owning component's shutdown signal: every step is aborted with it (combined with the step's own). */
  signal?: AbortSignal
  /** Live verified inference: sees every stage's inputs and commitments and sample-checks them (verify/audit.ts). */
  audit?: StepAuditor
}

/** What the coordinator tells a verifier about each stage step (verify/audit.ts implements it). */
export interface StepAuditor {
  /** Stage `i` (now `stage`) ran `input` at `pos` and answered `out`; pos 0 starts a new trace for that stage. */
  observe(i: number, stage: StageClient, pos: number, input: StepInput, out: StepOutput): void
}

/** A signal aborted when either given one is; `detach` removes the listeners (call it in finally). */
export function combineSignals(a?: AbortSignal, b?: AbortSignal): { signal?: AbortSignal; detach(): void } {
  if (!a || !b) return { ...(a ?? b ? { signal: a ?? b } : {}), detach() {} }
  const ac = new AbortController()
  const onA = (): void => ac.abort(a.reason), onB = (): void => ac.abort(b.reason)
  if (a.aborted) onA(); else if (b.aborted) onB()
  else { a.addEventListener('abort', onA, { once: true }); b.addEventListener('abort', onB, { once: true }) }
  return { signal: ac.signal, detach() { a.removeEventListener('abort', onA); b.removeEventListener('abort', onB) } }
}

export class PipelineSession {
  readonly sid = new Uint8Array(randomBytes(16))
  readonly chain: StageClient[]
  /** Tokens every stage's cache holds. */
  readonly tokens: number[] = []
  failovers = 0
  #dead: Uint8Array[] = []
  #ended = false
  #log: Logger

  constructor(readonly init: PipelineSessionInit) {
    this.chain = init.chain.slice()
    this.#log = init.logger ?? silentLogger
    let p = 0
    for (const s of this.chain) { if (s.start !== p) throw new NoRouteError('bad_chain', 'chain does not tile the layers'); p = s.end }
    if (p !== init.layers) throw new NoRouteError('bad_chain', 'chain does not cover every layer')
  }

  /** Runs new tokens through every stage; returns the last position's logits. */
  async step(ids: number[], signal?: AbortSignal): Promise<Float32Array> {
    return (await this.#run(ids, undefined, signal)).data!
  }

  /** Runs new tokens and lets the last stage sample the next token with the coordinator's draw `u`. */
  async stepSample(ids: number[], sample: TailSample, signal?: AbortSignal): Promise<number> {
    return (await this.#run(ids, sample, signal)).tok!
  }

  async #run(ids: number[], sample?: TailSample, stepSignal?: AbortSignal): Promise<StepOutput> {
    if (this.#ended) throw new InferenceError('ended', 'session ended')
    const { signal, detach } = combineSignals(stepSignal, this.init.signal)
    try {
      let input: StepInput = { ids, T: ids.length }
      let out!: StepOutput
      for (let i = 0; i < this.chain.length; i++) {
        for (;;) {
          signal?.throwIfAborted()
          const pos = this.tokens.length
          try { out = await this.chain[i]!.forward(this.sid, pos, input, false, sample, signal) } catch (e) {
            // an abort is the caller's, not the stage's failure
            if (signal?.aborted || !isStageFailure(e)) throw e
            this.#log.warn({ stage: this.chain[i]!.id, err: (e as Error).message }, 'cortex stage failed, replacing it')
            await this.#replace(i, signal)
            continue
          }
          this.init.audit?.observe(i, this.chain[i]!, pos, input, out)
          break
        }
        input = { hidden: out.data, T: ids.length }
      }
      this.tokens.push(...ids)
      return out
    } finally { detach() }
  }

  async #replace(i: number, signal?: AbortSignal): Promise<void> {
    const dead = this.chain[i]!
    if (++this.failovers > (this.init.maxFailovers ?? 4)) throw new NoRouteError('failover_exhausted', 'too many stage failures in one session')
    this.#dead.push(dead.nodeId)
    let next: StageClient | undefined = this.init.localStages?.find((s) => s.start === dead.start && s.end === dead.end && s.id !== dead.id)
    if (!next && this.init.directory && this.init.links) {
      const cands = (await this.init.directory.find(this.init.model)).filter((c) => c.start === dead.start && c.end === dead.end && c.layers === this.init.layers && c.capacity > 0 && !this.#dead.some((d) => toB64(d) === toB64(c.nodeId)))
      for (const c of cands) {
        try { next = await connectStage(this.init.links, c, this.init, this.init.timeoutMs); break } catch (e) {
          this.#log.debug({ err: (e as Error).message }, 'replacement candidate unreachable')
        }
      }
    }
    if (!next) throw new NoRouteError('no_replacement', `no other node serves layers ${dead.start}:${dead.end}`)
    if (this.tokens.length) {
      // rebuild the new stage's cache: recompute its inputs for all committed tokens without touching other caches
      let input: StepInput = { ids: this.tokens.slice(), T: this.tokens.length }
      for (let j = 0; j < i; j++) input = { hidden: (await this.chain[j]!.forward(this.sid, 0, input, true, undefined, signal)).data!, T: this.tokens.length }
      const r = await next.forward(this.sid, 0, input, false, undefined, signal)
      if (r.pos !== this.tokens.length) throw new InferenceError('rebuild_failed', 'replacement stage cache has the wrong length')
      // the replacement's trace starts with the rebuild step (its prover starts a fresh session at pos 0)
      this.init.audit?.observe(i, next, 0, input, r)
    }
    this.chain[i] = next
  }

  /** Frees the session's caches on every stage. Idempotent. */
  end(): void {
    if (this.#ended) return
    this.#ended = true
    for (const s of this.chain) { try { s.release(this.sid) } catch { /* best effort */ } }
  }
}

/** Discovers stages for `model` and opens clients for a chain covering every layer. */
export async function openChain(dir: StageDirectory, links: LinkProvider, model: string, dims: { hidden: number; vocab: number }, local: StageClient[] = [], opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<{ layers: number; chain: StageClient[] }> {
  const cands = await dir.find(model, opts)
  const layers = cands[0]?.layers
  if (layers === undefined && !local.length) throw new NoRouteError('no_route', `no stage serves ${model}`)
  const total = layers ?? Math.max(...local.map((l) => l.end))
  const localCands: StageCandidate[] = local.map((l) => ({ nodeId: l.nodeId, addrs: [], model, start: l.start, end: l.end, layers: total, capacity: 1 << 20 }))
  const picked = assembleChain([...localCands, ...cands], total)
  const chain: StageClient[] = []
  for (const c of picked) {
    const l = local.find((s) => s.start === c.start && s.end === c.end && s.nodeId === c.nodeId)
    chain.push(l ?? await connectStage(links, c, dims, opts.timeoutMs))
  }
  return { layers: total, chain }
}
