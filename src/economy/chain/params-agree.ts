/**
 * How a node without chain access decides which network parameters are in force (docs/protocol/params.md §Follower):
 * among the params records found under the params key, a snapshot (block, hash, values, models) is accepted only
 * when at least `quorum` distinct eligible publishers, from distinct diversity groups, signed exactly the same one;
 * among accepted candidates the newest block wins, and nothing at or below the block already accepted ever replaces
 * it (no rollback). A publisher that signed two different snapshots for one block is an equivocator: none of its
 * records count again. Who is eligible (trusted anchors, or puzzle + stake claim + routing-table diversity) is the
 * caller's policy; this module is pure and holds only bounded memory.
 */
import { verifyRecord, type SignedRecord } from '../../dht/record.js'
import { toHex } from '../../util/bytes.js'
import { decodeParamsRecord, snapshotDigest, type ParamsRecord, type ParamsSnapshot } from './params-record.js'

/** Publishers whose per-block history is remembered (equivocation detection); the oldest is forgotten first. */
const MAX_TRACKED = 4096
/** Blocks remembered per publisher. */
const MAX_BLOCKS_PER_PUBLISHER = 8
/** Equivocators remembered. */
const MAX_BANNED = 4096

export interface Accepted { snapshot: ParamsSnapshot; digest: string; supporters: string[] }

export interface AgreementInit {
  quorum: number
  chainId: number
  /** The Params contract, when the follower knows it (from a deployment file); else agreement fixes it too. */
  params?: Uint8Array
  /**
   * The diversity group a publisher counts in (one vote per group), or undefined when it may not vote at all.
   * Two eligible publishers with the same group count once.
   */
  eligible: (publisher: Uint8Array, rec: ParamsRecord) => string | undefined
  /** Seconds. A snapshot whose block time is more than `maxSkewSec` ahead of this is refused. */
  nowSec: () => number
  /** @default 300 */
  maxSkewSec?: number
  /** The last accepted snapshot (restored from disk), so a restart cannot be rolled back either. */
  accepted?: Accepted
}

export interface Decision {
  /** The newly accepted snapshot, when this round moved forward. */
  accepted?: Accepted
  /** Per publisher (hex), why its record did not count; for logs and tests. */
  refused: Map<string, string>
  /** Candidates that had votes, digest -> distinct groups, for logs and tests. */
  votes: Map<string, number>
}

export class ParamsAgreement {
  readonly #init: AgreementInit
  #accepted: Accepted | undefined
  readonly #history = new Map<string, Map<number, string>>()
  readonly #banned = new Set<string>()

  constructor(init: AgreementInit) {
    if (!Number.isInteger(init.quorum) || init.quorum < 1) throw new RangeError('params quorum must be >= 1')
    this.#init = init
    this.#accepted = init.accepted
  }

  get accepted(): Accepted | undefined { return this.#accepted }
  isBanned(publisherHex: string): boolean { return this.#banned.has(publisherHex) }

  /** Judges one round of records (as `Dht.getAll` returns them: newest per publisher). */
  consider(records: readonly SignedRecord[], key: Uint8Array): Decision {
    const refused = new Map<string, string>()
    const byDigest = new Map<string, { snapshot: ParamsSnapshot; groups: Set<string>; pubs: string[] }>()
    // refusal reasons are checked cheapest first; the signature before anything is decoded
    const cur = this.#accepted
    const maxSkew = this.#init.maxSkewSec ?? 300
    for (const r of records) {
      const pub = toHex(r.publisher)
      if (Buffer.compare(r.key, key) !== 0) { refused.set(pub, 'wrong_key'); continue }
      if (this.#banned.has(pub)) { refused.set(pub, 'equivocated'); continue }
      if (!verifyRecord(r)) { refused.set(pub, 'bad_signature'); continue }
      let rec: ParamsRecord
      try { rec = decodeParamsRecord(r.value) } catch { refused.set(pub, 'malformed'); continue }
      const s = rec.snapshot
      if (s.chainId !== this.#init.chainId) { refused.set(pub, 'wrong_chain'); continue }
      if (this.#init.params && Buffer.compare(s.params, this.#init.params) !== 0) { refused.set(pub, 'wrong_contract'); continue }
      const digest = snapshotDigest(s)
      if (this.#equivocates(pub, s.blockNumber, digest)) { refused.set(pub, 'equivocated'); continue }
      if (s.blockTime > this.#init.nowSec() + maxSkew) { refused.set(pub, 'future_block'); continue }
      if (cur && s.blockNumber < cur.snapshot.blockNumber) { refused.set(pub, 'rollback'); continue }
      const group = this.#init.eligible(r.publisher, rec)
      if (group === undefined) { refused.set(pub, 'not_eligible'); continue }
      let c = byDigest.get(digest)
      if (!c) { c = { snapshot: s, groups: new Set(), pubs: [] }; byDigest.set(digest, c) }
      if (c.groups.has(group)) { refused.set(pub, 'same_group'); continue }
      c.groups.add(group)
      c.pubs.push(pub)
    }
    // a publisher found equivocating later in the round loses the vote it gave earlier in it
    for (const c of byDigest.values()) c.pubs = c.pubs.filter((p) => !this.#banned.has(p))
    const votes = new Map([...byDigest].map(([d, c]) => [d, c.pubs.length]))
    const quorate = [...byDigest].filter(([, c]) => c.pubs.length >= this.#init.quorum)
    if (quorate.length === 0) return { refused, votes }
    const top = Math.max(...quorate.map(([, c]) => c.snapshot.blockNumber))
    const best = quorate.filter(([, c]) => c.snapshot.blockNumber === top)
    // two quorums for one block (a fork, or a bought quorum): no side is safe to follow, keep what we have
    if (best.length !== 1) return { refused, votes }
    const [digest, c] = best[0]!
    // the same block again is no news; the same block with other values never replaces the one reached first
    if (cur && top <= cur.snapshot.blockNumber) return { refused, votes }
    this.#accepted = { snapshot: c.snapshot, digest, supporters: c.pubs }
    return { accepted: this.#accepted, refused, votes }
  }

  /** Records (publisher, block) -> digest; true (and bans) when the publisher signed another digest for that block. */
  #equivocates(pub: string, block: number, digest: string): boolean {
    let h = this.#history.get(pub)
    if (!h) {
      if (this.#history.size >= MAX_TRACKED) this.#history.delete(this.#history.keys().next().value!)
      h = new Map()
      this.#history.set(pub, h)
    }
    const seen = h.get(block)
    if (seen !== undefined && seen !== digest) {
      if (this.#banned.size >= MAX_BANNED) this.#banned.delete(this.#banned.keys().next().value!)
      this.#banned.add(pub)
      return true
    }
    if (seen === undefined) {
      if (h.size >= MAX_BLOCKS_PER_PUBLISHER) h.delete(h.keys().next().value!)
      h.set(block, digest)
    }
    return false
  }
}
