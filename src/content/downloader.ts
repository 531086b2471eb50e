/**
 * A verified multi-peer download of one manifest: fetches the manifest (its id is checked against the hash of the
 * bytes, its signature verified), then each file through `downloadFile`. Exposes progress and a streaming reader
 * that yields a file's bytes in order as soon as they are verified.
 */
import { open } from 'node:fs/promises'
import type { Clock } from '../interfaces/clock.js'
import { systemClock } from '../interfaces/clock.js'
import type { Link } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import type { UsageMeter } from '../interfaces/services.js'
import type { TrustSink } from '../interfaces/trust.js'
import { equalBytes, toHex } from '../util/bytes.js'
import { AbortedError } from '../util/errors.js'
import type { SlabPool } from '../transport/slab-pool.js'
import { DownloadError } from './errors.js'
import { defaultWriter, downloadFile, type ChunkWriter, type FileResult } from './file-download.js'
import { readFully } from './hasher.js'
import { decodeManifest, leafCountOf, manifestId, type Manifest } from './manifest.js'
import { ContentMessageType as T, decodeManifestReply, encodeGetManifest } from './messages.js'
import { ProgressMeter, type Progress } from './progress.js'
import { ProviderSet, type Relinker } from './provider-set.js'

export interface DownloadInit {
  /** Manifest id (SHA-256 of the signed manifest encoding). */
  id: Uint8Array
  providers: readonly Link[]
  /** CDN cache peers asked by leaf hash (CACHE_REQUEST); they need not hold the manifest. @default [] */
  cachePeers?: readonly Link[]
  outDir: string
  /** Pipelined chunk requests per provider. @default 8 */
  window?: number
  /** @default 30000 */
  requestTimeoutMs?: number
  /** Transport failures before a provider is dropped. @default 3 */
  maxFailures?: number
  /** Chunks between resume-state saves. @default max(1, floor(chunks/128)) */
  flushEvery?: number
  trust?: TrustSink
  usage?: UsageMeter
  logger?: Logger
  clock?: Clock
  signal?: AbortSignal
  onProgress?: (p: Progress) => void
  /** Finds CDN cache peers once the manifest is known (e.g. `cdn:<root>` provider records); failures are ignored. */
  discoverCachePeers?: (m: Manifest) => Promise<Link[]>
  /** Called with every verified chunk (leaf hash, data, file Merkle root hex): feeds the local CDN cache. */
  onVerified?: (leaf: Uint8Array, data: Uint8Array, rootHex: string) => void
  /**
   * A provider whose link closed mid-download is looked up again here (the node's current link to the same node id,
   * e.g. a NAT link re-routed after its relay died) for up to `relinkWaitMs`; without it such a provider is dropped.
   */
  relink?: (nodeId: Uint8Array) => Link | undefined
  /** @default 30000 */
  relinkWaitMs?: number
  /** Test hook: positional writes (inject a full disk). */
  writer?: ChunkWriter
  /**
   * Shared-memory buffers for chunk copies, reused across downloads; the caller owns and frees them (the content
   * service clears its pool on stop). @default a pool for each file's download only
   */
  copies?: SlabPool
}

export interface DownloadResult {
  manifest: Manifest
  files: FileResult[]
  chunksFetched: number
  chunksResumed: number
  /** Providers caught serving bad data (base64 node id → reason). */
  badProviders: Map<string, string>
}

interface FileWatch { partial?: string; done: boolean; verified?: (i: number) => boolean; waiters: Set<() => void> }

export class Download {
  readonly #init: DownloadInit
  readonly #abort = new AbortController()
  readonly #providers: ProviderSet
  #manifest: Manifest | undefined
  #manifestWaiters = new Set<() => void>()
  #watch = new Map<number, FileWatch>()
  #failed: Error | undefined
  #result: Promise<DownloadResult> | undefined

  constructor(init: DownloadInit) {
    this.#init = init
    const clock = init.clock ?? systemClock
    const relink: Relinker | undefined = init.relink && {
      get: init.relink, waitMs: init.relinkWaitMs ?? 30_000,
      sleep: (ms) => new Promise<void>((r) => { clock.setTimeout(r, ms) }),
    }
    this.#providers = new ProviderSet(init.providers, init.trust, init.logger ?? silentLogger, init.maxFailures ?? 3, init.cachePeers ?? [], relink)
  }

  get manifest(): Manifest | undefined { return this.#manifest }
  get badProviders(): ReadonlyMap<string, string> { return this.#providers.bad }

  /** Starts (once) and resolves with the result; rejects with DownloadError/AbortedError, leaving state resumable. */
  run(): Promise<DownloadResult> {
    this.#result ??= this.#run().catch((err) => { this.#failed = err as Error; this.#wakeAll(); throw err })
    return this.#result
  }

  cancel(): void { this.#abort.abort() }

  async #run(): Promise<DownloadResult> {
    const signal = this.#init.signal ? AbortSignal.any([this.#init.signal, this.#abort.signal]) : this.#abort.signal
    const clock = this.#init.clock ?? systemClock
    const manifest = await this.#fetchManifest(signal)
    this.#manifest = manifest
    for (const w of this.#manifestWaiters) w()
    this.#manifestWaiters.clear()
    if (this.#init.discoverCachePeers) {
      try { this.#providers.addCaches(await this.#init.discoverCachePeers(manifest)) } catch (err) {
        this.#init.logger?.debug({ err: (err as Error).message }, 'cache peer discovery failed')
      }
    }
    const total = manifest.files.reduce((a, f) => a + f.size, 0)
    const chunks = manifest.files.reduce((a, f) => a + leafCountOf(f), 0)
    const meter = new ProgressMeter(total, 0, chunks, 0, () => clock.now())
    const report = (): void => this.#init.onProgress?.(meter.snapshot(this.#providers.active().length))
    const results: FileResult[] = []
    for (let i = 0; i < manifest.files.length; i++) {
      const meta = manifest.files[i]!
      const w = this.#watchOf(i)
      const r = await downloadFile({
        id: this.#init.id, index: i, meta, outDir: this.#init.outDir, providers: this.#providers,
        window: this.#init.window ?? 8, requestTimeoutMs: this.#init.requestTimeoutMs ?? 30_000,
        ...(this.#init.flushEvery !== undefined ? { flushEvery: this.#init.flushEvery } : {}),
        writer: this.#init.writer ?? defaultWriter, ...(this.#init.copies ? { copies: this.#init.copies } : {}), logger: this.#init.logger ?? silentLogger, signal,
        onPartial: (p, verified) => { w.partial = p; w.verified = verified; this.#wake(w) },
        onResume: (c, b) => { meter.chunksDone += c; meter.bytesDone += b; report() },
        onChunk: (_idx, bytes, provider) => {
          // metered per verified chunk, as the provider meters what it served, so both ledgers agree as the download
          // runs and our cheques keep up with its debt limit (a corrupt chunk is never paid for)
          this.#init.usage?.record(provider, 'cdn', BigInt(bytes), 'consumed')
          meter.add(bytes); this.#wake(w); report()
        },
        ...(this.#init.onVerified ? { onVerified: (leaf: Uint8Array, data: Uint8Array) => this.#init.onVerified!(leaf, data, toHex(meta.root)) } : {}),
      })
      if (r.alreadyComplete) { meter.chunksDone += leafCountOf(meta); meter.bytesDone += meta.size; report() }
      w.partial = r.path
      w.done = true
      this.#wake(w)
      results.push(r)
    }
    for (const p of this.#providers.all) {
      if (p.chunks === 0) continue
      this.#init.trust?.report(p.link.peer.nodeId, 'successful_transfer', `${p.chunks} chunks`)
    }
    return {
      manifest, files: results, badProviders: this.#providers.bad,
      chunksFetched: results.reduce((a, r) => a + r.fetched, 0),
      chunksResumed: results.reduce((a, r) => a + (r.alreadyComplete ? 0 : r.resumed), 0),
    }
  }

  async #fetchManifest(signal: AbortSignal): Promise<Manifest> {
    for (const p of this.#providers.active(true)) {
      try {
        const r = await p.link.request(T.CONTENT_GET_MANIFEST, encodeGetManifest({ id: this.#init.id }), { timeoutMs: this.#init.requestTimeoutMs ?? 30_000, signal })
        if (r.type !== T.CONTENT_MANIFEST) throw new DownloadError('unexpected_reply', `expected MANIFEST, got 0x${r.type.toString(16)}`)
        const bytes = decodeManifestReply(r.body).manifest
        if (!equalBytes(manifestId(bytes), this.#init.id)) { this.#providers.misbehaved(p, 'invalid_message', 'manifest does not hash to the requested id'); continue }
        try { return decodeManifest(bytes) } catch (err) {
          this.#providers.misbehaved(p, 'signature_forgery', `manifest invalid: ${(err as Error).message}`)
        }
      } catch (err) {
        if (signal.aborted) throw new AbortedError('download aborted', { cause: err })
        this.#providers.failed(p, `manifest: ${(err as Error).message}`)
      }
    }
    const why = this.#providers.all.map((p) => this.#providers.bad.get(p.key) ?? this.#providers.lastError.get(p.key) ?? (p.link.closed ? 'link closed' : 'dropped'))
    throw new DownloadError('no_providers', `no provider delivered the manifest${why.length ? ` (${[...new Set(why)].slice(0, 3).join('; ')})` : ''}`)
  }

  #watchOf(i: number): FileWatch {
    let w = this.#watch.get(i)
    if (!w) { w = { done: false, waiters: new Set() }; this.#watch.set(i, w) }
    return w
  }
  #wake(w: FileWatch): void { for (const cb of [...w.waiters]) cb(); w.waiters.clear() }
  #wakeAll(): void {
    for (const w of this.#watch.values()) this.#wake(w)
    for (const cb of this.#manifestWaiters) cb()
    this.#manifestWaiters.clear()
  }

  /**
   * Yields file `index`'s bytes in order, each chunk only once it is verified (and written). Works during and
   * after the download; throws the download's error if it fails before the stream ends.
   */
  async *stream(index: number): AsyncGenerator<Uint8Array> {
    this.run().catch(() => { /* surfaced to the reader through #failed */ })
    while (!this.#manifest) {
      if (this.#failed) throw this.#failed
      await new Promise<void>((r) => this.#manifestWaiters.add(r))
    }
    const meta = this.#manifest.files[index]
    if (!meta) throw new DownloadError('no_such_file', `no file ${index} in this content`)
    const n = leafCountOf(meta)
    const w = this.#watchOf(index)
    const wait = async (ready: () => boolean): Promise<void> => {
      while (!ready()) {
        if (this.#failed) throw this.#failed
        await new Promise<void>((r) => w.waiters.add(r))
      }
    }
    await wait(() => w.partial !== undefined)
    let fh
    try { fh = await open(w.partial!, 'r') } catch (err) {
      // renamed to the target between our wait and open: the file is complete
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      await wait(() => w.done)
      fh = await open(w.partial!, 'r')
    }
    try {
      for (let i = 0; i < n; i++) {
        await wait(() => w.done || (w.verified?.(i) ?? false))
        const len = Math.min(meta.chunkSize, meta.size - i * meta.chunkSize)
        const buf = new Uint8Array(len)
        if (await readFully(fh, buf, i * meta.chunkSize) !== len) throw new DownloadError('stream_short', 'partial file shorter than expected')
        yield buf
      }
    } finally { await fh.close() }
  }
}
