/**
 * Reads: the publisher-pinned get (highest valid seq from the closest nodes, never older than one resolved before,
 * with read repair of stale copies near the key), the open-key view (every publisher's newest record under a key)
 * and provider lookups.
 */
import { equalBytes, toHex } from '../util/bytes.js'
import type { Contact } from './contact.js'
import type { DhtContext } from './context.js'
import type { LookupResult } from './lookup.js'
import { verifyProvider, verifyRecord, type SignedProvider, type SignedRecord } from './record.js'

/** Signatures checked per FIND_VALUE answer at most (one publisher's copies, highest seq first). */
const MAX_VERIFY_PER_ANSWER = 4
/** (key, publisher) pairs whose newest resolved record we remember, so a later replay of an older seq never wins. */
const MAX_RESOLVED = 4096

export interface LookupStats { hops: number; messages: number; latencyMs: number }

export interface GetResult {
  record: SignedRecord | undefined
  /** `copies`: answering nodes that held a valid copy from the publisher (any seq). */
  stats: LookupStats & { copies: number }
  /** Read repair in flight: resolves to how many stale or missing copies near the key were replaced. */
  repair: Promise<number>
}

export class RecordReader {
  readonly #ctx: DhtContext
  readonly #resolved = new Map<string, SignedRecord>()

  constructor(ctx: DhtContext) { this.#ctx = ctx }

  /**
   * Resolves the mutable record (`publisher`, `key`): only that publisher's signature counts, so a valid-signature
   * attacker that signs its own value under the key never wins. The lookup collects copies until the closest nodes
   * known, in distance order with none of them unanswered, include `quorum` that answered with one (config
   * `getQuorum`; 0 = every node of the lookup), and returns the highest valid seq it saw, our own store and the newest we resolved before (so a replayed older seq never wins). Nodes close to the
   * key that answered with an older copy or none get the newest one (read repair, `repair`).
   */
  async get(key: Uint8Array, opts: { publisher: Uint8Array; signal?: AbortSignal; quorum?: number; /** record its trace whatever the sample ratio */ traced?: boolean }): Promise<GetResult> {
    const t0 = this.#ctx.clock.now()
    const { publisher, signal } = opts
    const quorum = opts.quorum ?? this.#ctx.config.getQuorum
    const memo = `${toHex(key)}/${toHex(publisher)}`
    let best: SignedRecord | undefined
    const take = (r: SignedRecord): void => {
      if (!best || r.seq > best.seq || (r.seq === best.seq && r.expires > best.expires)) best = r
    }
    const live = (r: SignedRecord): boolean => equalBytes(r.key, key) && equalBytes(r.publisher, publisher) && r.expires > this.#ctx.clock.now()
    for (const r of this.#ctx.store.getRecords(key, t0)) if (live(r) && verifyRecord(r)) take(r)
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
    const res = await this.#ctx.runLookup(key, () => ({ t: 'find_value', x: this.#ctx.x, key }), (from, m) => {
      if (m.t !== 'nodes') return { held: false }
      const r = this.#newestFrom(from, m.records ?? [], live)
      held.set(from.idHex, r ? r.seq : -1)
      if (!r) return { held: false }
      take(r)
      copies++
      return { held: true }
    }, signal, opts.traced, quorum)
    const stats = { hops: res.hops, messages: res.messages, latencyMs: this.#ctx.clock.now() - t0, copies }
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
      this.#ctx.trust?.report(from.nodeId, 'signature_forgery', 'dht forged record')
    }
    return undefined
  }

  /**
   * Stores `best` on the answering nodes closest to the key that held an older copy or none. After a complete
   * lookup that is any of the s closest that answered; after a quorum stop only those no farther than the farthest
   * node that held a copy (the rest of the answered nodes may not be siblings at all).
   */
  async #readRepair(best: SignedRecord, res: LookupResult, held: Map<string, number>, signal?: AbortSignal): Promise<number> {
    const near = res.closest.slice(0, this.#ctx.config.siblings)
    let limit = near.length
    if (res.stopped) {
      limit = 0
      near.forEach((c, i) => { if ((held.get(c.idHex) ?? -1) >= 0) limit = i + 1 })
    }
    const stale = near.slice(0, limit).filter((c) => { const s = held.get(c.idHex); return s !== undefined && s < best.seq })
    if (stale.length === 0) return 0
    return this.#ctx.storeOn(stale, { t: 'store', x: this.#ctx.x, record: best }, signal)
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
    const limit = opts.limit ?? this.#ctx.config.maxRecordsPerKey
    const found = new Map<string, SignedRecord>()
    const consider = (r: SignedRecord): void => {
      if (!equalBytes(r.key, key) || r.expires <= this.#ctx.clock.now()) return
      const pub = toHex(r.publisher)
      const cur = found.get(pub)
      if (cur && (cur.seq > r.seq || (cur.seq === r.seq && cur.expires >= r.expires))) return
      if (!cur && found.size >= limit) return
      if (verifyRecord(r)) found.set(pub, r)
    }
    for (const r of this.#ctx.store.getRecords(key, this.#ctx.clock.now())) consider(r)
    await this.#ctx.runLookup(key, () => ({ t: 'find_value', x: this.#ctx.x, key }), (_from, m) => {
      if (m.t === 'nodes' && m.records) for (const r of m.records.slice(0, this.#ctx.config.maxRecordsPerKey)) consider(r)
      return false
    }, opts.signal)
    return [...found.values()]
  }

  /** Collects valid provider records for `key` (one per provider, latest expiry), up to `limit`. */
  async findProviders(key: Uint8Array, limit = 20, signal?: AbortSignal): Promise<SignedProvider[]> {
    const found = new Map<string, SignedProvider>()
    const consider = (p: SignedProvider): boolean => {
      if (!equalBytes(p.key, key) || p.expires <= this.#ctx.clock.now() || !verifyProvider(p)) return false
      const pub = toHex(p.publisher)
      const cur = found.get(pub)
      if (!cur || cur.expires < p.expires) found.set(pub, p)
      return true
    }
    for (const p of this.#ctx.store.getProviders(key, this.#ctx.clock.now())) consider(p)
    if (found.size < limit) {
      await this.#ctx.runLookup(key, () => ({ t: 'get_providers', x: this.#ctx.x, key }), (from, m) => {
        if (m.t === 'nodes' && m.providers) {
          for (const p of m.providers) if (!consider(p)) this.#ctx.trust?.report(from.nodeId, 'invalid_message', 'dht forged provider')
        }
        return found.size >= limit
      }, signal)
    }
    return [...found.values()].slice(0, limit)
  }
}
