/**
 * The DHT node: routing table admission (proven identities + S/Kademlia puzzles), the RPC handlers, disjoint-path
 * lookups, signed values and provider records, replication to new closer nodes, and periodic maintenance. It sees the
 * network only through `DhtNet` and time only through the injected clock, so the simulator drives this exact code.
 */
import { SpanKind } from '@opentelemetry/api'
import type { TraceContext } from '../interfaces/link.js'
import type { NodeTracer } from '../interfaces/tracing.js'
import { failSpan } from '../util/span.js'
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
import { DhtInvalidError, DhtLookupError } from './errors.js'
import { shouldHandOff } from './handoff.js'
import { randomIdInBucket } from './id.js'
import { lookup, type LookupResult, type QueryAnswer } from './lookup.js'
import { ackTypeFor, decodeMessage, DhtMessageType, encodeMessage, type DhtMessage, type WireContact } from './messages.js'
import type { DhtNet } from './net.js'
import type { DhtPersistence } from './persist.js'
import { checkDynamicPuzzle, solveDynamicPuzzle } from './puzzle.js'
import { signProvider, signRecord, verifyProvider, verifyRecord, type Signer, type SignedProvider, type SignedRecord } from './record.js'
import { PeerRateLimiter } from './rate-limit.js'
import { RoutingTable } from './routing-table.js'
import type { MemoryRecordStore } from './store.js'

/** Clock skew tolerated on a record's expiry beyond the maximum TTL. */
const EXPIRY_SKEW_MS = 60_000
/** Full-bucket pings in flight at once. */
const MAX_PENDING_PINGS = 16
/** Signatures checked per FIND_VALUE answer at most (one publisher's copies, highest seq first). */
const MAX_VERIFY_PER_ANSWER = 4
/** (key, publisher) pairs whose newest resolved record we remember, so a later replay of an older seq never wins. */
const MAX_RESOLVED = 4096
/** Keys handed to one newly joined node at most. */
const MAX_HANDOFF_KEYS = 1000
/** Learned, unqueried candidates pinged per refresh lookup at most (they enter the table by answering). */
const REFRESH_PINGS = 8

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
  /** Called when a lookup ends (kind = the query's message type), for the lookup latency metric. */
  onLookup?: (kind: string, ms: number, ok: boolean) => void
  /** When tracing is on: one span per lookup (an event per answer) and a client span per request, carried to the peer. */
  tracer?: NodeTracer
  /** Where table contacts and our publications are saved as they change, and our publications restored from. */
  persist?: DhtPersistence
}

export interface LookupStats { hops: number; messages: number; latencyMs: number }

export interface GetResult {
  record: SignedRecord | undefined
  /** `copies`: answering nodes that held a valid copy from the publisher (any seq). */
  stats: LookupStats & { copies: number }
  /** Read repair in flight: resolves to how many stale or missing copies near the key were replaced. */
  repair: Promise<number>
}

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
  readonly #onLookup: DhtInit['onLookup']
  readonly #tracer: NodeTracer | undefined
  readonly #random: (n: number) => Uint8Array
  readonly #advertise: () => Endpoint[]
  readonly #replicate: boolean
  readonly #pingOnFull: boolean
  readonly #dialable: (addr: Endpoint) => boolean
  readonly #x: Uint8Array
  readonly #pinging = new Set<string>()
  readonly #published = new Map<string, { key: Uint8Array; value: Uint8Array; seq: number }>()
  readonly #provided = new Map<string, { key: Uint8Array; data: Uint8Array | undefined }>()
  readonly #resolved = new Map<string, SignedRecord>()
  readonly #timers = new Set<{ cancel(): void }>()
  readonly #ac = new AbortController()
  readonly #writes: PeerRateLimiter
  readonly #persist: DhtPersistence | undefined
  readonly #validators = new Map<string, (r: SignedRecord) => string | undefined>()
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
    this.#onLookup = init.onLookup
    this.#tracer = init.tracer
    this.#random = init.random ?? randomBytes
    this.#advertise = init.advertise ?? (() => [])
    this.#replicate = init.replicateOnJoin ?? true
    this.#pingOnFull = init.pingOnFull ?? true
    this.#dialable = init.dialable ?? (() => true)
    this.selfIdHex = toHex(init.identity.dhtId)
    this.#writes = new PeerRateLimiter(init.config.maxWritesPerPeerPerMinute)
    this.#x = init.puzzle ?? solveDynamicPuzzle(init.identity.dhtId, init.config.dynamicPuzzleBits)
    this.table = new RoutingTable(init.identity.dhtId, {
      k: init.config.k, clock: init.clock, replacementCacheSize: init.config.replacementCacheSize,
      maxPerSubnetBucket: init.config.maxPerSubnetBucket, maxPerSubnetTable: init.config.maxPerSubnetTable,
      maxFailures: init.config.maxFailures,
      ...(init.persist ? { onChange: (ch: 'added' | 'removed', c: Contact) => this.#savePeer(ch, c) } : {}),
    })
    this.#persist = init.persist
    for (const e of init.persist?.loadPublished() ?? []) {
      if (e.kind === 'value' && e.data) this.#published.set(toHex(e.key), { key: e.key, value: e.data, seq: e.seq })
      else if (e.kind === 'provider') this.#provided.set(toHex(e.key), { key: e.key, data: e.data })
    }
  }

  #savePeer(change: 'added' | 'removed', c: Contact): void {
    try {
      if (change === 'added') this.#persist?.peerAdded(c)
      else this.#persist?.peerRemoved(c.nodeId)
    } catch (err) { this.#log.warn({ err: (err as Error).message }, 'could not save a dht contact') }
  }

  /** Our publications restored at construction (values, provider records). */
  get restoredPublications(): number { return this.#published.size + this.#provided.size }

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
      this.table.closestLive(target, this.config.k, (c) => equalBytes(c.nodeId, peer.nodeId)).map((c) => ({ nodeId: c.nodeId, addr: c.addr }))
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
    return this.#checkExpiry(r.expires, now) ?? (verifyRecord(r) ? undefined : 'bad_signature') ?? this.#validators.get(toHex(r.key))?.(r)
  }

  /**
   * Registers a record type's own check for one well-known key (e.g. the params record): a STORE whose value it
   * refuses (returns a reason) is answered with that reason and not kept. Synchronous and cheap: it runs per STORE.
   */
  setValidator(key: Uint8Array, check: (r: SignedRecord) => string | undefined): void {
    this.#validators.set(toHex(key), check)
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

  /**
   * Runs a disjoint-path lookup for `target`, sending `make(target)` to each node; `onAnswer` may stop it (true) or
   * say the answer held the value looked for (`held`: with `quorum`, the lookup ends once the closest nodes answered
   * with that many, lookup.ts `quorumFromClosest`).
   */
  runLookup(target: Uint8Array, make: () => DhtMessage, onAnswer?: (from: Contact, m: DhtMessage, path: number) => boolean | { held: boolean }, signal?: AbortSignal, traced = false, quorum = 0): Promise<LookupResult> {
    this.table.markUsed(target)
    const tracer = this.#tracer
    // the query kind labels the metric and the spans: read once from the first message
    const kind = this.#onLookup || tracer ? make().t : ''
    // a lookup sampled out costs one draw: no span, no hex target, no per-hop spans or events
    const span = tracer?.sampleRoot(traced) ? tracer.start(`dht.lookup ${kind}`, { sample: true, attributes: { 'zeone.dht.kind': kind, 'zeone.dht.target': toHex(target) } }) : undefined
    const init = {
      target, selfIdHex: this.selfIdHex, clock: this.#clock,
      seeds: this.table.closest(target, this.config.k),
      k: this.config.k, alpha: this.config.alpha, paths: this.config.disjointPaths, softTimeoutMs: this.config.softTimeoutMs,
      ...(quorum > 0 ? { quorum } : {}),
      admit: (c: Contact) => this.admissible(c.nodeId),
      ...(this.#net.hasLink ? { warm: (c: Contact) => this.#net.hasLink!(c) } : {}),
      query: async (c: Contact, sig: AbortSignal, path: number): Promise<QueryAnswer> => {
        const hop = span && tracer!.start(`dht.rpc ${kind}`, { parent: span, kind: SpanKind.CLIENT, attributes: { 'zeone.peer.id': c.idHex, 'network.peer.address': c.addr.host, 'network.peer.port': c.addr.port } })
        try {
          const ans = await this.rpc(c, make(), sig, hop ? tracer!.contextOf(hop) : undefined)
          if (ans.t !== 'nodes') throw new DhtInvalidError('unexpected', 'lookup answer is not a node list')
          const verdict = onAnswer?.(c, ans, path) ?? false
          const stop = verdict === true
          const held = typeof verdict === 'object' && verdict.held
          const closer = this.#toContacts(c, ans.nodes)
          if (span) { span.addEvent('answer', { 'zeone.peer.id': c.idHex, 'zeone.dht.closer': closer.length, 'zeone.dht.stop': stop }); hop!.end() }
          return { closer, stop, held }
        } catch (err) {
          if (span) { span.addEvent('no_answer', { 'zeone.peer.id': c.idHex, 'zeone.error.code': (err as { code?: string }).code ?? 'error' }); failSpan(hop, err) }
          throw err
        }
      },
    }
    const done = this.#onLookup
    if (!done && !span) return lookup(signal ? { ...init, signal } : init)
    const t0 = this.#clock.now()
    return lookup(signal ? { ...init, signal } : init).then(
      (r) => {
        done?.(kind, this.#clock.now() - t0, true)
        if (span) { span.setAttributes({ 'zeone.dht.messages': r.messages, 'zeone.dht.hops': r.hops, 'zeone.dht.answered': r.closest.length, 'zeone.dht.stopped': r.stopped }); span.end() }
        return r
      },
      (e: unknown) => { done?.(kind, this.#clock.now() - t0, false); failSpan(span, e); throw e },
    )
  }

  /** The closest nodes to `target` that answered (the sibling list when `target` is a key). */
  findNode(target: Uint8Array, signal?: AbortSignal): Promise<LookupResult> {
    return this.runLookup(target, () => ({ t: 'find_node', x: this.#x, target }), undefined, signal)
  }

  /**
   * Resolves the mutable record (`publisher`, `key`): only that publisher's signature counts, so a valid-signature
   * attacker that signs its own value under the key never wins. The lookup collects copies until the closest nodes
   * known, in distance order with none of them unanswered, include `quorum` that answered with one (config
   * `getQuorum`; 0 = every node of the lookup), and returns the highest valid seq it saw, our own store and the newest we resolved before (so a replayed older seq never wins). Nodes close to the
   * key that answered with an older copy or none get the newest one (read repair, `repair`).
   */
  async get(key: Uint8Array, opts: { publisher: Uint8Array; signal?: AbortSignal; quorum?: number; /** record its trace whatever the sample ratio */ traced?: boolean }): Promise<GetResult> {
    const t0 = this.#clock.now()
    const { publisher, signal } = opts
    const quorum = opts.quorum ?? this.config.getQuorum
    const memo = `${toHex(key)}/${toHex(publisher)}`
    let best: SignedRecord | undefined
    const take = (r: SignedRecord): void => {
      if (!best || r.seq > best.seq || (r.seq === best.seq && r.expires > best.expires)) best = r
    }
    const live = (r: SignedRecord): boolean => equalBytes(r.key, key) && equalBytes(r.publisher, publisher) && r.expires > this.#clock.now()
    for (const r of this.store.getRecords(key, t0)) if (live(r) && verifyRecord(r)) take(r)
    const prev = this.#resolved.get(memo)
    if (prev && live(prev)) take(prev)
    // seq each answering node held for this publisher (-1: none), for read repair
    const held = new Map<string, number>()
    let copies = 0
    // the quorum counts copies from the closest nodes known over all paths only, in distance order with none of them
    // unanswered (lookup.ts quorumFromClosest): rollback attackers away from the key (or a path they captured) can
    // fill a quorum with an older seq, validly signed, but never end the read while a closer node, a sibling that may
    // hold the newer seq, has not answered; the lookup shares sibling candidates between paths so that all of them
    // get asked, whichever path learned them
    const res = await this.runLookup(key, () => ({ t: 'find_value', x: this.#x, key }), (from, m) => {
      if (m.t !== 'nodes') return { held: false }
      const r = this.#newestFrom(from, m.records ?? [], live)
      held.set(from.idHex, r ? r.seq : -1)
      if (!r) return { held: false }
      take(r)
      copies++
      return { held: true }
    }, signal, opts.traced, quorum)
    const stats = { hops: res.hops, messages: res.messages, latencyMs: this.#clock.now() - t0, copies }
    if (!best) return { record: undefined, stats, repair: Promise.resolve(0) }
    this.#remember(memo, best)
    return { record: best, stats, repair: this.#readRepair(best, res, held, signal) }
  }

  /**
   * The highest-seq record of `publisher` in one answer that verifies. Other publishers' records are skipped
   * unverified (not ours to judge); at most MAX_VERIFY_PER_ANSWER signatures are checked per answer, and a bad one
   * is reported as a forgery.
   */
  #newestFrom(from: Contact, records: SignedRecord[], live: (r: SignedRecord) => boolean): SignedRecord | undefined {
    const mine = records.filter(live).sort((a, b) => b.seq - a.seq || b.expires - a.expires)
    for (const r of mine.slice(0, MAX_VERIFY_PER_ANSWER)) {
      if (verifyRecord(r)) return r
      this.#trust?.report(from.nodeId, 'signature_forgery', 'dht forged record')
    }
    return undefined
  }

  /**
   * Stores `best` on the answering nodes closest to the key that held an older copy or none. After a complete
   * lookup that is any of the s closest that answered; after a quorum stop only those no farther than the farthest
   * node that held a copy (the rest of the answered nodes may not be siblings at all).
   */
  async #readRepair(best: SignedRecord, res: LookupResult, held: Map<string, number>, signal?: AbortSignal): Promise<number> {
    const near = res.closest.slice(0, this.config.siblings)
    let limit = near.length
    if (res.stopped) {
      limit = 0
      near.forEach((c, i) => { if ((held.get(c.idHex) ?? -1) >= 0) limit = i + 1 })
    }
    const stale = near.slice(0, limit).filter((c) => { const s = held.get(c.idHex); return s !== undefined && s < best.seq })
    if (stale.length === 0) return 0
    return this.#storeOn(stale, { t: 'store', x: this.#x, record: best }, signal)
  }

  #remember(memo: string, r: SignedRecord): void {
    this.#resolved.delete(memo)
    this.#resolved.set(memo, r)
    if (this.#resolved.size > MAX_RESOLVED) this.#resolved.delete(this.#resolved.keys().next().value!)
  }

  /**
   * The open-key view: the newest valid record of every publisher that signed a value under `key` (a set, like
   * provider records; never one winner). At most `limit` publishers; the whole lookup runs.
   */
  async getAll(key: Uint8Array, opts: { limit?: number; signal?: AbortSignal } = {}): Promise<SignedRecord[]> {
    const limit = opts.limit ?? this.config.maxRecordsPerKey
    const found = new Map<string, SignedRecord>()
    const consider = (r: SignedRecord): void => {
      if (!equalBytes(r.key, key) || r.expires <= this.#clock.now()) return
      const pub = toHex(r.publisher)
      const cur = found.get(pub)
      if (cur && (cur.seq > r.seq || (cur.seq === r.seq && cur.expires >= r.expires))) return
      if (!cur && found.size >= limit) return
      if (verifyRecord(r)) found.set(pub, r)
    }
    for (const r of this.store.getRecords(key, this.#clock.now())) consider(r)
    await this.runLookup(key, () => ({ t: 'find_value', x: this.#x, key }), (_from, m) => {
      if (m.t === 'nodes' && m.records) for (const r of m.records.slice(0, this.config.maxRecordsPerKey)) consider(r)
      return false
    }, opts.signal)
    return [...found.values()]
  }

  /** Signs and stores `value` under `key` on the s closest nodes; we republish it until `unpublish`. */
  async put(key: Uint8Array, value: Uint8Array, signal?: AbortSignal): Promise<{ record: SignedRecord; stored: number; stats: LookupStats }> {
    if (value.byteLength > this.config.maxValueBytes) throw new DhtInvalidError('too_large', `value exceeds ${this.config.maxValueBytes} bytes`)
    const hex = toHex(key)
    const now = this.#clock.now()
    const seq = Math.max(now, (this.#published.get(hex)?.seq ?? 0) + 1)
    this.#published.set(hex, { key, value, seq })
    this.#persist?.savePublished({ kind: 'value', key, data: value, seq })
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
    this.#persist?.savePublished({ kind: 'provider', key, data, seq: 0 })
    return this.#announce(key, data, signal)
  }

  async #announce(key: Uint8Array, data: Uint8Array | undefined, signal?: AbortSignal): Promise<number> {
    const now = this.#clock.now()
    const provider = signProvider(this.#id, key, this.#advertise().slice(0, 4), data, now + this.config.recordTtlMs)
    this.store.putProvider(provider, now)
    const res = await this.findNode(key, signal)
    return this.#storeOn(res.closest.slice(0, this.config.siblings), { t: 'add_provider', x: this.#x, provider }, signal)
  }

  unprovide(key: Uint8Array): void { this.#provided.delete(toHex(key)); this.#persist?.deletePublished('provider', key) }
  unpublish(key: Uint8Array): void { this.#published.delete(toHex(key)); this.#persist?.deletePublished('value', key) }

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

  /**
   * Hands the records we hold as a sibling to a newly added closer contact `c`; returns how many keys were sent
   * (the cap counts keys sent, not keys looked at: a store whose first thousand keys are not c's still hands c its own).
   */
  handoff(c: Contact): number {
    const now = this.#clock.now()
    const known = this.table.all()
    let sent = 0
    for (const e of this.store.entries(now)) {
      if (sent >= MAX_HANDOFF_KEYS) break
      if (!shouldHandOff(e.key, this.#id.dhtId, c, known, this.config.siblings)) continue
      sent++
      for (const record of e.records) this.rpc(c, { t: 'store', x: this.#x, record }).catch(() => {})
      for (const provider of e.providers) this.rpc(c, { t: 'add_provider', x: this.#x, provider }).catch(() => {})
    }
    return sent
  }

  /** Starts refresh, republish and cleanup timers (on the injected clock). */
  start(): void {
    // idempotent: a second start must not arm a second set of maintenance timers
    if (this.#stopped || this.#started) return
    this.#started = true
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
      if (this.#published.get(toHex(p.key)) !== p) continue // unpublished meanwhile
      p.seq = Math.max(this.#clock.now(), p.seq + 1)
      // the seq is saved before it is signed: after a crash we never sign a lower one again
      try { this.#persist?.savePublished({ kind: 'value', key: p.key, data: p.value, seq: p.seq }) } catch { /* next round */ }
      await this.#publish(p.key, p.value, p.seq).catch(() => {})
    }
    for (const p of [...this.#provided.values()]) await this.#announce(p.key, p.data).catch(() => {})
  }

  /**
   * Looks up a random id in every bucket not used for `maxAgeMs`. Candidates a refresh learned but did not query are
   * pinged when their bucket has room (at most REFRESH_PINGS per lookup): they enter the table only by answering, and
   * otherwise a node next to few others (a small network, a sparse bucket) stays without them until they happen to
   * contact us.
   *
   * `maxAgeMs` = 0 is the refresh after a join (or a restart), and it fills the table rather than re-walks it: the
   * lookup of our own id that precedes it already reached the nodes nearest us, so buckets deeper than the one that
   * holds our k-th closest entry are skipped (every node of theirs is nearer than that one), so are buckets already
   * full, and a bucket's lookup ends once the bucket holds k entries. A full refresh of every bucket at d = 4 cost a
   * join about 1,000-1,500 requests (most of them in sparse deep buckets that can never fill); this costs a few
   * hundred and leaves the same table.
   */
  async refresh(maxAgeMs = this.config.bucketRefreshMs): Promise<void> {
    const join = maxAgeMs === 0
    const k = this.config.k
    let deepest = 159
    if (join) {
      const near = this.table.closest(this.#id.dhtId, k)
      deepest = near.length >= k ? this.table.bucketIndex(near[near.length - 1]!.dhtId) : 159
    }
    for (const i of this.table.staleBuckets(maxAgeMs, this.#clock.now())) {
      if (this.#stopped) return
      if (join && (i > deepest || this.table.bucketSize(i) >= k)) continue
      const target = randomIdInBucket(this.#id.dhtId, i, this.#random)
      const res = await (join
        ? this.runLookup(target, () => ({ t: 'find_node', x: this.#x, target }), () => this.table.bucketSize(i) >= k)
        : this.findNode(target)).catch(() => undefined)
      if (join && this.table.bucketSize(i) >= k) continue
      const room = (res?.unqueried ?? []).filter((c) => this.admissible(c.nodeId) && this.table.hasRoom(c)).slice(0, REFRESH_PINGS)
      await Promise.allSettled(room.map((c) => this.rpc(c, { t: 'ping', x: this.#x })))
    }
  }

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
