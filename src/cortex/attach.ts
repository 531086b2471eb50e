import { basename, resolve } from 'node:path'
import { parseHostPort } from '../util/host-port.js'
import { Counter, Histogram } from 'prom-client'
import type { NodeContext, Stoppable } from '../interfaces/node-context.js'
import type { ChainConfig } from '../economy/chain/config.js'
import type { Endpoint } from '../interfaces/link.js'
import { MergedStageDirectory, ProviderStageDirectory, StaticStageDirectory, encodeAnnouncement, providerKey, type StageDirectory } from './directory.js'
import { registerHttp } from './http.js'
import { ModelDir } from './model.js'
import { StageServer } from './server.js'
import { CortexService } from './service.js'
import { tokenQuote } from './pay/quote.js'
import { checkServeCard } from './cards/serve-check.js'
import { InferenceError } from './errors.js'
import type { StageEngine } from './stage.js'
import { loadStageRuntime } from './runtime.js'
import type { CortexConfig } from './config.js'
import { attachEmbed } from './embed/attach.js'
import { networkModelGate } from './model-gate.js'
import { VerifierServer } from './verify/check-server.js'
import { clientReplayer } from './verify/replay.js'
import { LocalStageClient } from './pipeline.js'
import { checkQuote } from './pay/quote.js'
import { fraudHook } from './verify/fraud-hook.js'
import { LiarBook } from './verify/resolve.js'

declare module '../interfaces/node-context.js' {
  interface ServiceMap { cortex: CortexService }
}

/** Parses "A:B" (half-open layer range); '' = all layers. */
export function parseLayers(s: string, total: number): { start: number; end: number } {
  if (!s) return { start: 0, end: total }
  const m = /^(\d+):(\d+)$/.exec(s)
  if (!m) throw new RangeError(`layers must look like A:B, got ${s}`)
  return { start: Number(m[1]), end: Number(m[2]) }
}

export function parseEndpoint(s: string): Endpoint { return parseHostPort(s, { what: 'cortex.peers entry' }) }

/** Wires the cortex layer into a running node. */
/** The config sections this layer reads (the node hands it only these): `chain` for the model whitelist refresh. */
export interface CortexLayerConfig { cortex: CortexConfig; chain: ChainConfig }

export async function attach(ctx: NodeContext<CortexLayerConfig>): Promise<Stoppable | void> {
  const cfg = ctx.config.cortex
  if (!cfg.enabled) return undefined
  const log = ctx.logger
  const stages: { server: StageServer; dir: string }[] = []
  const announced: Uint8Array[] = []
  const verifiers: VerifierServer[] = []
  const providers = ctx.services.get('providers')
  const tokens = new Counter({ name: 'zeone_cortex_stage_tokens_total', help: 'Token positions run through locally served stages', registers: [ctx.metrics] })
  const batches = new Histogram({ name: 'zeone_cortex_batch_size', help: 'Sessions per forward pass (continuous batching)', buckets: [1, 2, 4, 8, 16, 32, 64], registers: [ctx.metrics] })
  // the governed model whitelist (when the chain is attached): read at start, re-read on the params cadence
  const chain = ctx.services.get('chain')
  const whitelist = new Map<string, boolean>()
  const refreshWhitelist = async (): Promise<void> => {
    if (!chain) return
    for (const id of whitelist.keys()) {
      const ok = await chain.modelAllowed(id)
      if (ok !== whitelist.get(id)) log.warn({ model: id, allowed: ok }, 'cortex: governed model whitelist changed')
      whitelist.set(id, ok)
    }
  }
  // without chain access: the whitelist of the network parameters agreed through the DHT (model-gate.ts)
  const followsNetwork = !chain && ctx.services.get('params')?.source === 'network'
  // viem only for the model-id hash (Params keys models by keccak256 of the UTF-8 id), loaded only when needed
  // (a node serving no model, the default, never needs it: `zeone start` stays free of viem)
  const modelHash = followsNetwork && cfg.serve.length > 0 ? await import('viem').then((v) => (id: string) => v.keccak256(v.stringToBytes(id), 'bytes')) : undefined
  const whitelistTimer = chain ? setInterval(() => { refreshWhitelist().catch(() => {}) }, ctx.config.chain.paramsRefreshSec * 1000) : undefined
  whitelistTimer?.unref()
  for (const s of cfg.serve) {
    const dir = resolve(s.path)
    // a card binds the weights: recompute before loading and refuse to serve on any mismatch
    const card = s.card ? await checkServeCard(resolve(s.card), dir) : undefined
    const model = new ModelDir(dir)
    let engine: StageEngine
    try {
      const range = parseLayers(s.layers, model.config.layers)
      const { StageEngine } = await loadStageRuntime()
      engine = await StageEngine.load(model, { ...range, quantBits: s.quant === 'q8' ? 8 : s.quant === 'q4' ? 4 : 0, int8Kernel: s.int8Kernel, maxSessions: s.maxSessions, threads: s.threads })
    } finally { model.close() }
    const modelId = s.modelId ?? basename(dir)
    // the governed whitelist is keyed by model id: a card ties that id to these weights
    if (card && card.model !== modelId) {
      await engine.close()
      throw new InferenceError('card_mismatch', `the card is for model '${card.model}', the stage would serve it as '${modelId}'`)
    }
    if (chain) {
      whitelist.set(modelId, await chain.modelAllowed(modelId))
      if (!whitelist.get(modelId)) log.warn({ model: modelId }, 'cortex: model is not on the governed whitelist; the stage refuses requests until it is')
    }
    const server = new StageServer({
      modelId, allowed: chain ? () => whitelist.get(modelId) === true : undefined, engine,
      ...(modelHash ? { gate: networkModelGate(() => ctx.services.get('params'), modelId, modelHash(modelId), log) } : {}), router: ctx.router, links: ctx.links, sessionTtlMs: cfg.sessionTtlMs, maxBatch: cfg.maxBatch, maxSessionsPerPeer: cfg.maxSessionsPerPeer,
      logger: log.child({ c: 'stage' }), usage: ctx.services.get('usage'), trust: ctx.services.get('trust'),
      onTokens: (n) => tokens.inc(n), onBatch: (n) => batches.observe(n), ...(ctx.tracer ? { tracer: ctx.tracer } : {}),
      // with a chain, each commitment is also a DataAttestation by the node's bound EVM key (the fraud-proof half)
      ...(cfg.commitActivations ? { prover: { signer: ctx.identity, ...(card ? { weightsRoot: card.weightsRoot } : {}), ...(chain ? { evm: chain.attestData } : {}) } } : {}),
    })
    server.start()
    stages.push({ server, dir })
    if (cfg.verifier) {
      // the verifier service on this stage's replica, through the stage's own batcher (verify/check-server.ts)
      const v = new VerifierServer({ modelId, engine, router: ctx.router, signer: ctx.identity, usage: ctx.services.get('usage'), trust: ctx.services.get('trust'),
        price: () => { const e = ctx.services.get('economy'); return e ? checkQuote(e.pricing) : 0n }, ...(chain ? { evm: chain.verdicts } : {}),
        replay: clientReplayer(new LocalStageClient(server, ctx.identity.publicKey), engine.last ? engine.cfg.vocabSize : engine.cfg.hidden).replay })
      v.start()
      verifiers.push(v)
      if (providers) announced.push(v.announce(providers))
    }
    log.info({ model: server.modelId, layers: `${engine.spec.start}:${engine.spec.end}`, quant: s.quant }, 'cortex stage serving')
    if (providers) {
      const key = providerKey(server.modelId)
      const i = server.info()
      // announce in the background: the DHT may still be joining the network
      void providers.provide(key, encodeAnnouncement({ model: i.model, start: i.start, end: i.end, layers: i.layers, capacity: i.capacity }))
        .catch((e: Error) => log.warn({ err: e.message }, 'cortex announce failed'))
      announced.push(key)
    }
  }
  const dirs: StageDirectory[] = []
  if (providers) dirs.push(new ProviderStageDirectory(providers))
  if (cfg.peers.length) dirs.push(new StaticStageDirectory(ctx.links, cfg.peers.map(parseEndpoint)))
  const liars = new LiarBook()
  const svc = new CortexService({
    nodeId: ctx.identity.publicKey, router: ctx.router, links: ctx.links, directory: new MergedStageDirectory(dirs), stages,
    maxTokens: cfg.maxTokens, timeoutMs: cfg.requestTimeoutMs, logger: log,
    // pay per token: receipts signed by the node identity, metered in the ledger, priced at the governed fee_ai
    signer: ctx.identity, usage: () => ctx.services.get('usage'), trust: ctx.services.get('trust'),
    quote: () => { const e = ctx.services.get('economy'); return e ? tokenQuote(e.pricing) : 0n }, receiptWindow: cfg.receiptWindow, auditRate: cfg.auditRate,
    // the auditor signs verdicts with the bound key; cortex.slashFailedChecks takes confirmed failures on chain (viem loads then only)
    audit: { verdictSigner: chain?.verdicts, onEvidence: chain && providers && cfg.slashFailedChecks ? fraudHook({ client: chain.client, providers, links: ctx.links, signer: ctx.identity,
      usage: () => ctx.services.get('usage'), trust: () => ctx.services.get('trust'), logger: log, liars }) : undefined,
      // cortex.audit: replicas and/or verifiers hired through provider records; liars are shared with the fraud path
      policy: { verifiers: cfg.audit.verifiers, hire: cfg.audit.hire, maxResolvers: cfg.audit.maxResolvers, providers, signer: ctx.identity, liars, timeoutMs: cfg.requestTimeoutMs,
        ...(cfg.audit.maxPricePerCheck !== undefined ? { maxPrice: BigInt(cfg.audit.maxPricePerCheck) } : {}) } },
  })
  svc.start()
  ctx.services.provide('cortex', svc)
  ctx.control.route('GET', '/cortex/stages', () => stages.map((s) => s.server.info()))
  const http = cfg.httpApi ? registerHttp(ctx.http, svc, { defaultMaxTokens: Math.min(128, cfg.maxTokens) }) : null
  const embed = await attachEmbed(ctx, cfg.embed, cfg.httpApi)
  let stopped = false
  return {
    async stop() {
      if (stopped) return
      stopped = true
      if (whitelistTimer) clearInterval(whitelistTimer)
      http?.close()
      await embed?.stop()
      svc.stop()
      for (const k of announced) providers?.unprovide(k)
      for (const v of verifiers) v.stop()
      for (const s of stages) { s.server.stop(); await s.server.engine.close() }
    },
  }
}
