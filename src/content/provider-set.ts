/**
 * The providers a download uses, with their failure counts. A provider that sends an unverifiable chunk, hash
 * layer or manifest is reported to trust and dropped for this content at once; one that times out or errors is
 * dropped after `maxFailures` strikes (or at once when its link is gone).
 */
import type { Link } from '../interfaces/link.js'
import type { TrustEvent, TrustSink } from '../interfaces/trust.js'
import type { Logger } from '../interfaces/logger.js'

/**
 * Where a provider's link comes from once its link closed: the node may route the same peer again (a NAT link
 * found dead and re-routed through another relay, TURN or a punched path). The download waits up to `waitMs` for
 * an open link to the same node id and carries on over it.
 */
export interface Relinker {
  get(nodeId: Uint8Array): Link | undefined
  waitMs: number
  sleep(ms: number): Promise<void>
}

export interface ProviderState {
  key: string
  link: Link
  failures: number
  dropped: boolean
  chunks: number
  bytes: number
  /** A CDN cache peer: asked by leaf hash (CACHE_REQUEST), never for manifests or hash layers. */
  cache: boolean
}

export class ProviderSet {
  readonly all: ProviderState[]
  /** Providers caught serving bad data (node id base64 → reason). */
  readonly bad = new Map<string, string>()
  /** Last transport failure per provider (for error messages). */
  readonly lastError = new Map<string, string>()

  readonly #relink: Relinker | undefined
  readonly #relinking = new Map<ProviderState, Promise<boolean>>()

  constructor(links: readonly Link[], readonly trust: TrustSink | undefined, readonly logger: Logger, readonly maxFailures: number, cacheLinks: readonly Link[] = [], relink?: Relinker) {
    this.#relink = relink
    const seen = new Set<string>()
    this.all = []
    const add = (link: Link, cache: boolean): void => {
      if (seen.has(link.peer.nodeIdB64)) return
      seen.add(link.peer.nodeIdB64)
      this.all.push({ key: link.peer.nodeIdB64, link, failures: 0, dropped: false, chunks: 0, bytes: 0, cache })
    }
    for (const link of links) add(link, false)
    for (const link of cacheLinks) add(link, true)
    this.#add = add
  }

  readonly #add: (link: Link, cache: boolean) => void

  /** Adds CDN cache peers found after the download started (ignored if already known). */
  addCaches(links: readonly Link[]): void { for (const l of links) this.#add(l, true) }

  /** Usable providers; `full` restricts to those that serve manifests and hash layers (not caches). */
  active(full = false): ProviderState[] { return this.all.filter((p) => !p.dropped && !p.link.closed && (!full || !p.cache)) }

  /** A cache peer without the chunk: strike without a trust penalty. */
  missed(p: ProviderState): void {
    if (++p.failures >= this.maxFailures) p.dropped = true
  }

  /** Bad data: penalise and drop for this content. */
  misbehaved(p: ProviderState, event: TrustEvent, detail: string): void {
    // pipelined replies already in flight may fail too: one offence is reported once
    if (this.bad.has(p.key)) return
    this.trust?.report(p.link.peer.nodeId, event, detail)
    this.bad.set(p.key, detail)
    this.logger.warn({ provider: p.key, detail }, 'provider sent unverifiable data; dropped for this content')
    p.dropped = true
  }

  /** Transport trouble: strike, and drop when out of strikes or the link is gone (unless a new link may come). */
  failed(p: ProviderState, detail: string): void {
    // the link died under the requests (every one in flight fails with it): the path's fault, not the provider's;
    // relinked() decides whether the provider comes back
    if (p.link.closed && this.#relink) { this.lastError.set(p.key, detail); return }
    p.failures++
    this.lastError.set(p.key, detail)
    this.trust?.report(p.link.peer.nodeId, 'failed_transfer', detail)
    if (p.failures >= this.maxFailures || p.link.closed) {
      if (!p.dropped) this.logger.info({ provider: p.key, detail }, 'provider dropped after failures')
      p.dropped = true
    }
  }

  /**
   * The provider's link closed: waits (once for all its lanes) for a new open link to the same node; true when the
   * provider carries on over it, false (and dropped) when none came within the relinker's wait.
   */
  relinked(p: ProviderState): Promise<boolean> {
    if (!p.link.closed) return Promise.resolve(!p.dropped)
    const r = this.#relink
    if (!r || p.dropped) { p.dropped = true; return Promise.resolve(false) }
    let w = this.#relinking.get(p)
    if (!w) {
      const dead = p.link
      w = (async () => {
        for (let waited = 0; ; waited += 100) {
          const l = r.get(dead.peer.nodeId)
          if (l && l !== dead && !l.closed) {
            this.logger.info({ provider: p.key, waitedMs: waited }, 'provider link replaced; download carries on over the new link')
            p.link = l
            p.failures = 0
            return true
          }
          if (waited >= r.waitMs || p.dropped) break
          await r.sleep(100)
        }
        this.logger.info({ provider: p.key }, 'provider link closed and no new link came; dropped')
        p.dropped = true
        return false
      })().finally(() => this.#relinking.delete(p))
      this.#relinking.set(p, w)
    }
    return w
  }
}
