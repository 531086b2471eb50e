/**
 * The requester side of CORTEX_GENERATE: a node without the model asks a node serving its first layers to
 * generate, reads the tokens it streams back (CORTEX_TOKEN, bounded queue), pays for them with token receipts as
 * they arrive, and cancels the remote generation when the caller stops reading.
 */
import { randomBytes } from 'node:crypto'
import type { Inbound, LinkProvider } from '../interfaces/link.js'
import type { UsageMeter } from '../interfaces/services.js'
import type { TrustSink } from '../interfaces/trust.js'
import { toHex } from '../util/bytes.js'
import type { StageDirectory } from './directory.js'
import { InferenceError, NoRouteError } from './errors.js'
import type { GenChunk } from './generate.js'
import { CortexType, decodeToken, encodeCancel, encodeGenerate, MAX_IDS, type TokenMsg } from './messages.js'
import { ClientMeter } from './pay/client-meter.js'
import type { ReceiptSigner } from './pay/receipt.js'
import { connectStage } from './pipeline.js'
import type { GenerateRequest, GenerateResult } from './service.js'

/** Most streamed chunks buffered from a remote generator before the stream is failed. */
const MAX_QUEUED_CHUNKS = 4096

export interface RemoteGenerateDeps {
  links: LinkProvider
  directory: StageDirectory
  timeoutMs?: number
  signer?: ReceiptSigner
  usage?: () => UsageMeter | undefined
  trust?: TrustSink
  /** The service's CORTEX_TOKEN dispatch, by `<peer b64>:<gid hex>`: this generation's listener lives there while it runs. */
  tokenListeners: Map<string, (m: Inbound) => void>
}

export async function* remoteGenerate(deps: RemoteGenerateDeps, req: GenerateRequest, signal?: AbortSignal): AsyncGenerator<GenChunk, GenerateResult> {
  const all = await deps.directory.find(req.model, { signal })
  if (!all.length) throw new NoRouteError('model_not_found', `The model '${req.model}' does not exist or no node serves it`)
  const cands = all.filter((c) => c.start === 0)
  if (!cands.length) throw new NoRouteError('no_route', `no node serves the first layers of ${req.model}`)
  const link = await connectStage(deps.links, cands[0]!, { hidden: 1, vocab: 1 }).then((c) => c.link)
  const gid = new Uint8Array(randomBytes(16))
  const queue: TokenMsg[] = []
  let wake: (() => void) | null = null
  let failed: Error | null = null
  const lkey = `${link.peer.nodeIdB64}:${toHex(gid)}`
  const maxTokens = Math.min(req.maxTokens, MAX_IDS)
  const signer = deps.signer
  const meter = signer ? new ClientMeter({ signer, server: link.peer.nodeId, gid, maxTokens, fit: req.fitContext === true, ...(req.budget !== undefined ? { budget: req.budget } : {}), usage: deps.usage?.(), trust: deps.trust }) : undefined
  const receipt = (bytes: Uint8Array | undefined): void => { if (bytes && !link.closed) link.send(CortexType.CORTEX_RECEIPT, bytes) }
  deps.tokenListeners.set(lkey, (m) => {
    if (queue.length >= MAX_QUEUED_CHUNKS) failed = new InferenceError('flood', 'remote node sent tokens faster than they were read')
    else {
      const t = decodeToken(m.body)
      // tokens are counted (and receipted) as they arrive, whether or not the caller has read them yet
      if (meter && t.ids.length && !failed) { try { receipt(meter.arrived(t.ids.length)) } catch (e) { failed = e as Error } }
      queue.push(t)
    }
    wake?.()
  })
  let finished = false
  const off = (): void => { deps.tokenListeners.delete(lkey) }
  const closed = link.onClose(() => { failed = new NoRouteError('link_closed', 'generating node went away'); wake?.() })
  const onAbort = (): void => { wake?.() }
  signal?.addEventListener('abort', onAbort)
  try {
    const ack = await link.request(CortexType.CORTEX_GENERATE, encodeGenerate({ gid, model: req.model, prompt: req.prompt, maxTokens, fit: req.fitContext, temperature: req.temperature ?? 0, topK: req.topK ?? 0, topP: req.topP ?? 1, seed: req.seed ?? 0, ...(req.budget !== undefined ? { budget: req.budget } : {}) }), { timeoutMs: deps.timeoutMs, signal })
    if (ack.type !== CortexType.CORTEX_TOKEN) throw new InferenceError('bad_reply', 'unexpected reply to CORTEX_GENERATE')
    const a0 = decodeToken(ack.body)
    const promptTokens = a0.promptTokens
    if (meter) receipt(meter.accept(a0))
    else if ((a0.window ?? 0) > 0) throw new InferenceError('unpayable', 'the server wants token receipts and this node has no signer')
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
      // the done message's text is the final text's unstreamed tail: part of the result, not a token chunk
      if (t.ids.length || (t.text && !t.done)) yield { id: t.ids.at(-1) ?? -1, text: t.text }
      if (t.done) {
        finished = true
        meter?.finish(t.n)
        // 'budget': the server stopped where the budget ran out, which for the caller is the length limit
        return { ids, text, reason: t.reason === 'length' || t.reason === 'budget' ? 'length' : 'stop', promptTokens, ...(meter ? { price: meter.price, cost: meter.cost } : {}) }
      }
    }
  } finally {
    off(); closed(); signal?.removeEventListener('abort', onAbort)
    if (!finished && !link.closed) link.send(CortexType.CORTEX_CANCEL, encodeCancel(gid))
  }
}
