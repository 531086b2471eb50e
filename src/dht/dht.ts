/**
 * The DHT node: routing table admission (proven identities + S/Kademlia puzzles), requests to peers, and the parts
 * it wires together: answering requests (serve.ts), disjoint-path lookups (traced-lookup.ts over lookup.ts), reads
 * with read repair (read.ts), our own publications and their republish (publications.ts), hand-off and bucket
 * refresh (maintenance.ts). It sees the network only through `DhtNet` and time only through the injected clock, so
 * the simulator drives this exact code.
 */
import type { TraceContext } from '../interfaces/link.js'
import { staticPuzzleBits } from '../crypto/identity.js'
import { randomBytes } from '../crypto/sign.js'
import type { Clock } from '../interfaces/clock.js'
import type { Endpoint } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import type { TrustSink } from '../interfaces/trust.js'
import { equalBytes, toHex } from '../util/bytes.js'
import type { DhtConfig } from './config.js'
import type { Contact } from './contact.js'
import type { DhtContext, DhtInit, OnAnswer } from './context.js'
import { DhtInvalidError, DhtLookupError } from './errors.js'
import type { LookupResult } from './lookup.js'
import { every as every_, handOff, pingOldest, refreshBuckets, revalidateContacts } from './maintenance.js'
import { decodeMessage, DhtMessageType, encodeMessage, type DhtMessage } from './messages.js'
import type { DhtNet } from './net.js'
import type { DhtPersistence } from './persist.js'
import { Publications } from './publications.js'
import { checkDynamicPuzzle, solveDynamicPuzzle } from './puzzle.js'
import { PeerRateLimiter } from './rate-limit.js'
import { RecordReader, type GetResult, type LookupStats } from './read.js'
import type { SignedProvider, SignedRecord } from './record.js'
import { RoutingTable } from './routing-table.js'
import { serveRequest, type ServeState } from './serve.js'
import type { MemoryRecordStore } from './store.js'
import { runLookup, type LookupDeps } from './traced-lookup.js'

export type { GetResult, LookupStats } from './read.js'
export type { DhtInit } from './context.js'

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
  readonly #replicate: boolean
  readonly #pingOnFull: boolean
  readonly #dialable: (addr: Endpoint) => boolean
  readonly #x: Uint8Array
  readonly #pinging = new Set<string>()
  readonly #timers = new Set<{ cancel(): void }>()
  readonly #ac = new AbortController()
  readonly #persist: DhtPersistence | undefined
  readonly #ctx: DhtContext
  readonly #serve: ServeState
  readonly #lookups: LookupDeps
  readonly #reader: RecordReader
  readonly #pubs: Publications
  #stopped = false
  #started = false
  /** Controllers of the requests in flight: stop() aborts them (instead of each listening on the shutdown signal). */
  readonly #inflight = new Set<AbortController>()

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
    this.#replicate = init.replicateOnJoin ?? true
    this.#pingOnFull = init.pingOnFull ?? true
    this.#dialable = init.dialable ?? (() => true)
    this.selfIdHex = toHex(init.identity.dhtId)
    this.#x = init.puzzle ?? solveDynamicPuzzle(init.identity.dhtId, init.config.dynamicPuzzleBits)
    this.table = new RoutingTable(init.identity.dhtId, {
      k: init.config.k, clock: init.clock, replacementCacheSize: init.config.replacementCacheSize,
      maxPerSubnetBucket: init.config.maxPerSubnetBucket, maxPerSubnetTable: init.config.maxPerSubnetTable,
      maxFailures: init.config.maxFailures,
      ...(init.persist ? { onChange: (ch: 'added' | 'removed', c: Contact) => this.#savePeer(ch, c) } : {}),
    })
    this.#persist = init.persist
    this.#ctx = {
      config: this.config, table: this.table, store: this.store, clock: this.#clock, log: this.#log, trust: this.#trust,
      selfId: init.identity.dhtId, x: this.#x,
      stopped: () => this.#stopped,
      rpc: (c, m, signal) => this.rpc(c, m, signal),
      runLookup: (...a) => this.runLookup(...a),
      findNode: (target, signal) => this.findNode(target, signal),
      storeOn: (targets, m, signal) => this.#storeOn(targets, m, signal),
      admissible: (nodeId) => this.admissible(nodeId),
    }
    this.#serve = { writes: new PeerRateLimiter(init.config.maxWritesPerPeerPerMinute), validators: new Map(), observe: (c) => { this.observe(c) } }
    const net = init.net
    this.#lookups = {
      selfIdHex: this.selfIdHex, tracer: init.tracer, onLookup: init.onLookup,
      hasLink: net.hasLink ? (c) => net.hasLink!(c) : undefined,
      rpc: (c, m, signal, trace) => this.rpc(c, m, signal, trace),
      dialable: this.#dialable,
    }
    this.#reader = new RecordReader(this.#ctx)
    this.#pubs = new Publications(this.#ctx, init.identity, init.persist, init.advertise ?? (() => []))
  }

  #savePeer(change: 'added' | 'removed', c: Contact): void {
    try {
      if (change === 'added') this.#persist?.peerAdded(c)
      else this.#persist?.peerRemoved(c.nodeId)
    } catch (err) { this.#log.warn({ err: (err as Error).message }, 'could not save a dht contact') }
  }

  /** Our publications restored at construction (values, provider records). */
  get restoredPublications(): number { return this.#pubs.restored }

  get puzzle(): Uint8Array { return this.#x }
  /** Our publisher key (what `get` readers pin to read our records). */
  get publicKey(): Uint8Array { return this.#id.publicKey }
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
    if (r.status === 'added' && !bulk && this.#replicate) this.handoff(c)
    if (r.status === 'full' && !bulk && this.#pingOnFull) pingOldest(this.#ctx, this.#net, this.#pinging, this.#ac.signal, r.oldest)
    return r.status
  }

  // ------------------------------------------------------------------ serving

  /**
   * Answers one inbound DHT request from a proven peer (serve.ts). `contact` is its dialable contact (undefined when
   * it does not listen: it is served but never admitted). Throws DhtInvalidError for anything malformed or forged.
   */
  handleRequest(peer: { nodeId: Uint8Array; dhtId: Uint8Array }, contact: Contact | undefined, type: number, body: Uint8Array): { type: number; body: Uint8Array } {
    return serveRequest(this.#ctx, this.#serve, peer, contact, type, body)
  }

  /**
   * Registers a record type's own check for one well-known key (e.g. the params record): a STORE whose value it
   * refuses (returns a reason) is answered with that reason and not kept. Synchronous and cheap: it runs per STORE.
   */
  setValidator(key: Uint8Array, check: (r: SignedRecord) => string | undefined): void {
    this.#serve.validators.set(toHex(key), check)
  }

  // ------------------------------------------------------------------ client side

  /** Sends one request and decodes the answer; admits the proven responder. */
  async rpc(c: Contact, m: DhtMessage, signal?: AbortSignal, trace?: TraceContext): Promise<DhtMessage> {
    const { type, body } = encodeMessage(m)
    // a request's own controller, aborted by stop(): nothing per request listens on the long-lived shutdown signal
    const mine = new AbortController()
    this.#inflight.add(mine)
    const sig = signal ? AbortSignal.any([signal, mine.signal]) : mine.signal
    if (this.#stopped) mine.abort()
    let ans: DhtMessage
    let from: Contact
    try {
      const reply = await this.#net.request(c, type, body, trace ? { timeoutMs: this.config.rpcTimeoutMs, signal: sig, trace } : { timeoutMs: this.config.rpcTimeoutMs, signal: sig })
      // whatever the net did (a reused address, a link picked by address), an answer from another node is not this
      // contact's: it must never count as a store on, or a sign of life of, the node we meant
      if (!equalBytes(reply.from.nodeId, c.nodeId)) throw new DhtLookupError('identity_mismatch', `peer at ${c.addr.host}:${c.addr.port} is not the expected node`)
      ans = decodeMessage(reply.type, reply.body, this.config.maxValueBytes)
      if (!checkDynamicPuzzle(reply.from.dhtId, ans.x, this.config.dynamicPuzzleBits)) throw new DhtInvalidError('puzzle', 'peer failed its dynamic puzzle')
      from = reply.from
    } catch (err) {
      // our own abort (lookup finished, node stopping) says nothing about the peer
      if (!sig.aborted) this.#failed(c)
      throw err
    } finally {
      this.#inflight.delete(mine)
    }
    from.lastSeen = this.#clock.now()
    this.observe(from)
    return ans
  }

  /** Counts a failed request against a table entry; after `maxFailures` in a row it is removed. */
  #failed(c: Contact): void {
    if (this.table.fail(c.idHex) === 'evicted') this.#log.debug({ peer: c.idHex }, 'dht contact removed after repeated failures')
  }

  /** A disjoint-path lookup for `target` (traced-lookup.ts): `onAnswer` may stop it or count a held value. */
  runLookup(target: Uint8Array, make: () => DhtMessage, onAnswer?: OnAnswer, signal?: AbortSignal, traced = false, quorum = 0): Promise<LookupResult> {
    return runLookup(this.#ctx, this.#lookups, target, make, onAnswer, signal, traced, quorum)
  }

  /** The closest nodes to `target` that answered (the sibling list when `target` is a key). */
  findNode(target: Uint8Array, signal?: AbortSignal): Promise<LookupResult> {
    return this.runLookup(target, () => ({ t: 'find_node', x: this.#x, target }), undefined, signal)
  }

  /** The publisher-pinned read (read.ts `RecordReader.get`): highest valid seq, read repair of stale copies. */
  get(key: Uint8Array, opts: { publisher: Uint8Array; signal?: AbortSignal; quorum?: number; /** record its trace whatever the sample ratio */ traced?: boolean }): Promise<GetResult> {
    return this.#reader.get(key, opts)
  }

  /** The open-key view: the newest valid record of every publisher under `key` (a set, never one winner). */
  getAll(key: Uint8Array, opts: { limit?: number; signal?: AbortSignal } = {}): Promise<SignedRecord[]> {
    return this.#reader.getAll(key, opts)
  }

  /** Collects valid provider records for `key` (one per provider, latest expiry), up to `limit`. */
  findProviders(key: Uint8Array, limit = 20, signal?: AbortSignal): Promise<SignedProvider[]> {
    return this.#reader.findProviders(key, limit, signal)
  }

  /** Signs and stores `value` under `key` on the s closest nodes; we republish it until `unpublish`. */
  put(key: Uint8Array, value: Uint8Array, signal?: AbortSignal): Promise<{ record: SignedRecord; stored: number; stats: LookupStats }> {
    return this.#pubs.put(key, value, signal)
  }

  /** Announces that we provide `key` (signed provider record on the s closest nodes), re-announced every republish. */
  provide(key: Uint8Array, data?: Uint8Array, signal?: AbortSignal): Promise<number> { return this.#pubs.provide(key, data, signal) }
  unprovide(key: Uint8Array): void { this.#pubs.unprovide(key) }
  unpublish(key: Uint8Array): void { this.#pubs.unpublish(key) }

  async #storeOn(targets: Contact[], m: DhtMessage, signal?: AbortSignal): Promise<number> {
    const results = await Promise.allSettled(targets.map((c) => this.rpc(c, m, signal)))
    return results.filter((r) => r.status === 'fulfilled' && r.value.t === 'ack' && r.value.ok).length
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
  revalidate(contacts: Contact[], concurrency = 16): Promise<number> {
    return revalidateContacts(this.#ctx, contacts, concurrency)
  }

  // ------------------------------------------------------------------ maintenance

  /**
   * Hands the records we hold as a sibling to a newly added closer contact `c` (maintenance.ts); returns how many
   * keys were sent.
   */
  handoff(c: Contact): number { return handOff(this.#ctx, c) }

  /** Starts refresh, republish and cleanup timers (on the injected clock). */
  start(): void {
    // idempotent: a second start must not arm a second set of maintenance timers
    if (this.#stopped || this.#started) return
    this.#started = true
    const every = (ms: number, fn: () => void | Promise<unknown>): void => every_(this.#ctx, this.#timers, ms, fn)
    every(this.config.cleanupMs, () => { this.store.cleanup(this.#clock.now()) })
    every(this.config.republishMs, () => this.republish())
    every(Math.min(this.config.bucketRefreshMs, 600_000), () => this.refresh())
  }

  /** Re-signs our own values and provider records with a new expiry and stores them again. */
  republish(): Promise<void> { return this.#pubs.republish() }

  /** Bucket refresh (maintenance.ts): `maxAgeMs` = 0 fills the table after a join or restart. */
  refresh(maxAgeMs = this.config.bucketRefreshMs): Promise<void> { return refreshBuckets(this.#ctx, this.#random, maxAgeMs) }

  /** Stops timers and aborts in-flight operations. Idempotent. */
  stop(): void {
    if (this.#stopped) return
    this.#stopped = true
    for (const t of this.#timers) t.cancel()
    this.#timers.clear()
    this.#ac.abort()
    for (const c of this.#inflight) c.abort()
    this.#inflight.clear()
  }
}

export { DhtMessageType }
