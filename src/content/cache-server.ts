/**
 * Serves CACHE_REQUEST (0x40) from a ChunkCache with CACHE_RESPONSE (0x41), and keeps provider records for the
 * Merkle roots it holds chunks of (key: SHA-1 of `cdn:<root hex>`), so downloaders can find amplifiers.
 */
import { sha1 } from '../crypto/hash.js'
import type { Inbound, MessageRouter } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import type { ProviderDirectory } from '../interfaces/providers.js'
import type { UsageMeter } from '../interfaces/services.js'
import { ChunkCache, type ChunkCacheInit } from './cache.js'
import { ContentMessageType as T, decodeCacheRequest, encodeCacheResponse } from './messages.js'

/** DHT key under which holders of chunks of a file with Merkle root `rootHex` are announced. */
export function cdnKey(rootHex: string): Uint8Array { return sha1(new TextEncoder().encode(`cdn:${rootHex}`)) }
/** DHT key under which full providers of a manifest are announced. */
export function providerKey(manifestIdHex: string): Uint8Array { return sha1(new TextEncoder().encode(`provider:${manifestIdHex}`)) }

export interface CacheServerInit extends ChunkCacheInit {
  router: MessageRouter
  providers?: () => ProviderDirectory | undefined
  usage?: () => UsageMeter | undefined
  logger?: Logger
  onServed?: (bytes: number, hit: boolean) => void
}

export class CacheServer {
  readonly cache: ChunkCache
  readonly #init: CacheServerInit
  readonly #logger: Logger
  #unsub: (() => void) | undefined
  #stopped = false
  #announced = new Set<string>()

  constructor(init: CacheServerInit) {
    this.#init = init
    this.#logger = init.logger ?? silentLogger
    this.cache = new ChunkCache({ ...init, onGroup: (g, present) => this.#announce(g, present) })
  }

  start(): void {
    if (this.#unsub || this.#stopped) return
    this.#unsub = this.#init.router.handle(T.CACHE_REQUEST, (m) => this.#onRequest(m))
  }

  stop(): void {
    if (this.#stopped) return
    this.#stopped = true
    this.#unsub?.()
    const dir = this.#init.providers?.()
    for (const g of this.#announced) dir?.unprovide(cdnKey(g))
    this.#announced.clear()
    this.cache.clear()
  }

  #onRequest(msg: Inbound): void {
    const { hash } = decodeCacheRequest(msg.body)
    const usage = this.#init.usage?.()
    usage?.authorize(msg.link.peer.nodeId, 'cdn')
    const data = this.cache.get(hash)
    msg.reply?.(T.CACHE_RESPONSE, encodeCacheResponse(data ? { hash, data } : { hash }))
    if (data) usage?.record(msg.link.peer.nodeId, 'cdn', BigInt(data.byteLength), 'served')
    this.#init.onServed?.(data?.byteLength ?? 0, data !== undefined)
  }

  #announce(group: string, present: boolean): void {
    if (this.#stopped) return
    const dir = this.#init.providers?.()
    if (!dir) return
    if (present) {
      this.#announced.add(group)
      dir.provide(cdnKey(group)).catch((err: unknown) => this.#logger.debug({ err: (err as Error).message }, 'cdn announce failed'))
    } else {
      this.#announced.delete(group)
      dir.unprovide(cdnKey(group))
    }
  }
}
