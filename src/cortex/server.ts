/**
 * Serves one stage over the wire: CORTEX_INFO, CORTEX_FORWARD (through the batcher) and CORTEX_END. Sessions are
 * scoped by the requesting peer, freed on CORTEX_END, when the peer's link closes, or after `sessionTtlMs` idle.
 */
import { SpanKind } from '@opentelemetry/api'
import type { TraceContext } from '../interfaces/link.js'
import type { NodeTracer } from '../interfaces/tracing.js'
import { failSpan } from '../util/span.js'
import type { Clock } from '../interfaces/clock.js'
import { systemClock } from '../interfaces/clock.js'
import type { Inbound, Link, LinkProvider, MessageRouter } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import type { UsageMeter } from '../interfaces/services.js'
import type { TrustSink } from '../interfaces/trust.js'
import { MessageType } from '../wire/message-types.js'
import { toWireError } from '../wire/error-codes.js'
import { encodeError } from '../transport/rpc-link.js'
import { toHex } from '../util/bytes.js'
import { ZeoneError } from '../util/errors.js'
import { Batcher } from './batcher.js'
import { InferenceError } from './errors.js'
import { CortexType, decodeEnd, decodeForwardReq, decodeInfoReq, encodeForwardResp, encodeInfoResp } from './messages.js'
import type { StageEngine } from './stage.js'
import { decodeTensor, encodeTensor } from './tensor-codec.js'
import { sampleWithDraw } from './sampling.js'
import { encodeSignedCommitment, type Signer } from './verify/attest.js'
import { StageProver, type EvmAttester } from './verify/prover.js'
import { lastRow, rowWidth } from './verify/trace.js'

export interface StageServerInit {
  modelId: string
  engine: StageEngine
  router: MessageRouter
  links?: LinkProvider
  /** Idle time after which a session's cache is freed. @default 300000 */
  sessionTtlMs?: number
  /** @default 16 */
  maxBatch?: number
  /** Most sessions one peer may hold on this stage, so one peer cannot take every slot. 0 or unset = a quarter of
   *  the engine's maxSessions (at least 1). @default 0 */
  maxSessionsPerPeer?: number
  clock?: Clock
  logger?: Logger
  usage?: UsageMeter
  trust?: TrustSink
  /** Called with the token count of every forward step served (metrics). */
  onTokens?: (n: number) => void
  /** Called with the size of every forward pass (metrics). */
  onBatch?: (size: number) => void
  /** Governance gate: false while the governed model whitelist does not hold this model (checked per request). */
  allowed?: () => boolean
  /** Governance gate with a reason (the network whitelist of a chainless node): a string refuses the request with it. */
  gate?: () => string | undefined
  /** A span per forward step served (under the requester's span when it sent a trace context). */
  tracer?: NodeTracer
  /** Verified inference: sign a commitment to this stage's activations every 32 steps of a session. */
  prover?: { signer: Signer; weightsRoot?: Uint8Array; evm?: EvmAttester }
}

interface SessionMeta { key: string; peer: string; lastUsed: number }

export class StageServer {
  readonly batcher: Batcher
  readonly modelId: string
  readonly engine: StageEngine
  #meta = new Map<string, SessionMeta>()
  #provers = new Map<string, StageProver>()
  #perPeer = new Map<string, number>()
  #unsub: (() => void)[] = []
  #linkWatch = new Map<string, () => void>()
  #sweep: { cancel(): void } | null = null
  #clock: Clock
  #ttl: number
  #log: Logger
  #stopped = false

  constructor(readonly init: StageServerInit) {
    this.modelId = init.modelId
    this.engine = init.engine
    this.batcher = new Batcher(init.engine, { maxBatch: init.maxBatch ?? 16, onBatch: init.onBatch })
    this.#clock = init.clock ?? systemClock
    this.#ttl = init.sessionTtlMs ?? 300_000
    this.#log = init.logger ?? silentLogger
  }

  start(): void {
    const r = this.init.router
    this.#unsub.push(r.handle(CortexType.CORTEX_INFO, (m) => this.#onInfo(m)))
    this.#unsub.push(r.handle(CortexType.CORTEX_FORWARD, (m) => this.#onForward(m)))
    this.#unsub.push(r.handle(CortexType.CORTEX_END, (m) => this.#onEnd(m)))
    this.#scheduleSweep()
  }

  get sessionCount(): number { return this.#meta.size }

  /** Sessions one peer may hold (identities are cheap, but every slot holds a KV cache). */
  get perPeerCap(): number {
    return Math.min(this.engine.maxSessions, this.init.maxSessionsPerPeer || Math.max(1, Math.floor(this.engine.maxSessions / 4)))
  }

  info(): { model: string; family: string; start: number; end: number; layers: number; capacity: number; sessions: number } {
    const e = this.engine
    return { model: this.modelId, family: e.cfg.family, start: e.spec.start, end: e.spec.end, layers: e.cfg.layers, capacity: Math.max(0, e.maxSessions - e.sessions), sessions: e.sessions }
  }

  #onInfo(m: Inbound): void {
    try { decodeInfoReq(m.body) } catch (e) { return this.#fail(m, e) }
    m.reply?.(CortexType.CORTEX_INFO_RESP, encodeInfoResp(this.info()))
  }

  async #onForward(m: Inbound): Promise<void> {
    try {
      if (this.#stopped) throw new InferenceError('closed', 'stage stopped')
      const req = decodeForwardReq(m.body)
      if (req.model !== this.modelId) throw new InferenceError('wrong_model', `this stage serves ${this.modelId}`)
      this.checkGoverned()
      this.init.usage?.authorize(m.link.peer.nodeId, 'cortex')
      const key = `${m.link.peer.nodeIdB64}:${toHex(req.sid)}`
      const D = this.engine.cfg.hidden
      let T: number
      let hidden: Float32Array | undefined
      if (this.engine.first) {
        if (!req.ids) throw new InferenceError('bad_input', 'the first stage takes token ids')
        T = req.ids.length
      } else {
        if (!req.x) throw new InferenceError('bad_input', 'this stage takes hidden states')
        const t = decodeTensor(req.x, { maxElements: this.engine.maxContext * D, expectDims: [-1, D] })
        T = t.dims[0]!
        hidden = t.data
      }
      if (!req.stateless) {
        const have = this.engine.pastLength(key)
        if (req.pos === 0 && have > 0) this.engine.endSession(key)
        else if (req.pos !== have) throw new InferenceError('pos_mismatch', `session is at position ${have}, request expects ${req.pos}`)
        if (!this.engine.hasSession(key)) {
          if (this.engine.sessions >= this.engine.maxSessions) throw new InferenceError('capacity', 'stage has no free session slot')
          if ((this.#perPeer.get(m.link.peer.nodeIdB64) ?? 0) >= this.perPeerCap) throw new InferenceError('capacity', 'too many sessions from this peer')
        }
        this.#touch(key, m.link)
      }
      let out
      try { out = await this.run({ sid: key, ids: req.ids, hidden, T, stateless: req.stateless }, m.trace) } catch (e) {
        if (!this.engine.hasSession(key)) this.#drop(key) // a failed first step leaves no session behind
        throw e
      }
      // CORTEX_END (or the link's close) arrived while the step ran: the step re-created the cache, free it again
      if (!req.stateless && !this.#meta.has(key)) { this.engine.endSession(key); throw new InferenceError('ended', 'the session ended while the step ran') }
      this.init.usage?.record(m.link.peer.nodeId, 'cortex', BigInt(T), 'served')
      const commit = req.stateless ? undefined : this.#commit(key, req.pos, { ...(req.ids ? { ids: req.ids } : {}), ...(hidden ? { hidden } : {}), T }, out.data)
      if (req.sample && this.engine.last) {
        m.reply?.(CortexType.CORTEX_FORWARD_RESP, encodeForwardResp({ pos: out.pos, tok: sampleWithDraw(out.data, req.sample), commit }))
      } else {
        m.reply?.(CortexType.CORTEX_FORWARD_RESP, encodeForwardResp({ pos: out.pos, y: encodeTensor(out.data, out.dims), commit }))
      }
    } catch (e) {
      this.#fail(m, e)
    }
  }

  /** Runs one step through the batcher and counts its token positions: remote requests and this node's own pipeline
   *  (LocalStageClient) both come through here, so the stage metric counts every position the stage computed. */
  async run(req: Parameters<Batcher['submit']>[0], parent?: TraceContext): ReturnType<Batcher['submit']> {
    // also here: this node's own gateway reaches its local stage through run(), not through CORTEX_FORWARD
    this.checkGoverned()
    const tracer = this.init.tracer
    // a step sampled out (no parent, not drawn) builds no span and no attributes
    const span = tracer && (parent || tracer.sampleRoot()) ? tracer.start('cortex.step', { kind: parent ? SpanKind.SERVER : SpanKind.INTERNAL, sample: true, ...(parent ? { parent } : {}), attributes: { 'zeone.cortex.model': this.modelId, 'zeone.cortex.tokens': req.T, 'zeone.cortex.stage': `${this.engine.spec.start}:${this.engine.spec.end}` } }) : undefined
    try {
      const out = await this.batcher.submit(req)
      this.init.onTokens?.(req.T)
      span?.end()
      return out
    } catch (e) { failSpan(span, e); throw e }
  }

  /** Throws model_not_whitelisted while governance does not whitelist this model; checked per request, so live. */
  checkGoverned(): void {
    if (this.init.allowed && !this.init.allowed()) throw new InferenceError('model_not_whitelisted', `${this.modelId} is not on the governed model whitelist`)
    const why = this.init.gate?.()
    if (why !== undefined) throw new InferenceError('model_not_whitelisted', why)
  }

  /** The session's prover (a new one, with a fresh nonce, when the session starts at position 0). */
  #commit(key: string, pos: number, input: { ids?: number[]; hidden?: Float32Array; T: number }, out: Float32Array): Uint8Array | undefined {
    const p = this.init.prover
    if (!p) return undefined
    let prover = this.#provers.get(key)
    if (!prover || pos === 0) {
      const e = this.engine
      prover = new StageProver(p.signer, { model: this.modelId, weightsRoot: p.weightsRoot ?? new Uint8Array(32), start: e.spec.start, end: e.spec.end }, rowWidth(e), undefined, p.evm)
      this.#provers.set(key, prover)
    }
    const c = prover.step(input, lastRow({ data: out }, rowWidth(this.engine)))
    return c && encodeSignedCommitment(c)
  }

  #onEnd(m: Inbound): void {
    try {
      const sid = decodeEnd(m.body)
      this.#drop(`${m.link.peer.nodeIdB64}:${toHex(sid)}`)
    } catch (e) { this.#fail(m, e) }
  }

  #touch(key: string, link: Link): void {
    const peer = link.peer.nodeIdB64
    const meta = this.#meta.get(key)
    if (meta) { meta.lastUsed = this.#clock.now(); return }
    this.#meta.set(key, { key, peer, lastUsed: this.#clock.now() })
    this.#perPeer.set(peer, (this.#perPeer.get(peer) ?? 0) + 1)
    if (!this.#linkWatch.has(peer)) {
      this.#linkWatch.set(peer, link.onClose(() => {
        this.#linkWatch.delete(peer)
        for (const s of [...this.#meta.values()]) if (s.peer === peer) this.#drop(s.key)
      }))
    }
  }

  #drop(key: string): void {
    this.#provers.delete(key)
    const meta = this.#meta.get(key)
    if (meta) {
      this.#meta.delete(key)
      const n = (this.#perPeer.get(meta.peer) ?? 1) - 1
      if (n > 0) this.#perPeer.set(meta.peer, n); else this.#perPeer.delete(meta.peer)
    }
    this.engine.endSession(key)
  }

  #scheduleSweep(): void {
    if (this.#stopped) return
    this.#sweep = this.#clock.setTimeout(() => {
      const now = this.#clock.now()
      for (const s of [...this.#meta.values()]) if (now - s.lastUsed > this.#ttl) { this.#log.debug({ session: s.key }, 'cortex session expired'); this.#drop(s.key) }
      this.#scheduleSweep()
    }, Math.max(50, Math.floor(this.#ttl / 2)))
  }

  #fail(m: Inbound, e: unknown): void {
    const code = e instanceof ZeoneError ? e.code : 'internal'
    if (code === 'bad_message' || code === 'cbor' || e instanceof ZeoneError && e.name === 'TensorError') {
      this.init.trust?.report(m.link.peer.nodeId, 'invalid_message', code)
    }
    if (!(e instanceof ZeoneError)) this.#log.warn({ err: (e as Error).message }, 'cortex stage request failed')
    const out = toWireError(e)
    m.reply?.(MessageType.ERROR, encodeError(out.code, out.message))
  }

  stop(): void {
    if (this.#stopped) return
    this.#stopped = true
    this.#sweep?.cancel()
    for (const u of this.#unsub.splice(0)) u()
    for (const u of this.#linkWatch.values()) u()
    this.#linkWatch.clear()
    this.batcher.close()
    for (const k of [...this.#meta.keys()]) this.#drop(k)
  }
}
