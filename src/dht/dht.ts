/**
 * The DHT node: routing table admission (proven identities + S/Kademlia puzzles), the RPC handlers, disjoint-path
 * lookups, signed values and provider records, replication to new closer nodes, and periodic maintenance. It sees the
 * network only through `DhtNet` and time only through the injected clock, so the simulator drives this exact code.
 */
import { setMaxListeners } from 'node:events'
import { staticPuzzleBits } from '../crypto/identity.js'
import { sha1 } from '../crypto/hash.js'
import { randomBytes } from '../crypto/sign.js'
import type { Clock } from '../interfaces/clock.js'
import type { Endpoint } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import type { TrustSink } from '../interfaces/trust.js'
import { equalBytes, toHex } from '../util/bytes.js'
import type { DhtConfig } from './config.js'
import { makeContact, type Contact } from './contact.js'
import { DhtInvalidError } from './errors.js'
import { randomIdInBucket } from './id.js'
import { lookup, type LookupResult, type QueryAnswer } from './lookup.js'
import { ackTypeFor, decodeMessage, DhtMessageType, encodeMessage, type DhtMessage, type WireContact } from './messages.js'
import type { DhtNet } from './net.js'
import { checkDynamicPuzzle, solveDynamicPuzzle } from './puzzle.js'
import { signProvider, signRecord, verifyProvider, verifyRecord, type Signer, type SignedProvider, type SignedRecord } from './record.js'
import { PeerRateLimiter } from './rate-limit.js'
import { RoutingTable } from './routing-table.js'
import type { MemoryRecordStore } from './store.js'

/** Clock skew tolerated on a record's expiry beyond the maximum TTL. */
const EXPIRY_SKEW_MS = 60_000
/** Full-bucket pings in flight at once. */
const MAX_PENDING_PINGS = 16
/** Keys handed to one newly joined node at most. */
const MAX_HANDOFF_KEYS = 1000

export interface DhtInit {
  config: DhtConfig
  identity: Signer & { readonly dhtId: Uint8Array }
  net: DhtNet
  store: MemoryRecordStore
  clock: Clock
  logger?: Logger
  trust?: TrustSink
  random?: (n: number) => Uint8Array
  /** Addresses we can be dialed at (for provider records). */
  advertise?: () => Endpoint[]
  /** Hand stored records to newly joined closer nodes. @default true */
  replicateOnJoin?: boolean
  /** Ping the oldest entry of a full bucket when a new contact shows up. @default true */
  pingOnFull?: boolean
  /** Precomputed dynamic puzzle solution (the simulator passes one to skip solving). */
  puzzle?: Uint8Array
  /**
   * May a contact address a peer named (in a lookup answer, or an inbound link's advertised listen address) be
   * dialled? The node passes its AddressPolicy plus "never our own ports" (attach.ts). @default every address
   */
  dialable?: (addr: Endpoint) => boolean
}

export interface LookupStats { hops: number; messages: number; latencyMs: number }

export class Dht {
  readonly table: RoutingTable
  readonly config: DhtConfig
  readonly store: MemoryRecordStore
  readonly selfIdHex: string
  readonly #id: DhtInit['identity']
  readonly #net: DhtNet
  readonly #clock: Clock
  readonly #log: Logger
  readonly #trust: TrustSink | undefined
  readonly #random: (n: number) => Uint8Array
  readonly #advertise: () => Endpoint[]
  readonly #replicate: boolean
  readonly #pingOnFull: boolean
  readonly #dialable: (addr: Endpoint) => boolean
  readonly #x: Uint8Array
  readonly #pinging = new Set<string>()
  readonly #published = new Map<string, { key: Uint8Array; value: Uint8Array; seq: number }>()
  readonly #provided = new Map<string, { key: Uint8Array; data: Uint8Array | undefined }>()
  readonly #timers = new Set<{ cancel(): void }>()
  readonly #ac = new AbortController()
  readonly #writes: PeerRateLimiter
  #stopped = false

  constructor(init: DhtInit) {
    this.config = init.config
    this.#id = init.identity
    this.#net = init.net
    this.store = init.store
    // our own values and provider records are never evicted by what others store (store.ts)
    init.store.setSelf(init.identity.publicKey)
    this.#clock = init.clock
    this.#log = init.logger ?? silentLogger
    this.#trust = init.trust
    this.#random = init.random ?? randomBytes
    this.#advertise = init.advertise ?? (() => [])
    this.#replicate = init.replicateOnJoin ?? true
    this.#pingOnFull = init.pingOnFull ?? true
    this.#dialable = init.dialable ?? (() => true)
    this.selfIdHex = toHex(init.identity.dhtId)
    // requests in flight hold one abort listener each; they are bounded by the RPC layer's pending limit
    setMaxListeners(0, this.#ac.signal)
    this.#writes = new PeerRateLimiter(init.config.maxWritesPerPeerPerMinute)
    this.#x = init.puzzle ?? solveDynamicPuzzle(init.identity.dhtId, init.config.dynamicPuzzleBits)
    this.table = new RoutingTable(init.identity.dhtId, {
      k: init.config.k, clock: init.clock, replacementCacheSize: init.config.replacementCacheSize,
      maxPerSubnetBucket: init.config.maxPerSubnetBucket, maxPerSubnetTable: init.config.maxPerSubnetTable,
    })
  }

  get puzzle(): Uint8Array { return this.#x }
  get signal(): AbortSignal { return this.#ac.signal }

  // ------------------------------------------------------------------ admission

  /** Whether a node id may enter the table at all (static puzzle). */
  admissible(nodeId: Uint8Array): boolean {
    return this.config.staticPuzzleBits === 0 || staticPuzzleBits(nodeId) >= this.config.staticPuzzleBits
  }

  /**
   * Offers a proven contact to the routing table. `bulk` skips replication hand-off and pings (simulator setup,
   * restored peers). Returns what the table did.
   */
  observe(c: Contact, bulk = false): string {
    if (this.#stopped || c.idHex === this.selfIdHex || !this.admissible(c.nodeId)) return 'refused'
    // a contact we could not dial must not sit in the table either: it would be dialled later and handed to others
    if (!this.#dialable(c.addr)) return 'refused'
    const r = this.table.update(c)
    if (r.status === 'added' && !bulk && this.#replicate) this.#handoff(c)
    if (r.status === 'full' && !bulk && this.#pingOnFull) this.#pingOldest(r.oldest)
    return r.status
  }

  #pingOldest(oldest: Contact): void {
    if (this.#pinging.has(oldest.idHex) || this.#pinging.size >= MAX_PENDING_PINGS) return
    this.#pinging.add(oldest.idHex)
    const { type, body } = encodeMessage({ t: 'ping', x: this.#x })
    this.#net.request(oldest, type, body, { timeoutMs: this.config.rpcTimeoutMs, signal: this.#ac.signal })
      .then(() => {
        this.table.touch(oldest.idHex, this.#clock.now())
        this.#trust?.report(oldest.nodeId, 'ping_responded', 'dht bucket ping')
      }, () => {
        if (this.#stopped) return
        this.table.evict(oldest.idHex)
        this.#trust?.report(oldest.nodeId, 'ping_timeout', 'dht bucket ping')
      })
      .finally(() => this.#pinging.delete(oldest.idHex))
  }

  // ------------------------------------------------------------------ serving

  /**
   * Answers one inbound DHT request from a proven peer. `contact` is its dialable contact (undefined when it does
   * not listen: it is served but never admitted). Throws DhtInvalidError for anything malformed or forged.
   */
  handleRequest(peer: { nodeId: Uint8Array; dhtId: Uint8Array }, contact: Contact | undefined, type: number, body: Uint8Array): { type: number; body: Uint8Array } {
    let m: DhtMessage
    try {
      m = decodeMessage(type, body, this.config.maxValueBytes)
    } catch (err) {
      this.#trust?.report(peer.nodeId, 'invalid_message', 'dht decode')
      throw err
    }
    if (!checkDynamicPuzzle(peer.dhtId, m.x, this.config.dynamicPuzzleBits)) {
      throw new DhtInvalidError('puzzle', 'dynamic puzzle solution missing or wrong')
    }
    if (contact) this.observe(contact)
    const now = this.#clock.now()
    const nodesFor = (target: Uint8Array): WireContact[] =>
      this.table.closest(target, this.config.k, (c) => equalBytes(c.nodeId, peer.nodeId)).map((c) => ({ nodeId: c.nodeId, addr: c.addr }))
    switch (m.t) {
      case 'ping': return this.#ack(type, true)
      case 'find_node': return encodeMessage({ t: 'nodes', x: this.#x, nodes: nodesFor(m.target) })
      case 'find_value': return encodeMessage({ t: 'nodes', x: this.#x, nodes: nodesFor(m.key), records: this.store.getRecords(m.key, now) })
      case 'get_providers':
        return encodeMessage({ t: 'nodes', x: this.#x, nodes: nodesFor(m.key), providers: this.store.getProviders(m.key, now, this.config.maxProvidersPerKey) })
      case 'store': {
        if (!this.#writes.take(toHex(peer.nodeId), now)) return this.#ack(type, false, 'rate_limited')
        const err = this.#checkRecord(m.record, now)
        if (err) { this.#reportForgery(peer.nodeId, err); return this.#ack(type, false, err) }
        const res = this.store.putRecord(m.record, now)
        return this.#ack(type, res === 'stored' || res === 'unchanged', res)
      }
      case 'add_provider': {
        if (!this.#writes.take(toHex(peer.nodeId), now)) return this.#ack(type, false, 'rate_limited')
        const err = this.#checkExpiry(m.provider.expires, now) ?? (verifyProvider(m.provider) ? undefined : 'bad_signature')
        if (err) { this.#reportForgery(peer.nodeId, err); return this.#ack(type, false, err) }
        const res = this.store.putProvider(m.provider, now)
        return this.#ack(type, res === 'stored' || res === 'unchanged', res)
      }
      default: throw new DhtInvalidError('unexpected', `not a DHT request: ${m.t}`)
    }
  }

  #ack(reqType: number, ok: boolean, err?: string): { type: number; body: Uint8Array } {
    const { body } = encodeMessage(ok || err === undefined ? { t: 'ack', x: this.#x, ok } : { t: 'ack', x: this.#x, ok, err })
    return { type: ackTypeFor(reqType), body }
  }

  #reportForgery(nodeId: Uint8Array, err: string): void {
    this.#trust?.report(nodeId, err === 'bad_signature' ? 'signature_forgery' : 'invalid_message', `dht ${err}`)
  }

  #checkExpiry(expires: number, now: number): string | undefined {
    if (expires <= now) return 'expired'
    if (expires > now + this.config.recordTtlMs + EXPIRY_SKEW_MS) return 'ttl_too_long'
    return undefined
  }

  #checkRecord(r: SignedRecord, now: number): string | undefined {
    if (r.value.byteLength > this.config.maxValueBytes) return 'too_large'
    return this.#checkExpiry(r.expires, now) ?? (verifyRecord(r) ? undefined : 'bad_signature')
  }

  // ------------------------------------------------------------------ client side

  /** Sends one request and decodes the answer; admits the proven responder. */
  async rpc(c: Contact, m: DhtMessage, signal?: AbortSignal): Promise<DhtMessage> {
    const { type, body } = encodeMessage(m)
    const sig = signal ? AbortSignal.any([signal, this.#ac.signal]) : this.#ac.signal
    const reply = await this.#net.request(c, type, body, { timeoutMs: this.config.rpcTimeoutMs, signal: sig })
    const ans = decodeMessage(reply.type, reply.body, this.config.maxValueBytes)
    if (!checkDynamicPuzzle(reply.from.dhtId, ans.x, this.config.dynamicPuzzleBits)) throw new DhtInvalidError('puzzle', 'peer failed its dynamic puzzle')
    reply.from.lastSeen = this.#clock.now()
    this.observe(reply.from)
    return ans
  }

  /**
   * Turns the contacts a peer answered with into lookup candidates, dropping every address we may not dial
   * (loopback, private, link-local, metadata unless configured; our own ports). Naming one is a strike against the
   * peer that answered: an honest node only hands out contacts it reached over the network.
   */
  #toContacts(from: Contact, nodes: WireContact[]): Contact[] {
    const out: Contact[] = []
    let refused = 0
    for (const n of nodes) {
      if (this.#dialable(n.addr)) out.push(makeContact(n.nodeId, sha1(n.nodeId), n.addr))
      else refused++
    }
    if (refused > 0) {
      this.#log.debug({ peer: from.idHex, refused }, 'dht answer named undialable addresses')
      this.#trust?.report(from.nodeId, 'invalid_message', `dht answer named ${refused} undialable address(es)`)
    }
    return out
  }

  /** Runs a disjoint-path lookup for `target`, sending `make(target)` to each node; `onAnswer` may stop it. */
  runLookup(target: Uint8Array, make: () => DhtMessage, onAnswer?: (from: Contact, m: DhtMessage) => boolean, signal?: AbortSignal): Promise<LookupResult> {
    this.table.markUsed(target)
    const init = {
      target, selfIdHex: this.selfIdHex, clock: this.#clock,
      seeds: this.table.closest(target, this.config.k),
      k: this.config.k, alpha: this.config.alpha, paths: this.config.disjointPaths, softTimeoutMs: this.config.softTimeoutMs,
      admit: (c: Contact) => this.admissible(c.nodeId),
      query: async (c: Contact, sig: AbortSignal): Promise<QueryAnswer> => {
        const ans = await this.rpc(c, make(), sig)
        if (ans.t !== 'nodes') throw new DhtInvalidError('unexpected', 'lookup answer is not a node list')
        const stop = onAnswer?.(c, ans) ?? false
        return { closer: this.#toContacts(c, ans.nodes), stop }
      },
    }
    return lookup(signal ? { ...init, signal } : init)
  }

  /** The closest nodes to `target` that answered (the sibling list when `target` is a key). */
  findNode(target: Uint8Array, signal?: AbortSignal): Promise<LookupResult> {
    return this.runLookup(target, () => ({ t: 'find_node', x: this.#x, target }), undefined, signal)
  }

  /**
   * Finds the newest valid signed value for `key` (from `publisher` when given: anyone may sign a value under any
   * key, so a reader that knows the publisher must say so). Forged answers are ignored and reported.
   */
  async get(key: Uint8Array, opts: { publisher?: Uint8Array; signal?: AbortSignal } = {}): Promise<{ record: SignedRecord | undefined; stats: LookupStats }> {
    const t0 = this.#clock.now()
    const { publisher, signal } = opts
    let best: SignedRecord | undefined
    const consider = (r: SignedRecord): boolean => {
      if (!equalBytes(r.key, key) || r.expires <= this.#clock.now()) return false
      if (publisher && !equalBytes(r.publisher, publisher)) return false
      if (!verifyRecord(r)) return false
      if (!best || r.seq > best.seq || (r.seq === best.seq && r.expires > best.expires)) best = r
      return true
    }
    for (const r of this.store.getRecords(key, t0)) consider(r)
    const res = await this.runLookup(key, () => ({ t: 'find_value', x: this.#x, key }), (from, m) => {
      if (m.t !== 'nodes' || !m.records) return false
      let found = false
      for (const r of m.records.slice(0, this.config.maxRecordsPerKey)) {
        if (consider(r)) found = true
        else if (!verifyRecord(r)) this.#trust?.report(from.nodeId, 'signature_forgery', 'dht forged record')
      }
      return found
    }, signal)
    return { record: best, stats: { hops: res.hops, messages: res.messages, latencyMs: this.#clock.now() - t0 } }
  }

  /** Signs and stores `value` under `key` on the s closest nodes; we republish it until `unpublish`. */
  async put(key: Uint8Array, value: Uint8Array, signal?: AbortSignal): Promise<{ record: SignedRecord; stored: number; stats: LookupStats }> {
    if (value.byteLength > this.config.maxValueBytes) throw new DhtInvalidError('too_large', `value exceeds ${this.config.maxValueBytes} bytes`)
    const hex = toHex(key)
    const now = this.#clock.now()
    const seq = Math.max(now, (this.#published.get(hex)?.seq ?? 0) + 1)
    this.#published.set(hex, { key, value, seq })
    return this.#publish(key, value, seq, signal)
  }

  async #publish(key: Uint8Array, value: Uint8Array, seq: number, signal?: AbortSignal): Promise<{ record: SignedRecord; stored: number; stats: LookupStats }> {
    const t0 = this.#clock.now()
    const record = signRecord(this.#id, key, value, seq, t0 + this.config.recordTtlMs)
    this.store.putRecord(record, t0)
    const res = await this.findNode(key, signal)
    const acks = await this.#storeOn(res.closest.slice(0, this.config.siblings), { t: 'store', x: this.#x, record }, signal)
    return { record, stored: acks, stats: { hops: res.hops, messages: res.messages + res.closest.length, latencyMs: this.#clock.now() - t0 } }
  }

  async #storeOn(targets: Contact[], m: DhtMessage, signal?: AbortSignal): Promise<number> {
    const results = await Promise.allSettled(targets.map((c) => this.rpc(c, m, signal)))
    return results.filter((r) => r.status === 'fulfilled' && r.value.t === 'ack' && r.value.ok).length
  }

  /** Announces that we provide `key` (signed provider record on the s closest nodes), re-announced every republish. */
  async provide(key: Uint8Array, data?: Uint8Array, signal?: AbortSignal): Promise<number> {
    this.#provided.set(toHex(key), { key, data })
    return this.#announce(key, data, signal)
  }

  async #announce(key: Uint8Array, data: Uint8Array | undefined, signal?: AbortSignal): Promise<number> {
    const now = this.#clock.now()
    const provider = signProvider(this.#id, key, this.#advertise().slice(0, 4), data, now + this.config.recordTtlMs)
    this.store.putProvider(provider, now)
    const res = await this.findNode(key, signal)
    return this.#storeOn(res.closest.slice(0, this.config.siblings), { t: 'add_provider', x: this.#x, provider }, signal)
  }

  unprovide(key: Uint8Array): void { this.#provided.delete(toHex(key)) }
  unpublish(key: Uint8Array): void { this.#published.delete(toHex(key)) }

  /** Collects valid provider records for `key` (one per provider, latest expiry), up to `limit`. */
  async findProviders(key: Uint8Array, limit = 20, signal?: AbortSignal): Promise<SignedProvider[]> {
    const found = new Map<string, SignedProvider>()
    const consider = (p: SignedProvider): boolean => {
      if (!equalBytes(p.key, key) || p.expires <= this.#clock.now() || !verifyProvider(p)) return false
      const pub = toHex(p.publisher)
      const cur = found.get(pub)
      if (!cur || cur.expires < p.expires) found.set(pub, p)
      return true
    }
    for (const p of this.store.getProviders(key, this.#clock.now())) consider(p)
    if (found.size < limit) {
      await this.runLookup(key, () => ({ t: 'get_providers', x: this.#x, key }), (from, m) => {
        if (m.t === 'nodes' && m.providers) {
          for (const p of m.providers) if (!consider(p)) this.#trust?.report(from.nodeId, 'invalid_message', 'dht forged provider')
        }
        return found.size >= limit
      }, signal)
    }
    return [...found.values()].slice(0, limit)
  }

  /** Joins the network through bootstrap addresses: connects, then looks up our own id. Returns the table size. */
  async bootstrap(addrs: Endpoint[], signal?: AbortSignal): Promise<number> {
    await Promise.allSettled(addrs.map(async (a) => {
      const c = await this.#net.connect(a, { timeoutMs: this.config.rpcTimeoutMs, ...(signal ? { signal } : {}) })
      if (c) await this.rpc(c, { t: 'ping', x: this.#x }, signal)
    }))
    if (this.table.size > 0) await this.findNode(this.#id.dhtId, signal)
    return this.table.size
  }

  /** Re-validates restored contacts (they enter the table only if they answer and prove their identity). */
  async revalidate(contacts: Contact[], concurrency = 16): Promise<number> {
    let ok = 0
    const queue = [...contacts]
    const worker = async (): Promise<void> => {
      for (let c = queue.shift(); c && !this.#stopped; c = queue.shift()) {
        try { await this.rpc(c, { t: 'ping', x: this.#x }); ok++ } catch { /* gone */ }
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, contacts.length) }, worker))
    return ok
  }

  // ------------------------------------------------------------------ maintenance

  #handoff(c: Contact): void {
    const now = this.#clock.now()
    const s = this.config.siblings
    let n = 0
    for (const e of this.store.entries(now)) {
      if (n++ >= MAX_HANDOFF_KEYS) break
      const near = this.table.closest(e.key, s)
      const last = near[near.length - 1]
      if (near.length >= s && !near.some((x) => x.idHex === c.idHex)) continue
      // we hand off only if we are a sibling ourselves (closer than the s-th closest we know)
      if (last && near.length >= s && this.#closerThanSelf(last, e.key)) continue
      for (const record of e.records) this.rpc(c, { t: 'store', x: this.#x, record }).catch(() => {})
      for (const provider of e.providers) this.rpc(c, { t: 'add_provider', x: this.#x, provider }).catch(() => {})
    }
  }

  #closerThanSelf(c: Contact, key: Uint8Array): boolean {
    for (let i = 0; i < 20; i++) {
      const a = c.dhtId[i]! ^ key[i]!
      const b = this.#id.dhtId[i]! ^ key[i]!
      if (a !== b) return a < b
    }
    return false
  }

  /** Starts refresh, republish and cleanup timers (on the injected clock). */
  start(): void {
    if (this.#stopped) return
    const every = (ms: number, fn: () => void | Promise<unknown>): void => {
      const arm = (): void => {
        const t = this.#clock.setTimeout(() => {
          this.#timers.delete(t)
          if (this.#stopped) return
          Promise.resolve().then(fn).catch((err) => this.#log.debug({ err: (err as Error).message }, 'dht maintenance failed')).finally(() => { if (!this.#stopped) arm() })
        }, ms)
        this.#timers.add(t)
      }
      arm()
    }
    every(this.config.cleanupMs, () => { this.store.cleanup(this.#clock.now()) })
    every(this.config.republishMs, () => this.republish())
    every(Math.min(this.config.bucketRefreshMs, 600_000), () => this.refresh())
  }

  /** Re-signs our own values and provider records with a new expiry and stores them again. */
  async republish(): Promise<void> {
    for (const p of [...this.#published.values()]) {
      p.seq = Math.max(this.#clock.now(), p.seq + 1)
      await this.#publish(p.key, p.value, p.seq).catch(() => {})
    }
    for (const p of [...this.#provided.values()]) await this.#announce(p.key, p.data).catch(() => {})
  }

  /** Looks up a random id in every bucket not used for `bucketRefreshMs`. */
  async refresh(): Promise<void> {
    for (const i of this.table.staleBuckets(this.config.bucketRefreshMs, this.#clock.now())) {
      if (this.#stopped) return
      await this.findNode(randomIdInBucket(this.#id.dhtId, i, this.#random)).catch(() => {})
    }
  }

  /** Stops timers and aborts in-flight operations. Idempotent. */
  stop(): void {
    if (this.#stopped) return
    this.#stopped = true
    for (const t of this.#timers) t.cancel()
    this.#timers.clear()
    this.#ac.abort()
  }
}

export { DhtMessageType }
