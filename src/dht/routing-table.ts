/**
 * Kademlia routing table (sans-I/O): 160 k-buckets indexed by the length of the prefix shared with our id, each in
 * LRU order (least recently seen first), with a replacement cache and IPv4 /24 diversity limits. A full bucket does
 * not evict on its own: `update` returns the oldest entry so the caller can ping it, then calls `touch` (it answered)
 * or `evict` (it did not, the newest replacement takes its place).
 */
import type { Clock } from '../interfaces/clock.js'
import { systemClock } from '../interfaces/clock.js'
import type { Contact } from './contact.js'
import { commonPrefixBits, compareDistance, ID_BITS } from './id.js'

export interface RoutingTableInit {
  /** @default 20 */
  k?: number
  /** @default 10 */
  replacementCacheSize?: number
  /** @default 2 */
  maxPerSubnetBucket?: number
  /** @default 10 */
  maxPerSubnetTable?: number
  clock?: Clock
}

export type UpdateResult =
  | { status: 'added' | 'updated' | 'self' }
  | { status: 'full'; oldest: Contact }
  | { status: 'rejected'; reason: 'subnet_bucket' | 'subnet_table' }

interface Bucket {
  entries: Contact[]
  /** entries per /24 in this bucket */
  nets: Map<string, number> | undefined
  replacements: Contact[]
  lastTouched: number
}

/** The /24 of an IPv4 address, or undefined for loopback, IPv6 and names (not limited). */
export function subnetOf(host: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}$/.exec(host)
  if (!m || m[1] === '127') return undefined
  return `${m[1]}.${m[2]}.${m[3]}`
}

export class RoutingTable {
  readonly selfId: Uint8Array
  readonly k: number
  readonly #buckets: Bucket[] = []
  readonly #index = new Map<string, number>()
  readonly #subnets = new Map<string, number>()
  readonly #replacementSize: number
  readonly #perBucket: number
  readonly #perTable: number
  readonly #clock: Clock

  constructor(selfId: Uint8Array, init: RoutingTableInit = {}) {
    this.selfId = selfId
    this.k = init.k ?? 20
    this.#replacementSize = init.replacementCacheSize ?? 10
    this.#perBucket = init.maxPerSubnetBucket ?? 2
    this.#perTable = init.maxPerSubnetTable ?? 10
    this.#clock = init.clock ?? systemClock
    for (let i = 0; i < ID_BITS; i++) this.#buckets.push({ entries: [], nets: undefined, replacements: [], lastTouched: 0 })
  }

  get size(): number { return this.#index.size }

  bucketIndex(id: Uint8Array): number { return commonPrefixBits(this.selfId, id) }

  has(idHex: string): boolean { return this.#index.has(idHex) }

  get(idHex: string): Contact | undefined {
    const b = this.#index.get(idHex)
    return b === undefined ? undefined : this.#buckets[b]!.entries.find((c) => c.idHex === idHex)
  }

  /** Records that `c` (a proven identity) was just seen. */
  update(c: Contact): UpdateResult {
    const i = this.bucketIndex(c.dhtId)
    if (i === ID_BITS) return { status: 'self' }
    const bucket = this.#buckets[i]!
    const pos = bucket.entries.findIndex((e) => e.idHex === c.idHex)
    if (pos >= 0) {
      const cur = bucket.entries[pos]!
      bucket.entries.splice(pos, 1)
      cur.lastSeen = Math.max(cur.lastSeen, c.lastSeen)
      bucket.entries.push(cur)
      return { status: 'updated' }
    }
    const net = subnetOf(c.addr.host)
    if (net !== undefined) {
      if ((this.#subnets.get(net) ?? 0) >= this.#perTable) return { status: 'rejected', reason: 'subnet_table' }
      if ((bucket.nets?.get(net) ?? 0) >= this.#perBucket) return { status: 'rejected', reason: 'subnet_bucket' }
    }
    if (bucket.entries.length < this.k) {
      this.#insert(i, c, net)
      return { status: 'added' }
    }
    this.#addReplacement(bucket, c)
    return { status: 'full', oldest: bucket.entries[0]! }
  }

  /** The oldest entry answered a ping: move it to the tail. */
  touch(idHex: string, now = this.#clock.now()): void {
    const c = this.get(idHex)
    if (c) this.update({ ...c, lastSeen: now })
  }

  /** Removes an entry (it failed to answer) and promotes the freshest replacement of its bucket. */
  evict(idHex: string): Contact | undefined {
    const i = this.#index.get(idHex)
    if (i === undefined) return undefined
    const bucket = this.#buckets[i]!
    const pos = bucket.entries.findIndex((e) => e.idHex === idHex)
    const [gone] = bucket.entries.splice(pos, 1)
    this.#index.delete(idHex)
    const goneNet = subnetOf(gone!.addr.host)
    this.#countSubnet(goneNet, -1)
    if (goneNet !== undefined) {
      const n = (bucket.nets?.get(goneNet) ?? 1) - 1
      if (n <= 0) bucket.nets?.delete(goneNet)
      else bucket.nets?.set(goneNet, n)
    }
    while (bucket.replacements.length > 0) {
      const r = bucket.replacements.pop()!
      const net = subnetOf(r.addr.host)
      if (this.#index.has(r.idHex)) continue
      if (net !== undefined && ((this.#subnets.get(net) ?? 0) >= this.#perTable || (bucket.nets?.get(net) ?? 0) >= this.#perBucket)) continue
      this.#insert(i, r, net)
      break
    }
    return gone
  }

  /** The `n` entries closest to `target`, closest first. */
  closest(target: Uint8Array, n: number, exclude?: (c: Contact) => boolean): Contact[] {
    const all: Contact[] = []
    for (const b of this.#buckets) for (const c of b.entries) if (!exclude?.(c)) all.push(c)
    all.sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
    return all.length > n ? all.slice(0, n) : all
  }

  all(): Contact[] {
    const out: Contact[] = []
    for (const b of this.#buckets) out.push(...b.entries)
    return out
  }

  /** Marks bucket `i` as used by a lookup (refresh bookkeeping). */
  markUsed(target: Uint8Array, now = this.#clock.now()): void {
    const i = this.bucketIndex(target)
    if (i < ID_BITS) this.#buckets[i]!.lastTouched = now
  }

  /** Indexes of non-empty-range buckets not used for `maxAgeMs`, up to the deepest non-empty bucket. */
  staleBuckets(maxAgeMs: number, now = this.#clock.now()): number[] {
    let deepest = -1
    for (let i = 0; i < ID_BITS; i++) if (this.#buckets[i]!.entries.length > 0) deepest = i
    const out: number[] = []
    for (let i = 0; i <= deepest; i++) if (now - this.#buckets[i]!.lastTouched >= maxAgeMs) out.push(i)
    return out
  }

  /** Bucket fill summary for `zeone dht table`: only non-empty buckets. */
  summary(): { bucket: number; size: number; replacements: number }[] {
    const out: { bucket: number; size: number; replacements: number }[] = []
    this.#buckets.forEach((b, i) => {
      if (b.entries.length > 0 || b.replacements.length > 0) out.push({ bucket: i, size: b.entries.length, replacements: b.replacements.length })
    })
    return out
  }

  #insert(i: number, c: Contact, net: string | undefined): void {
    const bucket = this.#buckets[i]!
    bucket.entries.push(c)
    bucket.replacements = bucket.replacements.filter((r) => r.idHex !== c.idHex)
    this.#index.set(c.idHex, i)
    this.#countSubnet(net, 1)
    if (net !== undefined) (bucket.nets ??= new Map()).set(net, (bucket.nets.get(net) ?? 0) + 1)
  }

  #addReplacement(bucket: Bucket, c: Contact): void {
    if (this.#replacementSize === 0) return
    bucket.replacements = bucket.replacements.filter((r) => r.idHex !== c.idHex)
    bucket.replacements.push(c)
    if (bucket.replacements.length > this.#replacementSize) bucket.replacements.shift()
  }

  #countSubnet(net: string | undefined, delta: number): void {
    if (net === undefined) return
    const n = (this.#subnets.get(net) ?? 0) + delta
    if (n <= 0) this.#subnets.delete(net)
    else this.#subnets.set(net, n)
  }
}
