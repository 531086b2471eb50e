/**
 * Wires embeddings into the node (called from cortex/attach.ts): loads the configured encoders, opens the vector
 * store under <dataDir>/embed, records a migration when the default model's space changed since the last start
 * (and runs it in the background), and registers the `embed` wire service, POST /v1/embeddings and the control
 * routes `zeone embed add|query|spaces|migrate` use.
 */
import { existsSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import type { NodeContext } from '../../interfaces/node-context.js'
import { ZeoneError } from '../../util/errors.js'
import type { EmbedConfig } from './config.js'
import { EmbedService, type LoadedModel } from './service.js'
import { SemanticIndex, type EmbedModel } from './semantic-index.js'
import type { Space } from './vector-store.js'
import { registerEmbeddingsHttp } from './http.js'

declare module '../../interfaces/node-context.js' {
  interface ServiceMap { embed: EmbedService }
}

export async function attachEmbed(ctx: NodeContext, cfg: EmbedConfig, httpApi: boolean): Promise<{ stop(): Promise<void> } | undefined> {
  if (!cfg.models.length) return undefined
  let mod: typeof import('./embedder.js')
  try { mod = await import('./embedder.js') } catch (err) {
    throw new ZeoneError('runtime_missing', 'embedding models need the inference runtime (onnxruntime-node, onnx-proto); install it or remove cortex.embed.models', { cause: err })
  }
  const loaded: LoadedModel[] = []
  try {
    for (const m of cfg.models) {
      const path = resolve(m.path)
      const embedder = await mod.Embedder.load(path, { threads: m.threads, maxBatch: cfg.maxBatch, quantBits: m.quant === 'q8' ? 8 : m.quant === 'q4' ? 4 : 0 })
      const id = m.id ?? basename(path)
      const version = m.version ?? embedder.weightsRoot.slice(0, 16)
      loaded.push({ id, version, embedder, space: { modelId: id, modelVersion: version, weightsRoot: embedder.weightsRoot, dim: embedder.dim, metric: 'cos' } })
    }
  } catch (e) {
    for (const l of loaded) await l.embedder.close()
    throw e
  }
  const defaultId = cfg.default ?? loaded[0]!.id
  if (!loaded.some((l) => l.id === defaultId)) throw new ZeoneError('bad_config', `cortex.embed.default '${defaultId}' is not one of cortex.embed.models`)
  let index: SemanticIndex | undefined
  const extra = new Map<string, Promise<EmbedModel | undefined>>()
  if (cfg.store) {
    const { VectorStore } = await import('./vector-store.js')
    const store = new VectorStore(join(ctx.dataDir, 'embed'), { expansionSearch: cfg.annExpansionSearch })
    for (const l of loaded) l.spaceId = store.ensureSpace(l.space, l.embedder.dir).id
    // a space whose model is not configured any more (the old side of a migration) loads from its recorded path
    const resolveModel = async (s: Space): Promise<EmbedModel | undefined> => {
      const l = loaded.find((x) => x.space.weightsRoot === s.weightsRoot && x.embedder.dim === s.dim)
      if (l) return { space: l.space, embed: (t) => l.embedder.embed(t) }
      if (!s.path || !existsSync(s.path)) return undefined
      let p = extra.get(s.weightsRoot)
      if (!p) {
        p = mod.Embedder.load(s.path, { maxBatch: cfg.maxBatch }).then(async (e) => {
          if (e.weightsRoot !== s.weightsRoot) { await e.close(); ctx.logger.warn({ space: s.id, path: s.path }, 'embed: the weights at a space\'s path changed; its queries cannot be embedded'); return undefined }
          return { space: s, embed: (t: string[]) => e.embed(t), close: () => e.close() } as EmbedModel
        }).catch(() => undefined)
        extra.set(s.weightsRoot, p)
      }
      return p
    }
    index = new SemanticIndex(store, resolveModel, cfg.maxBatch * 2)
    const now = loaded.find((l) => l.id === defaultId)!.spaceId!
    const prev = store.defaultSpace
    if (prev !== undefined && prev !== now && store.space(prev).status === 'active' && store.count(prev) > 0 && !index.migration()) {
      index.beginMigration(prev, now)
      ctx.logger.info({ from: prev, to: now }, 'embed: default model changed; migrating documents to the new space')
    }
    store.defaultSpace = now
    if (cfg.backgroundMigration && index.migration()) {
      index.runMigration().catch((e: Error) => ctx.logger.warn({ err: e.message }, 'embed: background migration stopped'))
    }
  }
  const svc = new EmbedService({ models: loaded, defaultId, maxInputs: cfg.maxInputs, pricePer1kTokens: cfg.pricePer1kTokens, index })
  ctx.services.provide('embed', svc)
  const offService = ctx.services.get('serviceRouter')?.register(svc.wireService())
  if (httpApi) registerEmbeddingsHttp(ctx.http, svc)
  registerControl(ctx, svc)
  return {
    async stop() {
      offService?.()
      await svc.close()
      for (const p of extra.values()) await (await p as { close?: () => Promise<void> } | undefined)?.close?.()
    },
  }
}

function registerControl(ctx: NodeContext, svc: EmbedService): void {
  const ix = (): SemanticIndex => svc.index ?? (() => { throw new ZeoneError('no_store', 'this node keeps no vector store (cortex.embed.store is false)') })()
  const obj = (b: unknown): Record<string, unknown> => (b && typeof b === 'object' && !Array.isArray(b) ? b as Record<string, unknown> : {})
  const space = (v: unknown): number | undefined => {
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ZeoneError('bad_input', 'space must be a space id (integer)')
    return v
  }
  ctx.control.route('GET', '/v1/embed/spaces', () => {
    const i = ix()
    const s = i.store
    return { default: s.defaultSpace, spaces: s.spaces().map((sp) => ({ ...sp, count: s.count(sp.id) })), documents: s.docCount(), migration: i.migration() ?? null, models: svc.models() }
  })
  ctx.control.route('POST', '/v1/embed/add', async (req) => {
    const b = obj(req.body)
    const items = b.items
    if (!Array.isArray(items) || !items.length || items.length > svc.init.maxInputs) throw new ZeoneError('bad_input', `items must be an array of 1..${svc.init.maxInputs} {key?, text}`)
    const docs = items.map((it, n) => {
      const o = obj(it)
      if (typeof o.text !== 'string' || (o.key !== undefined && typeof o.key !== 'string')) throw new ZeoneError('bad_input', `items[${n}] must be {key?: string, text: string}`)
      return { text: o.text, ...(o.key !== undefined ? { key: o.key as string } : {}) }
    })
    return ix().add(docs, space(b.space))
  })
  ctx.control.route('POST', '/v1/embed/query', async (req) => {
    const b = obj(req.body)
    if (typeof b.text !== 'string' || !b.text) throw new ZeoneError('bad_input', 'text must be a non-empty string')
    const k = b.k === undefined ? 10 : b.k
    const r = await ix().query(b.text, { space: space(b.space), k: k as number })
    const docs = new Map(ix().store.docs(r.hits.map((h) => h.docId)).map((d) => [d.id, d.text]))
    return { ...r, hits: r.hits.map((h) => ({ key: h.key, distance: h.distance, text: docs.get(h.docId) })) }
  })
  ctx.control.route('POST', '/v1/embed/migrate', async (req) => {
    const b = obj(req.body)
    const i = ix()
    const from = space(b.from), to = space(b.to)
    if (from !== undefined || to !== undefined) {
      if (from === undefined || to === undefined) throw new ZeoneError('bad_input', 'give both from and to, or neither')
      i.beginMigration(from, to)
      i.store.defaultSpace = to
    }
    if (b.action === 'stop') await i.stopMigration()
    else if (b.wait === true) await i.runMigration()
    else void i.runMigration().catch((e: Error) => ctx.logger.warn({ err: e.message }, 'embed: migration stopped'))
    return { migration: i.migration() ?? null, default: i.store.defaultSpace }
  })
}
