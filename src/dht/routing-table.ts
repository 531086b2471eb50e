/**
 * Kademlia routing table (sans-I/O): 160 k-buckets indexed by the length of the prefix shared with our id, each in
 * LRU order (least recently seen first), with a replacement cache and subnet diversity limits (IPv4 /24, IPv6 /48,
 * names by their last two labels). A full bucket does not evict on its own: `update` returns the oldest entry so the
 * caller can ping it, then calls `touch` (it answered) or `evict` (it did not, the newest replacement takes its
 * place). Requests that fail are counted with `fail`: a failing entry is never handed to others, and after
 * `maxFailures` failures in a row it is removed whether or not its bucket is full. A known node proven at a new
 * address takes the new one. The diversity group of a host (`subnetOf`) is subnet.ts.
 */
import type { Clock } from '../interfaces/clock.js'
import { systemClock } from '../interfaces/clock.js'
import type { Contact } from './contact.js'
import { commonPrefixBits, compareDistance, ID_BITS } from './id.js'
import { subnetOf } from './subnet.js'

// the diversity groups moved to subnet.ts; importers of routing-table.js keep finding them here
export { subnetOf } from './subnet.js'

export interface RoutingTableInit {
  /** @default 20 */
  k?: number
  /** @default 10 */
  replacementCacheSize?: number
  /** @default 2 */
  maxPerSubnetBucket?: number
  /** @default 10 */
  maxPerSubnetTable?: number
  /** Consecutive failed requests after which an entry is removed. @default 3 */
  maxFailures?: number
  clock?: Clock
  /** Told of every entry that enters or leaves the table (persistence). Must not throw. */
  onChange?: (change: 'added' | 'removed', c: Contact) => void
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

export class RoutingTable {
  readonly selfId: Uint8Array
  readonly k: number
  readonly #buckets: Bucket[] = []
  readonly #index = new Map<string, number>()
  readonly #subnets = new Map<string, number>()
  readonly #replacementSize: number
  readonly #perBucket: number
  readonly #perTable: number
  readonly #maxFailures: number
  /** consecutive failed requests per entry (only entries in the table) */
  readonly #failures = new Map<string, number>()
  readonly #clock: Clock
  readonly #onChange: RoutingTableInit['onChange']

  constructor(selfId: Uint8Array, init: RoutingTableInit = {}) {
    this.selfId = selfId
    this.k = init.k ?? 20
    this.#replacementSize = init.replacementCacheSize ?? 10
    this.#perBucket = init.maxPerSubnetBucket ?? 2
    this.#perTable = init.maxPerSubnetTable ?? 10
    this.#maxFailures = init.maxFailures ?? 3
    this.#clock = init.clock ?? systemClock
    this.#onChange = init.onChange
    for (let i = 0; i < ID_BITS; i++) this.#buckets.push({ entries: [], nets: undefined, replacements: [], lastTouched: 0 })
  }

  get size(): number { return this.#index.size }

  bucketIndex(id: Uint8Array): number { return commonPrefixBits(this.selfId, id) }

  has(idHex: string): boolean { return this.#index.has(idHex) }

  get(idHex: string): Contact | undefined {
    const b = this.#index.get(idHex)
    return b === undefined ? undefined : this.#buckets[b]!.entries.find((c) => c.idHex === idHex)
  }

  /** Whether `c` would be added right away (not in the table, its bucket has room, its subnet is under the limits). */
  hasRoom(c: Contact): boolean {
    const i = this.bucketIndex(c.dhtId)
    if (i === ID_BITS || this.#index.has(c.idHex)) return false
    const bucket = this.#buckets[i]!
    if (bucket.entries.length >= this.k) return false
    const net = subnetOf(c.addr.host)
    return net === undefined || ((this.#subnets.get(net) ?? 0) < this.#perTable && (bucket.nets?.get(net) ?? 0) < this.#perBucket)
  }

  /** Records that `c` (a proven identity) was just seen. */
  update(c: Contact): UpdateResult {
    const i = this.bucketIndex(c.dhtId)
    if (i === ID_BITS) return { status: 'self' }
    const bucket = this.#buckets[i]!
    const pos = bucket.entries.findIndex((e) => e.idHex === c.idHex)
    if (pos >= 0) {
      let cur = bucket.entries[pos]!
      if (cur.addr.host !== c.addr.host || cur.addr.port !== c.addr.port) {
        // the node was proven at a new address (it restarted on another port, its IP changed): the old one is dead,
        // and keeping it would hand every FIND_NODE asker an address nobody answers at
        const moved = this.#readdress(bucket, cur, c)
        if (!moved) return { status: 'rejected', reason: 'subnet_table' }
        cur = moved
      }
      bucket.entries.splice(pos, 1)
      cur.lastSeen = Math.max(cur.lastSeen, c.lastSeen)
      bucket.entries.push(cur)
      this.#failures.delete(c.idHex)
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
    this.#failures.delete(idHex)
    this.#onChange?.('removed', gone!)
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

  /**
   * A request to entry `idHex` failed (timeout, refused, wrong identity, bad answer). Returns 'evicted' once it
   * failed `maxFailures` times in a row (the freshest replacement takes its place), 'failing' before, 'unknown' when
   * it is not in the table. Any later sign of life (`update`, `touch`) clears the count.
   */
  fail(idHex: string): 'failing' | 'evicted' | 'unknown' {
    if (!this.#index.has(idHex)) return 'unknown'
    const n = (this.#failures.get(idHex) ?? 0) + 1
    if (n >= this.#maxFailures) { this.evict(idHex); return 'evicted' }
    this.#failures.set(idHex, n)
    return 'failing'
  }

  /** Whether entry `idHex` failed its last request (it is then never handed to other nodes). */
  failing(idHex: string): boolean { return this.#failures.has(idHex) }

  /** Like `closest`, without failing entries: what we hand to other nodes in FIND_NODE answers. */
  closestLive(target: Uint8Array, n: number, exclude?: (c: Contact) => boolean): Contact[] {
    return this.closest(target, n, (c) => this.#failures.has(c.idHex) || (exclude?.(c) ?? false))
  }

  /**
   * The `n` entries closest to `target`, closest first. Buckets are visited in distance order instead of sorting the
   * whole table (every FIND_NODE answer and lookup start calls this): with j = the prefix `target` shares with us,
   * bucket j holds the closest entries, then buckets j+1.. (all at distance 2^(159-j)..), then j-1, j-2, ..., 0.
   */
  closest(target: Uint8Array, n: number, exclude?: (c: Contact) => boolean): Contact[] {
    const out: Contact[] = []
    if (n <= 0) return out
    const j = this.bucketIndex(target)
    const take = (group: Contact[]): boolean => {
      const g = exclude ? group.filter((c) => !exclude(c)) : group.slice()
      g.sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
      for (const c of g) { out.push(c); if (out.length >= n) return true }
      return false
    }
    if (j < ID_BITS && take(this.#buckets[j]!.entries)) return out
    const farther: Contact[] = []
    for (let i = j + 1; i < ID_BITS; i++) farther.push(...this.#buckets[i]!.entries)
    if (farther.length > 0 && take(farther)) return out
    for (let i = Math.min(j, ID_BITS) - 1; i >= 0; i--) {
      const b = this.#buckets[i]!.entries
      if (b.length > 0 && take(b)) return out
    }
    return out
  }

  all(): Contact[] {
    const out: Contact[] = []
    for (const b of this.#buckets) out.push(...b.entries)
    return out
  }

  /** Entries in bucket `i` (0 outside 0..159). */
  bucketSize(i: number): number { return this.#buckets[i]?.entries.length ?? 0 }

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
    this.#onChange?.('added', c)
  }

  /** `cur` with `c`'s address, subnet counts moved; undefined when the new subnet is over its limits. */
  #readdress(bucket: Bucket, cur: Contact, c: Contact): Contact | undefined {
    const was = subnetOf(cur.addr.host)
    const now = subnetOf(c.addr.host)
    if (now !== was) {
      if (now !== undefined && ((this.#subnets.get(now) ?? 0) >= this.#perTable || (bucket.nets?.get(now) ?? 0) >= this.#perBucket)) return undefined
      this.#countSubnet(was, -1)
      if (was !== undefined) {
        const n = (bucket.nets?.get(was) ?? 1) - 1
        if (n <= 0) bucket.nets?.delete(was)
        else bucket.nets?.set(was, n)
      }
      this.#countSubnet(now, 1)
      if (now !== undefined) (bucket.nets ??= new Map()).set(now, (bucket.nets.get(now) ?? 0) + 1)
    }
    const moved: Contact = { ...cur, addr: { host: c.addr.host, port: c.addr.port } }
    this.#onChange?.('added', moved)
    return moved
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
