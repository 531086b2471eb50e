/**
 * The cortex service of a node: the stages it serves, and text generation for local callers (HTTP API, CLI) and
 * remote requesters (CORTEX_GENERATE, tokens streamed back as CORTEX_TOKEN). A node that holds the model directory
 * (it serves a stage) coordinates the chain itself; one that does not asks a node serving the first stage.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { Inbound, LinkProvider, MessageRouter } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import { MessageType } from '../wire/message-types.js'
import { encodeError } from '../transport/rpc-link.js'
import { toHex } from '../util/bytes.js'
import { ZeoneError } from '../util/errors.js'
import type { StageDirectory } from './directory.js'
import { InferenceError, NoRouteError } from './errors.js'
import { generate, type GenChunk, type GenResult } from './generate.js'
import { CortexType, decodeCancel, decodeGenerate, decodeToken, encodeCancel, encodeGenerate, encodeToken } from './messages.js'
import { connectStage, LocalStageClient, openChain, PipelineSession, type StageClient } from './pipeline.js'
import type { SamplingParams } from './sampling.js'
import type { StageServer } from './server.js'
import { Tokenizer } from './tokenizer.js'

/** Most streamed chunks buffered from a remote generator before the stream is failed. */
const MAX_QUEUED_CHUNKS = 4096

export interface GenerateRequest extends SamplingParams {
  model: string
  prompt: string
  maxTokens: number
  stop?: string[]
}

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
}

export class CortexService {
  #tok = new Map<string, Tokenizer>()
  #remoteGens = new Map<string, AbortController>()
  #tokenListeners = new Map<string, (m: Inbound) => void>()
  #unsub: (() => void)[] = []
  #log: Logger
  #stopped = new AbortController()

  constructor(readonly init: CortexServiceInit) { this.#log = init.logger ?? silentLogger }

  start(): void {
    this.#unsub.push(this.init.router.handle(CortexType.CORTEX_GENERATE, (m) => this.#onGenerate(m)))
    this.#unsub.push(this.init.router.handle(CortexType.CORTEX_CANCEL, (m) => {
      try { this.#remoteGens.get(`${m.link.peer.nodeIdB64}:${toHex(decodeCancel(m.body))}`)?.abort() } catch { /* malformed: ignore */ }
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
  async *generate(req: GenerateRequest, signal?: AbortSignal): AsyncGenerator<GenChunk, GenResult> {
    const maxTokens = Math.min(req.maxTokens, this.init.maxTokens ?? 1024)
    const tok = this.tokenizer(req.model)
    if (!tok) return yield* this.#remoteGenerate({ ...req, maxTokens }, signal)
    const local = this.#local(req.model)
    const cfg = local[0]!.server.engine.cfg
    const dims = { hidden: cfg.hidden, vocab: cfg.vocabSize }
    const clients: StageClient[] = local.map((s) => new LocalStageClient(s.server, this.init.nodeId))
    const { chain, layers } = await openChain(this.init.directory, this.init.links, req.model, dims, clients, { signal, timeoutMs: this.init.timeoutMs })
    const session = new PipelineSession({ model: req.model, layers, ...dims, chain, directory: this.init.directory, links: this.init.links, localStages: clients, logger: this.#log, timeoutMs: this.init.timeoutMs })
    const prompt = tok.encode(req.prompt)
    if (prompt.length === 0) throw new InferenceError('empty_prompt', 'the prompt encodes to no tokens')
    const stopTokens = [cfg.eosTokenId, tok.eosId].filter((x): x is number => x !== undefined)
    return yield* generate(session, prompt, req, { maxTokens, stopTokens, stopStrings: req.stop }, tok, signal)
  }

  async *#remoteGenerate(req: GenerateRequest, signal?: AbortSignal): AsyncGenerator<GenChunk, GenResult> {
    const cands = (await this.init.directory.find(req.model, { signal })).filter((c) => c.start === 0)
    if (!cands.length) throw new NoRouteError('no_route', `no node serves ${req.model}`)
    const link = await connectStage(this.init.links, cands[0]!, { hidden: 1, vocab: 1 }).then((c) => c.link)
    const gid = new Uint8Array(randomBytes(16))
    const queue: { ids: number[]; text: string; done: boolean; reason?: string }[] = []
    let wake: (() => void) | null = null
    let failed: Error | null = null
    const lkey = `${link.peer.nodeIdB64}:${toHex(gid)}`
    this.#tokenListeners.set(lkey, (m) => {
      if (queue.length >= MAX_QUEUED_CHUNKS) failed = new InferenceError('flood', 'remote node sent tokens faster than they were read')
      else queue.push(decodeToken(m.body))
      wake?.()
    })
    let finished = false
    const off = (): void => { this.#tokenListeners.delete(lkey) }
    const closed = link.onClose(() => { failed = new NoRouteError('link_closed', 'generating node went away'); wake?.() })
    const onAbort = (): void => { wake?.() }
    signal?.addEventListener('abort', onAbort)
    try {
      const ack = await link.request(CortexType.CORTEX_GENERATE, encodeGenerate({ gid, model: req.model, prompt: req.prompt, maxTokens: req.maxTokens, temperature: req.temperature ?? 0, topK: req.topK ?? 0, topP: req.topP ?? 1, seed: req.seed ?? 0 }), { timeoutMs: this.init.timeoutMs, signal })
      if (ack.type !== CortexType.CORTEX_TOKEN) throw new InferenceError('bad_reply', 'unexpected reply to CORTEX_GENERATE')
      const ids: number[] = []
      let text = ''
      for (;;) {
        while (!queue.length && !failed && !signal?.aborted) { await new Promise<void>((r) => { wake = r }); wake = null }
        signal?.throwIfAborted()
        const f = failed as Error | null
        if (f && (!queue.length || (f as InferenceError).code === 'flood')) throw f
        const t = queue.shift()!
        if (t.reason?.startsWith('error:')) throw new InferenceError('remote_failed', t.reason.slice(6))
        for (const id of t.ids) { ids.push(id) }
        text += t.text
        if (t.ids.length || t.text) yield { id: t.ids.at(-1) ?? -1, text: t.text }
        if (t.done) { finished = true; return { ids, text, reason: t.reason === 'length' ? 'length' : 'stop' } }
      }
    } finally {
      off(); closed(); signal?.removeEventListener('abort', onAbort)
      if (!finished && !link.closed) link.send(CortexType.CORTEX_CANCEL, encodeCancel(gid))
    }
  }

  async #onGenerate(m: Inbound): Promise<void> {
    const peer = m.link.peer.nodeIdB64
    let req
    try {
      req = decodeGenerate(m.body)
      if (!this.tokenizer(req.model)) throw new NoRouteError('no_model', `this node does not hold ${req.model}`)
      if (this.#remoteGens.size >= (this.init.maxRemoteGenerations ?? 32)) throw new InferenceError('busy', 'too many generations')
    } catch (e) {
      m.reply?.(MessageType.ERROR, encodeError(e instanceof ZeoneError ? e.code : 'bad_message', (e as Error).message))
      return
    }
    const key = `${peer}:${toHex(req.gid)}`
    const ac = new AbortController()
    this.#remoteGens.set(key, ac)
    const onClose = m.link.onClose(() => ac.abort())
    if (this.#stopped.signal.aborted) ac.abort()
    m.reply?.(CortexType.CORTEX_TOKEN, encodeToken({ gid: req.gid, seq: 0, ids: [], text: '', done: false }))
    let seq = 1
    try {
      const it = this.generate({ model: req.model, prompt: req.prompt, maxTokens: req.maxTokens, temperature: req.temperature, topK: req.topK, topP: req.topP, seed: req.seed }, ac.signal)
      for (;;) {
        const r = await it.next()
        if (r.done) { m.link.send(CortexType.CORTEX_TOKEN, encodeToken({ gid: req.gid, seq: seq++, ids: [], text: '', done: true, reason: r.value.reason })); break }
        m.link.send(CortexType.CORTEX_TOKEN, encodeToken({ gid: req.gid, seq: seq++, ids: r.value.id >= 0 ? [r.value.id] : [], text: r.value.text, done: false }))
        await m.link.whenWritable()
      }
    } catch (e) {
      this.#log.debug({ err: (e as Error).message }, 'remote generation failed')
      m.link.send(CortexType.CORTEX_TOKEN, encodeToken({ gid: req.gid, seq: seq++, ids: [], text: '', done: true, reason: `error:${(e as Error).message.slice(0, 200)}` }))
    } finally {
      onClose()
      this.#remoteGens.delete(key)
    }
  }

  stop(): void {
    this.#stopped.abort()
    for (const u of this.#unsub.splice(0)) u()
    for (const ac of this.#remoteGens.values()) ac.abort()
  }
}
