/**
 * The content layer as a running service: the published set, the chunk server, the CDN cache, provider
 * discovery and download jobs. attach.ts exposes it on the control API; other layers (e.g. cortex model
 * distribution) can use it through `ctx.services.get('content')`.
 */
import { parseHostPort } from '../util/host-port.js'
import type { NodeTracer } from '../interfaces/tracing.js'
import { failSpan } from '../util/span.js'
import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Counter } from 'prom-client'
import type { Identity } from '../crypto/identity.js'
import type { Endpoint, Link, LinkProvider, MessageRouter } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import type { ServiceRegistry } from '../interfaces/node-context.js'
import { equalBytes, fromHex, toHex } from '../util/bytes.js'
import { CacheServer, cdnKey, providerKey } from './cache-server.js'
import type { Manifest } from './manifest.js'
import type { ContentConfig } from './config.js'
import { Download, type DownloadResult } from './downloader.js'
import { DownloadError } from './errors.js'
import { CHUNK_COPY_POOL_BYTES } from './file-download.js'
import { SlabPool } from '../transport/slab-pool.js'
import { hashFile } from './hasher.js'
import { MerkleTree } from './merkle.js'
import type { Progress } from './progress.js'
import { loadIndex, saveIndex } from './published-index.js'
import { ContentServer } from './server.js'
import { ContentStore, type Publication, type PublishOptions } from './store.js'

export interface ContentServiceInit {
  identity: Identity
  config: ContentConfig
  /** A span per download (from provider lookup to the last verified chunk) when tracing is on. */
  tracer?: NodeTracer
  dataDir: string
  router: MessageRouter
  links: LinkProvider
  services: ServiceRegistry
  logger: Logger
  counters?: { served: Counter; fetched: Counter; bad: Counter; fetchedBytes?: Counter }
}

export interface JobInfo {
  job: string
  id: string
  outDir: string
  state: 'running' | 'done' | 'failed'
  progress?: Progress
  error?: { code: string; message: string }
  result?: { files: string[]; chunksFetched: number; chunksResumed: number; badProviders: string[] }
}

/** Finished jobs kept for `zeone fetch` to read back. */
const MAX_FINISHED_JOBS = 64

/** Parses `host:port` or `[v6]:port` (the content layer may not import the node composition root). */
export function parseEndpoint(s: string): Endpoint {
  try { return parseHostPort(s) } catch (err) { throw new DownloadError('bad_address', (err as Error).message) }
}

/** Content keys read per call (publish, fetch) or resizable, so a reload applies them without a restart. */
export const CONTENT_LIVE_KEYS = ['content.chunkSize', 'content.window', 'content.requestTimeoutMs', 'content.maxFailures',
  'content.maxProviders', 'content.seedAfterFetch', 'content.cache.maxBytes', 'content.cache.maxEntries'] as const

export class ContentService {
  readonly store: ContentStore
  readonly server: ContentServer
  readonly cache: CacheServer | undefined
  readonly #init: ContentServiceInit
  #jobs = new Map<string, { info: JobInfo; download: Download }>()
  #nextJob = 1
  #stopped = false
  /** Shared-memory chunk copies of this node's downloads (reused across them, freed on stop). */
  readonly chunkCopies = new SlabPool(CHUNK_COPY_POOL_BYTES, true)

  constructor(init: ContentServiceInit) {
    this.#init = init
    const c = init.config
    this.store = new ContentStore({ maxPublications: c.maxPublications })
    this.server = new ContentServer({
      store: this.store, router: init.router, usage: () => init.services.get('usage'), logger: init.logger,
      verifyOnServe: c.verifyOnServe, onServed: (b) => init.counters?.served.inc(b),
    })
    this.cache = c.cache.enabled
      ? new CacheServer({ router: init.router, maxBytes: c.cache.maxBytes, maxEntries: c.cache.maxEntries, logger: init.logger,
        providers: () => init.services.get('providers'), usage: () => init.services.get('usage'), onServed: (b) => init.counters?.served.inc(b) })
      : undefined
  }

  /** Live config (the keys in CONTENT_LIVE_KEYS): download and publish parameters apply from the next call, the
   *  cache limits at once. The node holds every other content key at its running value until a restart. */
  reconfigure(next: ContentConfig): void {
    this.#init.config = next
    this.cache?.cache.resize({ maxBytes: next.cache.maxBytes, maxEntries: next.cache.maxEntries })
  }

  #started = false

  start(): void {
    if (this.#started) return // idempotent: one index load, one announcement round
    this.#started = true
    const restored = loadIndex(this.#init.dataDir, this.store, this.#init.logger)
    if (restored > 0) this.#init.logger.info({ restored }, 'restored published content')
    this.server.start()
    this.cache?.start()
    for (const p of this.store.list()) this.#announce(p)
  }

  stop(): void {
    if (this.#stopped) return
    this.#stopped = true
    for (const j of this.#jobs.values()) j.download.cancel()
    this.server.stop()
    this.cache?.stop()
    this.chunkCopies.close()
    const dir = this.#init.services.get('providers')
    for (const p of this.store.list()) dir?.unprovide(providerKey(p.idHex))
  }

  #announce(p: Publication): boolean {
    const dir = this.#init.services.get('providers')
    if (!dir) return false
    dir.provide(providerKey(p.idHex)).catch((err: unknown) => this.#init.logger.warn({ id: p.idHex, err: (err as Error).message }, 'provider announce failed'))
    return true
  }

  async publish(path: string, opts: PublishOptions = {}): Promise<{ pub: Publication; announced: boolean }> {
    const pub = await this.store.publish(path, this.#init.identity, { chunkSize: this.#init.config.chunkSize, ...opts })
    saveIndex(this.#init.dataDir, this.store)
    return { pub, announced: this.#announce(pub) }
  }

  unpublish(idHex: string): boolean {
    const ok = this.store.remove(idHex)
    if (ok) {
      this.#init.services.get('providers')?.unprovide(providerKey(idHex))
      saveIndex(this.#init.dataDir, this.store)
    }
    return ok
  }

  /** Finds providers: `from` addresses dialed directly, else provider records from the DHT. */
  async providersFor(idHex: string, from: readonly string[] = []): Promise<Link[]> {
    const links: Link[] = []
    const self = this.#init.identity.publicKey
    const dial = async (addr: Endpoint, nodeId?: Uint8Array): Promise<void> => {
      try {
        const l = (nodeId && this.#init.links.get(nodeId)) || await this.#init.links.dial(addr, nodeId ? { expectNodeId: nodeId } : {})
        if (!equalBytes(l.peer.nodeId, self)) links.push(l)
      } catch (err) {
        this.#init.logger.info({ addr, err: (err as Error).message }, 'provider unreachable')
      }
    }
    if (from.length > 0) {
      await Promise.all(from.slice(0, this.#init.config.maxProviders).map((s) => dial(parseEndpoint(s))))
      return links
    }
    const dir = this.#init.services.get('providers')
    if (!dir) throw new DownloadError('no_dht', 'no DHT is attached to find providers; pass --from host:port')
    const records = await dir.findProviders(providerKey(idHex), { limit: this.#init.config.maxProviders })
    await Promise.all(records.filter((r) => !equalBytes(r.nodeId, self)).map(async (r) => {
      for (const a of r.addrs) { const before = links.length; await dial(a, r.nodeId); if (links.length > before) return }
    }))
    return links
  }

  /** CDN caches announcing chunks of the manifest's files (`cdn:<root>`), at most `maxProviders`. */
  async cachePeersFor(m: Manifest, exclude: readonly Link[]): Promise<Link[]> {
    const dir = this.#init.services.get('providers')
    if (!dir) return []
    const skip = new Set([toHex(this.#init.identity.publicKey), ...exclude.map((l) => toHex(l.peer.nodeId))])
    const links: Link[] = []
    const roots = [...new Set(m.files.map((f) => toHex(f.root)))].slice(0, 8)
    for (const root of roots) {
      const records = await dir.findProviders(cdnKey(root), { limit: 4 })
      for (const r of records) {
        if (links.length >= this.#init.config.maxProviders || skip.has(toHex(r.nodeId))) continue
        skip.add(toHex(r.nodeId))
        for (const a of r.addrs) {
          try { links.push(this.#init.links.get(r.nodeId) ?? await this.#init.links.dial(a, { expectNodeId: r.nodeId })); break } catch { /* next address */ }
        }
      }
    }
    return links
  }

  /** Starts a download job and returns its handle; progress and outcome via `job()`. */
  async fetch(idHex: string, outDir: string, from: readonly string[] = []): Promise<JobInfo> {
    if (!/^[0-9a-f]{64}$/.test(idHex)) throw new DownloadError('bad_id', 'content id must be 64 hex digits')
    const tracer = this.#init.tracer
    const span = tracer?.sampleRoot() ? tracer.start('content.fetch', { sample: true, attributes: { 'zeone.content.id': idHex, 'zeone.content.from': from.length } }) : undefined
    const providers = await this.providersFor(idHex, from).catch((err: unknown) => { failSpan(span, err); throw err })
    span?.addEvent('providers', { 'zeone.content.providers': providers.length })
    if (providers.length === 0) { const e = new DownloadError('no_providers', `no reachable provider for ${idHex}`); failSpan(span, e); throw e }
    const job = String(this.#nextJob++)
    const info: JobInfo = { job, id: idHex, outDir: resolve(outDir), state: 'running' }
    const c = this.#init.config
    const cache = this.cache?.cache
    const trust = this.#init.services.get('trust')
    const usage = this.#init.services.get('usage')
    const download = new Download({
      id: fromHex(idHex), providers, outDir: info.outDir, window: c.window, requestTimeoutMs: c.requestTimeoutMs,
      maxFailures: c.maxFailures, logger: this.#init.logger, copies: this.chunkCopies,
      // a provider whose link closes (a NAT path found dead and routed again) continues over its new link
      relink: (nodeId) => this.#init.links.get(nodeId),
      ...(trust ? { trust } : {}), ...(usage ? { usage } : {}),
      onProgress: (p) => { info.progress = p },
      onVerified: (leaf: Uint8Array, data: Uint8Array, root: string) => { this.#init.counters?.fetchedBytes?.inc(data.length); cache?.put(leaf, data, root) },
      ...(from.length === 0 ? { discoverCachePeers: (m: Manifest) => this.cachePeersFor(m, providers) } : {}),
    })
    this.#jobs.set(job, { info, download })
    this.#trimJobs()
    download.run().then(async (r) => {
      this.#init.counters?.fetched.inc(r.chunksFetched)
      if (r.badProviders.size > 0) this.#init.counters?.bad.inc(r.badProviders.size)
      // seeded before the job reads as done, so a caller that sees 'done' can rely on it
      if (c.seedAfterFetch && !this.#stopped) await this.#seed(r)
      info.result = { files: r.files.map((f) => f.path), chunksFetched: r.chunksFetched, chunksResumed: r.chunksResumed, badProviders: [...r.badProviders.keys()] }
      info.state = 'done'
      span?.setAttributes({ 'zeone.content.chunks_fetched': r.chunksFetched, 'zeone.content.chunks_resumed': r.chunksResumed, 'zeone.content.bad_providers': r.badProviders.size })
      span?.end()
    }, (err: unknown) => {
      failSpan(span, err)
      info.state = 'failed'
      info.error = { code: (err as { code?: string }).code ?? 'error', message: (err as Error).message }
    })
    return info
  }

  /** Serves a completed download: re-hashes the files (they are ours now) and checks them against the manifest. */
  async #seed(r: DownloadResult): Promise<void> {
    try {
      const files = []
      for (let i = 0; i < r.manifest.files.length; i++) {
        const meta = r.manifest.files[i]!
        const d = await hashFile(r.files[i]!.path, meta.chunkSize, { wholeFile: false })
        if (!equalBytes(d.root, meta.root)) throw new DownloadError('changed', `${meta.path} changed after download`)
        const st = statSync(r.files[i]!.path)
        files.push({ abs: r.files[i]!.path, tree: new MerkleTree(d.leaves), stat: { size: st.size, mtimeMs: st.mtimeMs } })
      }
      const pub = this.store.add(r.manifest, files)
      saveIndex(this.#init.dataDir, this.store)
      this.#announce(pub)
    } catch (err) {
      this.#init.logger.warn({ err: (err as Error).message }, 'not seeding the downloaded content')
    }
  }

  job(job: string): JobInfo | undefined { return this.#jobs.get(job)?.info }
  jobs(): JobInfo[] { return [...this.#jobs.values()].map((j) => j.info) }
  cancel(job: string): boolean {
    const j = this.#jobs.get(job)
    j?.download.cancel()
    return j !== undefined
  }

  #trimJobs(): void {
    const finished = [...this.#jobs.entries()].filter(([, j]) => j.info.state !== 'running')
    for (const [k] of finished.slice(0, Math.max(0, finished.length - MAX_FINISHED_JOBS))) this.#jobs.delete(k)
  }

  publicationInfo(p: Publication) {
    return {
      id: p.idHex, contentId: p.manifest.contentId, version: p.manifest.version, publisher: toHex(p.manifest.publisher),
      files: p.manifest.files.map((f) => ({ path: f.path, size: f.size, chunkSize: f.chunkSize, root: toHex(f.root), sha256: toHex(f.sha256) })),
    }
  }
}
