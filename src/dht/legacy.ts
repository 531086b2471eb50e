/**
 * v0 (legacy, Python network) DHT-in-DATA: answers FIND_NODE / FIND_VALUE / STORE from v0 peers and queries them.
 * v0 records are unsigned: they live in the store's separate legacy slot, are never returned as signed records and
 * never override one. The v0 sender fields (sender_id/host/port) are unauthenticated: here they are ignored (the
 * bridge verifies the address by dialling it; the connection adds ours to every request we send). v0 peers are
 * the bridge's links plus a small bounded set of links that asked us, never in the routing table.
 */
import type { LegacyLink } from '../interfaces/link.js'
import type { Clock } from '../interfaces/clock.js'
import { fromHex, toHex } from '../util/bytes.js'
import type { Dht } from './dht.js'
import { DhtInvalidError } from './errors.js'
import { newestRecord } from './record.js'

/** v0 links remembered for our own lookups. */
const MAX_LEGACY_PEERS = 64
/** v0 peers asked in parallel by a lookup. */
const LEGACY_FANOUT = 8

const HEX40 = /^[0-9a-fA-F]{40}$/

function hex40(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string' || !HEX40.test(v)) throw new DhtInvalidError('bad_legacy', `${what} must be 40 hex digits`)
  return fromHex(v)
}

export class LegacyDht {
  readonly #peers = new Map<string, LegacyLink>()

  /** `links`: the bridge's v0 links (one per peer), asked by our lookups and stores. */
  constructor(private readonly dht: Dht, private readonly clock: Clock, private readonly links: () => LegacyLink[] = () => []) {}

  get peerCount(): number { return this.#targets().length }

  /** Open v0 links to ask, one per peer, the bridge's first. */
  #targets(): LegacyLink[] {
    const byId = new Map<string, LegacyLink>()
    for (const l of [...this.links(), ...this.#peers.values()]) if (!l.closed && !byId.has(l.peer.nodeIdB64)) byId.set(l.peer.nodeIdB64, l)
    return [...byId.values()]
  }

  #remember(link: LegacyLink): void {
    const id = link.peer.nodeIdB64
    if (this.#peers.has(id)) { this.#peers.delete(id); this.#peers.set(id, link); return }
    this.#peers.set(id, link)
    link.onClose(() => { if (this.#peers.get(id) === link) this.#peers.delete(id) })
    if (this.#peers.size > MAX_LEGACY_PEERS) this.#peers.delete(this.#peers.keys().next().value!)
  }

  /** The handler given to `router.handleLegacyDht`. */
  handle = async (req: Record<string, unknown>, link: LegacyLink): Promise<Record<string, unknown>> => {
    this.#remember(link)
    const cfg = this.dht.config
    const now = this.clock.now()
    const nodes = (target: Uint8Array): Record<string, unknown>[] => this.dht.table.closestLive(target, cfg.k).map((c) => ({
      node_id: c.idHex, host: c.addr.host, port: c.addr.port, last_seen: c.lastSeen / 1000,
    }))
    switch (req.type) {
      case 'FIND_NODE':
        return { type: 'FIND_NODE_RESPONSE', nodes: nodes(hex40(req.target_id, 'target_id')) }
      case 'FIND_VALUE': {
        const key = hex40(req.key, 'key')
        const value = this.dht.store.getLegacy(key, now) ?? newestRecord(this.dht.store.getRecords(key, now))?.value
        return value ? { type: 'FIND_VALUE_RESPONSE', value: toHex(value) } : { type: 'FIND_VALUE_RESPONSE', nodes: nodes(key) }
      }
      case 'STORE': {
        const key = hex40(req.key, 'key')
        const v = req.value
        if (typeof v !== 'string' || v.length % 2 !== 0 || v.length > cfg.maxValueBytes * 2 || !/^[0-9a-fA-F]*$/.test(v)) {
          return { type: 'STORE_RESPONSE', success: false, error: 'value must be hex of at most maxValueBytes' }
        }
        const ttl = typeof req.ttl === 'number' && Number.isFinite(req.ttl) && req.ttl > 0 ? req.ttl * 1000 : cfg.recordTtlMs
        const res = this.dht.store.putLegacy(key, fromHex(v), now + Math.min(ttl, cfg.recordTtlMs), now)
        return res === 'stored' ? { type: 'STORE_RESPONSE', success: true } : { type: 'STORE_RESPONSE', success: false, error: res }
      }
      default:
        return { type: 'ERROR', error: `unknown DHT request type ${String(req.type).slice(0, 32)}` }
    }
  }

  /** The v0 peers closest to `key` by XOR of their DHT ids, at most LEGACY_FANOUT. */
  #closest(key: Uint8Array): LegacyLink[] {
    const dist = (l: LegacyLink): bigint => BigInt(`0x${toHex(l.peer.dhtId)}`) ^ BigInt(`0x${toHex(key)}`)
    return this.#targets().sort((a, b) => (dist(a) < dist(b) ? -1 : dist(a) > dist(b) ? 1 : 0)).slice(0, LEGACY_FANOUT)
  }

  /** An unsigned value: our own legacy slot first, then the v0 peers closest to the key. */
  async get(key: Uint8Array, timeoutMs = this.dht.config.rpcTimeoutMs): Promise<Uint8Array | undefined> {
    const local = this.dht.store.getLegacy(key, this.clock.now())
    if (local) return local
    const answers = await Promise.allSettled(this.#closest(key).map((l) => l.dhtRequest({ type: 'FIND_VALUE', key: toHex(key) }, { timeoutMs })))
    for (const a of answers) {
      if (a.status !== 'fulfilled') continue
      const v = a.value.value
      if (typeof v === 'string' && v.length % 2 === 0 && v.length <= this.dht.config.maxValueBytes * 2 && /^[0-9a-fA-F]*$/.test(v)) return fromHex(v)
    }
    return undefined
  }

  /**
   * Stores `value` (unsigned, v0 style) on the v0 peers closest to the key; returns how many acknowledged. The
   * signed copy that `dht.put` keeps is what our own FIND_VALUE handler serves to v0 peers.
   */
  async put(key: Uint8Array, value: Uint8Array, timeoutMs = this.dht.config.rpcTimeoutMs): Promise<number> {
    if (value.byteLength > this.dht.config.maxValueBytes) throw new DhtInvalidError('too_large', `value exceeds ${this.dht.config.maxValueBytes} bytes`)
    const ttlS = Math.floor(this.dht.config.recordTtlMs / 1000)
    const req = { type: 'STORE', key: toHex(key), value: toHex(value), ttl: ttlS }
    const answers = await Promise.allSettled(this.#closest(key).map((l) => l.dhtRequest(req, { timeoutMs })))
    return answers.filter((a) => a.status === 'fulfilled' && a.value.success === true).length
  }
}
