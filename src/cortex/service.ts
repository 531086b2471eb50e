/**
 * The cortex service of a node: the stages it serves, and text generation for local callers (HTTP API, CLI) and
 * remote requesters (CORTEX_GENERATE, tokens streamed back as CORTEX_TOKEN). A node that holds the model directory
 * (it serves a stage) coordinates the chain itself; one that does not asks a node serving the first stage.
 */
import { join } from 'node:path'
import type { Inbound, LinkProvider, MessageRouter } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import { MessageType } from '../wire/message-types.js'
import { toWireError } from '../wire/error-codes.js'
import type { Evidence } from './verify/audit.js'
import type { VerdictSigner } from '../economy/chain/verdicts.js'
import { encodeError } from '../transport/rpc-link.js'
import { toHex } from '../util/bytes.js'
import { ZeoneError } from '../util/errors.js'
import type { StageDirectory } from './directory.js'
import { InferenceError, NoRouteError } from './errors.js'
import { generate, type GenChunk, type GenResult } from './generate.js'
import { CortexType, decodeCancel, decodeGenerate, decodeToken, encodeToken } from './messages.js'
import type { UsageMeter } from '../interfaces/services.js'
import type { TrustSink } from '../interfaces/trust.js'
import { decodeReceipt, type ReceiptSigner } from './pay/receipt.js'
import type { ServerMeter } from './pay/server-meter.js'
import { priceGeneration } from './pay/quote.js'
import { LocalStageClient, openChain, PipelineSession, type StageClient } from './pipeline.js'
import type { SamplingParams } from './sampling.js'
import type { StageServer } from './server.js'
import { Tokenizer } from './tokenizer.js'
import { networkAuditor, type AuditPolicy } from './verify/replay.js'
import type { AuditStats, LiveAuditor } from './verify/audit.js'
import { remoteGenerate } from './remote-generate.js'

export interface GenerateRequest extends SamplingParams {
  model: string
  prompt: string
  maxTokens: number
  stop?: string[]
  /** maxTokens is a default, not the caller's: shorten it to what the context (and budget) leaves instead of refusing. */
  fitContext?: boolean
  /** Remote generation: the most micro-credits to pay (refused up front when maxTokens at the quote costs more). */
  budget?: bigint
}

/** The end of a generation, with the prompt's length in tokens (absent from a coordinator that does not send it). */
export interface GenerateResult extends GenResult {
  promptTokens?: number
  /** Remote generation: the quoted price per token and what the tokens that arrived cost at it. */
  price?: bigint
  cost?: bigint
}

/** A prompt tokenized and checked against the context, ready to run. */
interface Prepared { prompt: number[]; maxTokens: number }

export interface CortexServiceInit {
  nodeId: Uint8Array
  router: MessageRouter
  links: LinkProvider
  directory: StageDirectory
  /** Local stages by model id, with their model directory. */
  stages: { server: StageServer; dir: string }[]
  maxTokens?: number
  timeoutMs?: number
  logger?: Logger
  /** Most remote generations at once. @default 32 */
  maxRemoteGenerations?: number
  /** Signs token receipts of remote generations we ask for (the node identity). */
  signer?: ReceiptSigner
  /** The ledger (looked up per generation): meters generated tokens both ways; absent = nothing metered or paid. */
  usage?: () => UsageMeter | undefined
  trust?: TrustSink
  /** Our price per generated token in micro-credits (the governed fee_ai at our rate). @default 0 */
  quote?: () => bigint
  /** Most tokens streamed ahead of a client's receipts. @default 16 */
  receiptWindow?: number
  /** Fraction of committed blocks re-executed on another provider and checked (verify/audit.ts). @default 0 */ auditRate?: number
  /** The auditor's verdict signer (the chain's bound key), evidence hook (the fraud-proof path, verify/fraud.ts) and
   *  who checks (cortex.audit: replicas and/or hired verifiers, verify/replay.ts auditPanel). */
  audit?: { verdictSigner?: VerdictSigner | undefined; onEvidence?: ((e: Evidence, model: string, layers: number) => void | Promise<unknown>) | undefined; policy?: AuditPolicy | undefined }
  /** How long to wait for a client's receipt. @default timeoutMs or 30000 */
  receiptTimeoutMs?: number
}

export class CortexService {
  #tok = new Map<string, Tokenizer>()
  #remoteGens = new Map<string, AbortController>()
  #tokenListeners = new Map<string, (m: Inbound) => void>()
  #meters = new Map<string, ServerMeter>()
  #unsub: (() => void)[] = []
  #log: Logger
  #stopped = new AbortController()
  #audits = new Set<Promise<void>>()
  /** Totals of this node's live audits whose checks have all finished (verify/audit.ts; `lied`: checkers outvoted). */
  readonly auditStats: AuditStats & { lied: number } = { commitments: 0, scheduled: 0, checked: 0, passed: 0, skipped: 0, failed: 0, disputed: 0, lied: 0 }

  constructor(readonly init: CortexServiceInit) { this.#log = init.logger ?? silentLogger }

  start(): void {
    this.#unsub.push(this.init.router.handle(CortexType.CORTEX_GENERATE, (m) => this.#onGenerate(m)))
    this.#unsub.push(this.init.router.handle(CortexType.CORTEX_CANCEL, (m) => {
      try { this.#remoteGens.get(`${m.link.peer.nodeIdB64}:${toHex(decodeCancel(m.body))}`)?.abort() } catch { /* malformed: ignore */ }
    }))
    this.#unsub.push(this.init.router.handle(CortexType.CORTEX_RECEIPT, (m) => {
      // keyed by the link's proven identity: a receipt can only pay for a generation its sender asked for
      let r
      try { r = decodeReceipt(m.body) } catch { this.init.trust?.report(m.link.peer.nodeId, 'invalid_message', 'malformed token receipt'); return }
      this.#meters.get(`${m.link.peer.nodeIdB64}:${toHex(r.gid)}`)?.onReceipt(r)
    }))
    this.#unsub.push(this.init.router.handle(CortexType.CORTEX_TOKEN, (m) => {
      try { this.#tokenListeners.get(`${m.link.peer.nodeIdB64}:${toHex(decodeToken(m.body).gid)}`)?.(m) } catch { /* malformed: ignore */ }
    }))
  }

  models(): { id: string; start: number; end: number; layers: number }[] {
    return this.init.stages.map((s) => ({ id: s.server.modelId, start: s.server.engine.spec.start, end: s.server.engine.spec.end, layers: s.server.engine.cfg.layers }))
  }

  #local(model: string): { server: StageServer; dir: string }[] { return this.init.stages.filter((s) => s.server.modelId === model) }

  tokenizer(model: string): Tokenizer | undefined {
    let t = this.#tok.get(model)
    if (!t) {
      const s = this.#local(model)[0]
      if (!s) return undefined
      t = Tokenizer.fromFile(join(s.dir, 'tokenizer.json'))
      this.#tok.set(model, t)
    }
    return t
  }

  /** Generates text, streaming chunks; coordinates locally or through a remote node. */
  async *generate(req: GenerateRequest, signal?: AbortSignal): AsyncGenerator<GenChunk, GenerateResult> {
    if (!this.tokenizer(req.model)) return yield* remoteGenerate({ ...this.init, tokenListeners: this.#tokenListeners }, req, signal)
    return yield* this.#run(req, this.#prepare(req), signal)
  }

  /**
   * Tokenizes the prompt and checks prompt + maxTokens against the context of the local stages before any stage is
   * asked (a remote stage with a shorter context still fails the generation when it is reached).
   */
  #prepare(req: GenerateRequest): Prepared {
    const tok = this.tokenizer(req.model)!
    const ctx = Math.min(...this.#local(req.model).map((s) => s.server.engine.maxContext))
    let prompt: number[]
    try { prompt = tok.encode(req.prompt) } catch (e) {
      if (e instanceof ZeoneError) throw e
      throw new InferenceError('untokenizable', `the prompt could not be tokenized (${(e as Error).message})`)
    }
    if (prompt.length === 0) throw new InferenceError('empty_prompt', 'the prompt encodes to no tokens')
    const want = req.fitContext ? Math.min(req.maxTokens, ctx - prompt.length) : req.maxTokens
    if (want < 1 || prompt.length + want > ctx) {
      throw new InferenceError('context_length_exceeded', `This model's maximum context length is ${ctx} tokens. However, you requested ${prompt.length + Math.max(want, 1)} tokens (${prompt.length} in the prompt, ${Math.max(want, 1)} for the completion). Please reduce the length of the prompt or of max_tokens.`)
    }
    return { prompt, maxTokens: Math.min(want, this.init.maxTokens ?? 1024) }
  }

  async *#run(req: GenerateRequest, p: Prepared, signal?: AbortSignal): AsyncGenerator<GenChunk, GenerateResult> {
    const tok = this.tokenizer(req.model)!
    const local = this.#local(req.model)
    const cfg = local[0]!.server.engine.cfg
    const dims = { hidden: cfg.hidden, vocab: cfg.vocabSize }
    const clients: StageClient[] = local.map((s) => new LocalStageClient(s.server, this.init.nodeId))
    const { chain, layers } = await openChain(this.init.directory, this.init.links, req.model, dims, clients, { signal, timeoutMs: this.init.timeoutMs })
    const rate = this.init.auditRate ?? 0, audit = rate > 0 ? networkAuditor({ rate, directory: this.init.directory, links: this.init.links, model: req.model, dims: { ...dims, layers }, self: this.init.nodeId, usage: this.init.usage?.(), trust: this.init.trust, logger: this.#log,
      verdictSigner: this.init.audit?.verdictSigner, onEvidence: this.init.audit?.onEvidence && ((e) => this.init.audit!.onEvidence!(e, req.model, layers)), policy: this.init.audit?.policy }) : undefined
    const session = new PipelineSession({ model: req.model, layers, ...dims, chain, directory: this.init.directory, links: this.init.links, localStages: clients, logger: this.#log, timeoutMs: this.init.timeoutMs, signal: this.#stopped.signal, ...(audit ? { audit } : {}) })
    const stopTokens = [cfg.eosTokenId, tok.eosId].filter((x): x is number => x !== undefined)
    try {
      const r = yield* generate(session, p.prompt, req, { maxTokens: p.maxTokens, stopTokens, stopStrings: req.stop }, tok, signal)
      return { ...r, promptTokens: p.prompt.length }
    } finally { if (audit) this.#track(audit) }
  }

  /** Checks outlive the generation (it never waits on them): add the auditor's figures when its last one is done. */
  #track(a: LiveAuditor): void {
    const p: Promise<void> = a.settled().then(() => {
      for (const k of Object.keys(a.stats) as (keyof AuditStats)[]) this.auditStats[k] += a.stats[k]
      this.auditStats.lied += a.lies.length
    }).finally(() => { this.#audits.delete(p) })
    this.#audits.add(p)
  }

  /** Resolves when the checks of every finished generation's audit are done (their figures are in auditStats). */
  async auditsSettled(): Promise<void> { while (this.#audits.size) await Promise.allSettled([...this.#audits]) }

  async #onGenerate(m: Inbound): Promise<void> {
    const peer = m.link.peer.nodeIdB64
    let req, prepared, priced
    try {
      req = decodeGenerate(m.body)
      if (!this.tokenizer(req.model)) throw new NoRouteError('no_model', `this node does not hold ${req.model}`)
      // accepting: refuse with the governance code before the ack, not as a stream error after it
      for (const s of this.#local(req.model)) s.server.checkGoverned()
      if (this.#remoteGens.size >= (this.init.maxRemoteGenerations ?? 32)) throw new InferenceError('busy', 'too many generations')
      prepared = this.#prepare({ model: req.model, prompt: req.prompt, maxTokens: req.maxTokens, fitContext: req.fit })
      priced = priceGeneration({ server: this.init.nodeId, usage: this.init.usage?.(), trust: this.init.trust, price: this.init.quote?.() ?? 0n, window: this.init.receiptWindow ?? 16, receiptTimeoutMs: this.init.receiptTimeoutMs ?? this.init.timeoutMs ?? 30_000 }, m.link.peer.nodeId, req, prepared)
    } catch (e) {
      const out = toWireError(e, 'bad_message')
      m.reply?.(MessageType.ERROR, encodeError(out.code, out.message))
      return
    }
    const key = `${peer}:${toHex(req.gid)}`
    const ac = new AbortController()
    this.#remoteGens.set(key, ac)
    const onClose = m.link.onClose(() => ac.abort())
    if (this.#stopped.signal.aborted) ac.abort()
    const { meter, budgetCut } = priced
    if (meter) this.#meters.set(key, meter)
    m.reply?.(CortexType.CORTEX_TOKEN, encodeToken({ gid: req.gid, seq: 0, ids: [], text: '', done: false, promptTokens: prepared.prompt.length, ...(meter ? { price: meter.init.price, window: meter.init.window } : {}) }))
    let seq = 1
    let streamed = 0
    try {
      const it = this.#run({ model: req.model, prompt: req.prompt, maxTokens: req.maxTokens, temperature: req.temperature, topK: req.topK, topP: req.topP, seed: req.seed }, prepared, ac.signal)
      let sent = 0
      for (;;) {
        const r = await it.next()
        if (r.done) {
          // the final text can end with bytes the stream held back (an incomplete UTF-8 sequence): they go with done
          const rest = r.value.text.slice(sent)
          const reason = budgetCut && r.value.reason === 'length' ? 'budget' : r.value.reason
          m.link.send(CortexType.CORTEX_TOKEN, encodeToken({ gid: req.gid, seq: seq++, ids: [], text: rest, done: true, reason, n: streamed }))
          break
        }
        const ids = r.value.id >= 0 ? [r.value.id] : []
        // pay per token: never more than `window` tokens ahead of the client's receipts
        if (meter && ids.length && !(await meter.room(ac.signal))) {
          ac.signal.throwIfAborted()
          throw new InferenceError('unpaid', `unpaid: no receipt for ${meter.sent - meter.paid} streamed tokens`)
        }
        sent += r.value.text.length
        m.link.send(CortexType.CORTEX_TOKEN, encodeToken({ gid: req.gid, seq: seq++, ids, text: r.value.text, done: false }))
        streamed += ids.length
        meter?.streamed(ids.length)
        await m.link.whenWritable()
      }
    } catch (e) {
      this.#log.debug({ err: (e as Error).message }, 'remote generation failed')
      m.link.send(CortexType.CORTEX_TOKEN, encodeToken({ gid: req.gid, seq: seq++, ids: [], text: '', done: true, reason: `error:${toWireError(e).message.slice(0, 200)}`, n: streamed }))
    } finally {
      onClose()
      this.#remoteGens.delete(key)
    }
    if (meter) {
      // the receipts for the last tokens are on their way (the link is FIFO): wait for them, unless the link is gone
      const closed = new AbortController()
      const offClose = m.link.onClose(() => closed.abort())
      if (m.link.closed) closed.abort()
      try { await meter.settle(AbortSignal.any([closed.signal, this.#stopped.signal])) } finally { offClose(); this.#meters.delete(key) }
      if (meter.paid < meter.sent) this.init.trust?.report(m.link.peer.nodeId, 'failed_transfer', `${meter.sent - meter.paid} streamed tokens never receipted`)
    }
  }

  stop(): void {
    this.#stopped.abort()
    for (const u of this.#unsub.splice(0)) u()
    for (const ac of this.#remoteGens.values()) ac.abort()
  }
}
