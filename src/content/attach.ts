/**
 * Wires the content layer into a running node: the chunk server and CDN cache on the router, the published set
 * (restored from the data dir), provider announcements through the DHT, and control routes used by
 * `zeone publish` / `zeone fetch`.
 */
import { Counter } from 'prom-client'
import type { LayerHandle, NodeContext } from '../interfaces/node-context.js'
import type { ContentConfig } from './config.js'
import { InvalidInputError } from '../util/errors.js'
import { fsInputError } from '../util/fs-errors.js'
import { stat } from 'node:fs/promises'
import { CONTENT_LIVE_KEYS, ContentService } from './service.js'

declare module '../interfaces/node-context.js' {
  interface ServiceMap {
    /** content: published set, downloads, CDN cache */
    content: ContentService
  }
}

function str(body: unknown, key: string, required = true): string | undefined {
  const v = (body as Record<string, unknown> | null)?.[key]
  if (v === undefined && !required) return undefined
  if (typeof v !== 'string' || v.length === 0 || v.length > 4096) throw new InvalidInputError('bad_request', `'${key}' must be a non-empty string`)
  return v
}

/** The config sections this layer reads (the node hands it only these). */
export interface ContentLayerConfig { content: ContentConfig }

export async function attach(ctx: NodeContext<ContentLayerConfig>): Promise<LayerHandle<ContentLayerConfig>> {
  const counter = (name: string, help: string): Counter => {
    const existing = ctx.metrics.getSingleMetric(name)
    return (existing as Counter | undefined) ?? new Counter({ name, help, registers: [ctx.metrics] })
  }
  const svc = new ContentService({
    identity: ctx.identity, config: ctx.config.content, dataDir: ctx.dataDir, router: ctx.router, links: ctx.links,
    services: ctx.services, logger: ctx.logger, ...(ctx.tracer ? { tracer: ctx.tracer } : {}),
    counters: {
      served: counter('zeone_content_served_bytes_total', 'Chunk bytes served to peers (chunk protocol and CDN cache)'),
      fetched: counter('zeone_content_fetched_chunks_total', 'Verified chunks fetched by downloads'),
      fetchedBytes: counter('zeone_content_fetched_bytes_total', 'Verified chunk bytes fetched by downloads (counted as each chunk verifies)'),
      bad: counter('zeone_content_bad_providers_total', 'Providers caught serving unverifiable content'),
    },
  })
  svc.start()
  ctx.services.provide('content', svc)

  const c = ctx.control
  c.route('POST', '/v1/content/publish', async (req) => {
    const path = str(req.body, 'path')!
    const body = (req.body ?? {}) as Record<string, unknown>
    const opts: { chunkSize?: number; contentId?: string; version?: number } = {}
    if (typeof body.chunkSize === 'number') opts.chunkSize = body.chunkSize
    if (typeof body.contentId === 'string') opts.contentId = body.contentId
    if (typeof body.version === 'number') opts.version = body.version
    // a path the user mistyped is their mistake, not the node's: name it and the fix
    try { await stat(path) } catch (err) { throw fsInputError(err, 'path', 'give an existing file or directory to publish') ?? err }
    const { pub, announced } = await svc.publish(path, opts).catch((err: unknown) => { throw fsInputError(err, 'path') ?? err })
    return { ...svc.publicationInfo(pub), announced }
  })
  c.route('GET', '/v1/content/published', () => svc.store.list().map((p) => svc.publicationInfo(p)))
  c.route('DELETE', '/v1/content/published', (req) => ({ removed: svc.unpublish(req.query.get('id') ?? '') }))
  c.route('POST', '/v1/content/fetch', async (req) => {
    const body = (req.body ?? {}) as Record<string, unknown>
    const from = Array.isArray(body.from) ? body.from.filter((x): x is string => typeof x === 'string') : []
    return svc.fetch(str(req.body, 'id')!, str(req.body, 'outDir')!, from)
  })
  c.route('GET', '/v1/content/jobs', (req) => {
    const j = req.query.get('job')
    if (!j) return svc.jobs()
    const info = svc.job(j)
    if (!info) throw new InvalidInputError('not_found', `no job ${j}`)
    return info
  })
  c.route('DELETE', '/v1/content/jobs', (req) => ({ cancelled: svc.cancel(req.query.get('job') ?? '') }))
  c.route('GET', '/v1/content/cache', () => {
    const k = svc.cache?.cache
    return k ? { enabled: true, bytes: k.bytes, chunks: k.size, roots: k.groups, hits: k.hits, misses: k.misses, maxBytes: k.maxBytes } : { enabled: false }
  })

  return { stop: () => svc.stop(), liveKeys: CONTENT_LIVE_KEYS, onConfig: (next) => svc.reconfigure(next.content) }
}
