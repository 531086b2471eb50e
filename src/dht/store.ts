/**
 * The record store: signed values (one slot per key and publisher, higher seq wins), provider records (one slot
 * per key and provider, capped per key), and v0 legacy values kept apart. This in-memory version is what the
 * simulator uses; SqliteRecordStore (store-sqlite.ts) adds write-behind persistence on top of it.
 *
 * Sybil resistance (identities are free): when a key's slot is full, a newcomer takes the place of the weakest
 * entry only if it ranks strictly higher: our own records are never evicted, then the publisher's standing (stake or
 * trust, injected) counts, then age (first stored here). So throwaway identities cannot push out records that were
 * here first, and one publisher's bytes are bounded to `maxPublisherShare` of the store.
 */
import { toHex } from '../util/bytes.js'
import type { SignedProvider, SignedRecord } from './record.js'

export type PutResult = 'stored' | 'unchanged' | 'stale' | 'full'

export interface RecordStoreInit {
  /** @default 16 */
  maxRecordsPerKey?: number
  /** @default 64 */
  maxProvidersPerKey?: number
  /** Bytes of values, provider data and legacy values kept in total. @default 128 MiB */
  maxBytes?: number
  /** Most of `maxBytes` one publisher (other than us) may hold, as a fraction. @default 1/64 */
  maxPublisherShare?: number
  /** Our own node id: our records are never evicted and never refused for space. */
  self?: Uint8Array
  /** Standing of a publisher (stake, trust): higher survives eviction. Must be cheap and synchronous. @default 0 */
  standing?: (publisher: Uint8Array) => number
}

/** A publisher's share never drops below this (small test stores would otherwise refuse every value). */
const MIN_PUBLISHER_BYTES = 4 * (65_536 + 160)

interface Slot {
  key: Uint8Array
  records: Map<string, SignedRecord>
  providers: Map<string, SignedProvider>
  /** When each publisher's value / provider record was first stored here (0 = loaded from disk: older than any). */
  since: Map<string, number>
  legacy?: { value: Uint8Array; expires: number }
}

const PROVIDER_OVERHEAD = 160
/** Accounted per stored value on top of its bytes, so many empty values under distinct keys still hit the cap. */
const RECORD_OVERHEAD = 160

export class MemoryRecordStore {
  protected readonly slots = new Map<string, Slot>()
  #bytes = 0
  readonly #maxRecords: number
  readonly #maxProviders: number
  readonly #maxBytes: number
  readonly #maxPublisherBytes: number
  readonly #standing: (publisher: Uint8Array) => number
  readonly #pubBytes = new Map<string, number>()
  #self: string | undefined

  constructor(init: RecordStoreInit = {}) {
    this.#maxRecords = init.maxRecordsPerKey ?? 16
    this.#maxProviders = init.maxProvidersPerKey ?? 64
    this.#maxBytes = init.maxBytes ?? 128 * 1024 * 1024
    this.#maxPublisherBytes = Math.max(Math.floor(this.#maxBytes * (init.maxPublisherShare ?? 1 / 64)), MIN_PUBLISHER_BYTES)
    this.#standing = init.standing ?? (() => 0)
    this.#self = init.self ? toHex(init.self) : undefined
  }

  /** Declares our own node id (the DHT does this at construction): its records are never evicted. */
  setSelf(nodeId: Uint8Array): void { this.#self = toHex(nodeId) }

  get bytes(): number { return this.#bytes }
  /** Bytes held for one publisher (values and provider records, all keys). */
  publisherBytes(publisher: Uint8Array): number { return this.#pubBytes.get(toHex(publisher)) ?? 0 }
  get keyCount(): number { return this.slots.size }

  /** Stores a verified record. Same publisher: higher seq wins, equal seq keeps the later expiry. */
  putRecord(r: SignedRecord, now: number): PutResult {
    if (r.expires <= now) return 'stale'
    const slot = this.#slot(r.key)
    const pub = toHex(r.publisher)
    const cur = slot.records.get(pub)
    if (cur && (r.seq < cur.seq || (r.seq === cur.seq && r.expires <= cur.expires))) return r.seq === cur.seq && r.expires === cur.expires ? 'unchanged' : 'stale'
    const delta = r.value.byteLength + RECORD_OVERHEAD - (cur ? cur.value.byteLength + RECORD_OVERHEAD : 0)
    if (!this.#roomFor(pub, delta)) return 'full'
    if (!cur && slot.records.size >= this.#maxRecords) {
      const victim = this.#victim(slot, slot.records, r.publisher, pub, now)
      if (!victim) return 'full'
      this.#dropRecord(slot, victim)
    }
    this.#charge(pub, delta)
    slot.records.set(pub, r)
    if (!slot.since.has(`v${pub}`)) slot.since.set(`v${pub}`, now)
    this.onRecord(r)
    return 'stored'
  }

  getRecords(key: Uint8Array, now: number): SignedRecord[] {
    const slot = this.slots.get(toHex(key))
    if (!slot) return []
    return [...slot.records.values()].filter((r) => r.expires > now)
  }

  /** Stores a verified provider record: one per provider and key, a later expiry replaces the earlier one. */
  putProvider(p: SignedProvider, now: number): PutResult {
    if (p.expires <= now) return 'stale'
    const slot = this.#slot(p.key)
    const pub = toHex(p.publisher)
    const cur = slot.providers.get(pub)
    if (cur && p.expires <= cur.expires) return p.expires === cur.expires ? 'unchanged' : 'stale'
    const delta = providerBytes(p) - (cur ? providerBytes(cur) : 0)
    if (!this.#roomFor(pub, delta)) return 'full'
    if (!cur && slot.providers.size >= this.#maxProviders) {
      const victim = this.#victim(slot, slot.providers, p.publisher, pub, now)
      if (!victim) return 'full'
      this.#dropProvider(slot, victim)
    }
    this.#charge(pub, delta)
    slot.providers.set(pub, p)
    if (!slot.since.has(`p${pub}`)) slot.since.set(`p${pub}`, now)
    this.onProvider(p)
    return 'stored'
  }

  getProviders(key: Uint8Array, now: number, limit = Infinity): SignedProvider[] {
    const slot = this.slots.get(toHex(key))
    if (!slot) return []
    const out: SignedProvider[] = []
    for (const p of slot.providers.values()) {
      if (p.expires > now) out.push(p)
      if (out.length >= limit) break
    }
    return out
  }

  /** v0 values: unsigned, kept apart from signed records and never returned in their place. */
  putLegacy(key: Uint8Array, value: Uint8Array, expires: number, now: number): PutResult {
    if (expires <= now) return 'stale'
    const slot = this.#slot(key)
    const delta = value.byteLength + RECORD_OVERHEAD - (slot.legacy ? slot.legacy.value.byteLength + RECORD_OVERHEAD : 0)
    if (this.#bytes + delta > this.#maxBytes) return 'full'
    this.#bytes += delta
    slot.legacy = { value, expires }
    this.onLegacy(key, value, expires)
    return 'stored'
  }

  getLegacy(key: Uint8Array, now: number): Uint8Array | undefined {
    const l = this.slots.get(toHex(key))?.legacy
    return l && l.expires > now ? l.value : undefined
  }

  /** Every key with at least one live signed record or provider (for replication to new closer nodes). */
  *entries(now: number): Iterable<{ key: Uint8Array; records: SignedRecord[]; providers: SignedProvider[] }> {
    for (const s of this.slots.values()) {
      const records = [...s.records.values()].filter((r) => r.expires > now)
      const providers = [...s.providers.values()].filter((p) => p.expires > now)
      if (records.length + providers.length > 0) yield { key: s.key, records, providers }
    }
  }

  /** Drops everything expired; returns how many entries went. */
  cleanup(now: number): number {
    let n = 0
    for (const [hex, s] of this.slots) {
      for (const [pub, r] of s.records) if (r.expires <= now) { this.#dropRecord(s, pub); n++ }
      for (const [pub, p] of s.providers) if (p.expires <= now) { this.#dropProvider(s, pub); n++ }
      if (s.legacy && s.legacy.expires <= now) {
        this.#bytes -= s.legacy.value.byteLength + RECORD_OVERHEAD
        delete s.legacy
        this.onDelete(s.key, 2, new Uint8Array(0))
        n++
      }
      if (s.records.size + s.providers.size === 0 && !s.legacy) this.slots.delete(hex)
    }
    return n
  }

  // ---- persistence hooks (no-ops here) ----
  protected onRecord(_r: SignedRecord): void {}
  protected onProvider(_p: SignedProvider): void {}
  protected onLegacy(_key: Uint8Array, _value: Uint8Array, _expires: number): void {}
  /** kind: 0 value, 1 provider, 2 legacy */
  protected onDelete(_key: Uint8Array, _kind: 0 | 1 | 2, _publisher: Uint8Array): void {}

  flush(): void {}
  close(): void {}

  /** Loads without firing persistence hooks (used when reading back from disk). */
  protected loadRecord(r: SignedRecord): void {
    const slot = this.#slot(r.key)
    const pub = toHex(r.publisher)
    slot.records.set(pub, r)
    slot.since.set(`v${pub}`, 0)
    this.#charge(pub, r.value.byteLength + RECORD_OVERHEAD)
  }
  protected loadProvider(p: SignedProvider): void {
    const slot = this.#slot(p.key)
    const pub = toHex(p.publisher)
    slot.providers.set(pub, p)
    slot.since.set(`p${pub}`, 0)
    this.#charge(pub, providerBytes(p))
  }
  protected loadLegacy(key: Uint8Array, value: Uint8Array, expires: number): void {
    this.#slot(key).legacy = { value, expires }
    this.#bytes += value.byteLength + RECORD_OVERHEAD
  }

  #slot(key: Uint8Array): Slot {
    const hex = toHex(key)
    let s = this.slots.get(hex)
    if (!s) { s = { key: key.slice(), records: new Map(), providers: new Map(), since: new Map() }; this.slots.set(hex, s) }
    return s
  }

  /** Whether `delta` more bytes for publisher `pub` fit: our own always fit, others within the store and their share. */
  #roomFor(pub: string, delta: number): boolean {
    if (delta <= 0 || pub === this.#self) return true
    if (this.#bytes + delta > this.#maxBytes) return false
    return (this.#pubBytes.get(pub) ?? 0) + delta <= this.#maxPublisherBytes
  }

  #charge(pub: string, delta: number): void {
    this.#bytes += delta
    const n = (this.#pubBytes.get(pub) ?? 0) + delta
    if (n > 0) this.#pubBytes.set(pub, n); else this.#pubBytes.delete(pub)
  }

  /**
   * The entry of a full per-key map that a newcomer from `pub` may replace, or undefined when it ranks below all.
   * An expired entry always goes first; our own never goes; otherwise the lowest (standing, then the newest) goes,
   * and only if the newcomer's standing is strictly higher, because the newcomer is the newest of all.
   */
  #victim<T extends { expires: number; publisher: Uint8Array }>(slot: Slot, m: Map<string, T>, publisher: Uint8Array, pub: string, now: number): string | undefined {
    const tag = m === (slot.records as Map<string, unknown>) ? 'v' : 'p'
    let worst: { pub: string; standing: number; since: number } | undefined
    for (const [k, e] of m) {
      if (k === this.#self) continue
      if (e.expires <= now) return k
      const standing = this.#standing(e.publisher)
      const since = slot.since.get(`${tag}${k}`) ?? 0
      if (!worst || standing < worst.standing || (standing === worst.standing && since > worst.since)) worst = { pub: k, standing, since }
    }
    if (!worst) return undefined
    if (pub === this.#self) return worst.pub
    return this.#standing(publisher) > worst.standing ? worst.pub : undefined
  }

  #dropRecord(s: Slot, pub: string): void {
    const r = s.records.get(pub)
    if (!r) return
    s.records.delete(pub)
    s.since.delete(`v${pub}`)
    this.#charge(pub, -(r.value.byteLength + RECORD_OVERHEAD))
    this.onDelete(s.key, 0, r.publisher)
  }

  #dropProvider(s: Slot, pub: string): void {
    const p = s.providers.get(pub)
    if (!p) return
    s.providers.delete(pub)
    s.since.delete(`p${pub}`)
    this.#charge(pub, -providerBytes(p))
    this.onDelete(s.key, 1, p.publisher)
  }
}

function providerBytes(p: SignedProvider): number {
  return PROVIDER_OVERHEAD + (p.data?.byteLength ?? 0)
}
