import { basename, resolve } from 'node:path'
import { Counter, Histogram } from 'prom-client'
import type { NodeContext, Stoppable } from '../interfaces/node-context.js'
import type { Endpoint } from '../interfaces/link.js'
import { MergedStageDirectory, ProviderStageDirectory, StaticStageDirectory, encodeAnnouncement, providerKey, type StageDirectory } from './directory.js'
import { registerHttp } from './http.js'
import { ModelDir } from './model.js'
import { StageServer } from './server.js'
import { CortexService } from './service.js'
import { StageEngine } from './stage.js'
import type { CortexConfig } from './config.js'

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

export function parseEndpoint(s: string): Endpoint {
  const i = s.lastIndexOf(':')
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) }
}

/** Wires the cortex layer into a running node. */
export async function attach(ctx: NodeContext): Promise<Stoppable | void> {
  const cfg = ctx.config.cortex as CortexConfig
  if (!cfg.enabled) return undefined
  const log = ctx.logger
  const stages: { server: StageServer; dir: string }[] = []
  const announced: Uint8Array[] = []
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
  const whitelistTimer = chain ? setInterval(() => { refreshWhitelist().catch(() => {}) }, ctx.config.chain.paramsRefreshSec * 1000) : undefined
  whitelistTimer?.unref()
  for (const s of cfg.serve) {
    const dir = resolve(s.path)
    const model = new ModelDir(dir)
    let engine: StageEngine
    try {
      const range = parseLayers(s.layers, model.config.layers)
      engine = await StageEngine.load(model, { ...range, quantBits: s.quant === 'q8' ? 8 : s.quant === 'q4' ? 4 : 0, maxSessions: s.maxSessions, threads: s.threads })
    } finally { model.close() }
    const modelId = s.modelId ?? basename(dir)
    if (chain) {
      whitelist.set(modelId, await chain.modelAllowed(modelId))
      if (!whitelist.get(modelId)) log.warn({ model: modelId }, 'cortex: model is not on the governed whitelist; the stage refuses requests until it is')
    }
    const server = new StageServer({
      modelId, allowed: chain ? () => whitelist.get(modelId) === true : undefined, engine, router: ctx.router, links: ctx.links, sessionTtlMs: cfg.sessionTtlMs, maxBatch: cfg.maxBatch, maxSessionsPerPeer: cfg.maxSessionsPerPeer,
      logger: log.child({ c: 'stage' }), usage: ctx.services.get('usage'), trust: ctx.services.get('trust'),
      onTokens: (n) => tokens.inc(n), onBatch: (n) => batches.observe(n),
    })
    server.start()
    stages.push({ server, dir })
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
  const svc = new CortexService({
    nodeId: ctx.identity.publicKey, router: ctx.router, links: ctx.links, directory: new MergedStageDirectory(dirs), stages,
    maxTokens: cfg.maxTokens, timeoutMs: cfg.requestTimeoutMs, logger: log,
  })
  svc.start()
  ctx.services.provide('cortex', svc)
  ctx.control.route('GET', '/cortex/stages', () => stages.map((s) => s.server.info()))
  const http = cfg.httpApi ? registerHttp(ctx.http, svc, { defaultMaxTokens: Math.min(128, cfg.maxTokens) }) : null
  let stopped = false
  return {
    async stop() {
      if (stopped) return
      stopped = true
      if (whitelistTimer) clearInterval(whitelistTimer)
      http?.close()
      svc.stop()
      for (const k of announced) providers?.unprovide(k)
      for (const s of stages) { s.server.stop(); await s.server.engine.close() }
    },
  }
}
