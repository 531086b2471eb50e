/**
 * The CDN cache ("Amplifier"): a content-addressed, size-bounded LRU of verified chunks, keyed by leaf hash
 * (SHA-256(0x00||chunk)), never by path. A chunk enters only if it hashes to its key, so the cache can serve
 * CACHE_RESPONSE without trusting whoever supplied it; requesters verify again on receipt.
 */
import { toHex } from '../util/bytes.js'
import { equalBytes } from '../util/bytes.js'
import { ContentProtocolError } from './errors.js'
import { HASH_BYTES, leafHash } from './merkle.js'

export interface ChunkCacheInit {
  /** Total bytes of chunk data held. @default 256 MiB */
  maxBytes?: number
  /** Most chunks held. @default 65536 */
  maxEntries?: number
  /** Called when the first chunk of a group (e.g. a Merkle root) enters, and when its last chunk leaves. */
  onGroup?: (group: string, present: boolean) => void
}

interface Entry { data: Uint8Array; group: string | undefined }

export class ChunkCache {
  #maxBytes: number
  #maxEntries: number
  #map = new Map<string, Entry>()
  #groups = new Map<string, number>()
  #bytes = 0
  hits = 0
  misses = 0
  readonly #onGroup: ((group: string, present: boolean) => void) | undefined

  constructor(init: ChunkCacheInit = {}) {
    this.#maxBytes = init.maxBytes ?? 256 * 1024 * 1024
    this.#maxEntries = init.maxEntries ?? 65536
    this.#onGroup = init.onGroup
  }

  get maxBytes(): number { return this.#maxBytes }
  get maxEntries(): number { return this.#maxEntries }

  /** Changes the limits (live config); shrinking evicts the oldest chunks until the cache fits. */
  resize(limits: { maxBytes: number; maxEntries: number }): void {
    this.#maxBytes = limits.maxBytes
    this.#maxEntries = limits.maxEntries
    while (this.#map.size > 0 && (this.#bytes > this.#maxBytes || this.#map.size > this.#maxEntries)) this.#evictOldest()
  }

  get bytes(): number { return this.#bytes }
  get size(): number { return this.#map.size }
  get groups(): number { return this.#groups.size }

  /**
   * Stores a chunk under its leaf hash after checking it. `group` (e.g. the file's Merkle root hex) drives
   * announcements. Returns false if the chunk does not match or is larger than the whole cache.
   */
  put(hash: Uint8Array, data: Uint8Array, group?: string): boolean {
    if (hash.byteLength !== HASH_BYTES || data.byteLength > this.#maxBytes) return false
    if (!equalBytes(leafHash(data), hash)) return false
    const key = toHex(hash)
    const old = this.#map.get(key)
    if (old) { this.#map.delete(key); this.#map.set(key, old); return true }
    while (this.#map.size > 0 && (this.#bytes + data.byteLength > this.#maxBytes || this.#map.size >= this.#maxEntries)) this.#evictOldest()
    this.#map.set(key, { data: data.slice(), group })
    this.#bytes += data.byteLength
    if (group !== undefined) {
      const c = this.#groups.get(group) ?? 0
      this.#groups.set(group, c + 1)
      if (c === 0) this.#onGroup?.(group, true)
    }
    return true
  }

  /** Returns the chunk (and marks it recently used), or undefined. */
  get(hash: Uint8Array): Uint8Array | undefined {
    const key = toHex(hash)
    const e = this.#map.get(key)
    if (!e) { this.misses++; return undefined }
    this.#map.delete(key)
    this.#map.set(key, e)
    this.hits++
    return e.data
  }

  has(hash: Uint8Array): boolean { return this.#map.has(toHex(hash)) }

  clear(): void { while (this.#map.size > 0) this.#evictOldest() }

  #evictOldest(): void {
    const first = this.#map.entries().next()
    if (first.done) return
    const [key, e] = first.value
    this.#map.delete(key)
    this.#bytes -= e.data.byteLength
    if (e.group !== undefined) {
      const c = (this.#groups.get(e.group) ?? 1) - 1
      if (c <= 0) { this.#groups.delete(e.group); this.#onGroup?.(e.group, false) } else this.#groups.set(e.group, c)
    }
  }
}

/** Checks a CACHE_RESPONSE's data against the hash that was asked for. */
export function verifyCached(hash: Uint8Array, data: Uint8Array | undefined): Uint8Array {
  if (!data) throw new ContentProtocolError('cache_miss', 'peer does not hold this chunk')
  if (!equalBytes(leafHash(data), hash)) throw new ContentProtocolError('invalid_merkle_proof', 'cached chunk does not match its hash')
  return data
}
