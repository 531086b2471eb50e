/** Known peers (dialable listen addresses), capped; feeds PEER_LIST answers and `knownPeers()`. */
import { toB64 } from '../util/bytes.js'

export interface KnownPeer {
  nodeId: Uint8Array
  host: string
  port: number
  /** Last time we had an authenticated link to it (ms since epoch); 0 if only heard of through PEER_LIST. */
  lastSeen: number
}

export class PeerBook {
  readonly #peers = new Map<string, KnownPeer>()
  constructor(readonly maxPeers = 1024) {}

  /** Records a peer we were connected to (verified address). */
  seen(nodeId: Uint8Array, host: string, port: number, now: number): void {
    this.#put({ nodeId, host, port, lastSeen: now })
  }

  /** Records a peer someone told us about; never overwrites a verified entry. */
  heard(nodeId: Uint8Array, host: string, port: number): void {
    const id = toB64(nodeId)
    if (this.#peers.has(id)) return
    this.#put({ nodeId, host, port, lastSeen: 0 })
  }

  list(): KnownPeer[] { return [...this.#peers.values()] }
  get size(): number { return this.#peers.size }

  /** Up to `max` peers, most recently seen first, leaving out `exclude` (base64 ids). */
  pick(max: number, exclude: ReadonlySet<string>): KnownPeer[] {
    return this.list()
      .filter((p) => !exclude.has(toB64(p.nodeId)))
      .sort((a, b) => b.lastSeen - a.lastSeen)
      .slice(0, max)
  }

  #put(p: KnownPeer): void {
    const id = toB64(p.nodeId)
    this.#peers.delete(id)
    if (this.#peers.size >= this.maxPeers) {
      // evict the oldest unverified entry first, else the least recently inserted
      let victim: string | undefined
      for (const [k, v] of this.#peers) { if (v.lastSeen === 0) { victim = k; break } }
      this.#peers.delete(victim ?? this.#peers.keys().next().value!)
    }
    this.#peers.set(id, p)
  }
}

/** Strips the IPv4-mapped IPv6 prefix so one peer has one address string. */
export function normalizeHost(host: string | undefined): string {
  if (!host) return ''
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host
}
