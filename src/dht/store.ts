/**
 * The record store: signed values (one slot per key and publisher, higher seq wins), provider records (one slot
 * per key and provider, capped per key), and v0 legacy values kept apart. This in-memory version is what the
 * simulator uses; SqliteRecordStore (store-sqlite.ts) adds write-behind persistence on top of it.
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
}

interface Slot {
  key: Uint8Array
  records: Map<string, SignedRecord>
  providers: Map<string, SignedProvider>
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

  constructor(init: RecordStoreInit = {}) {
    this.#maxRecords = init.maxRecordsPerKey ?? 16
    this.#maxProviders = init.maxProvidersPerKey ?? 64
    this.#maxBytes = init.maxBytes ?? 128 * 1024 * 1024
  }

  get bytes(): number { return this.#bytes }
  get keyCount(): number { return this.slots.size }

  /** Stores a verified record. Same publisher: higher seq wins, equal seq keeps the later expiry. */
  putRecord(r: SignedRecord, now: number): PutResult {
    if (r.expires <= now) return 'stale'
    const slot = this.#slot(r.key)
    const pub = toHex(r.publisher)
    const cur = slot.records.get(pub)
    if (cur) {
      if (r.seq < cur.seq || (r.seq === cur.seq && r.expires <= cur.expires)) return r.seq === cur.seq && r.expires === cur.expires ? 'unchanged' : 'stale'
    } else if (slot.records.size >= this.#maxRecords) {
      const victim = this.#earliest(slot.records)
      if (!victim || victim[1].expires >= r.expires) return 'full'
      this.#dropRecord(slot, victim[0])
    }
    const delta = r.value.byteLength + RECORD_OVERHEAD - (cur ? cur.value.byteLength + RECORD_OVERHEAD : 0)
    if (this.#bytes + delta > this.#maxBytes) return 'full'
    this.#bytes += delta
    slot.records.set(pub, r)
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
    if (cur) {
      if (p.expires <= cur.expires) return p.expires === cur.expires ? 'unchanged' : 'stale'
    } else if (slot.providers.size >= this.#maxProviders) {
      const victim = this.#earliest(slot.providers)
      if (!victim || victim[1].expires >= p.expires) return 'full'
      this.#dropProvider(slot, victim[0])
    }
    const delta = providerBytes(p) - (cur ? providerBytes(cur) : 0)
    if (this.#bytes + delta > this.#maxBytes) return 'full'
    this.#bytes += delta
    slot.providers.set(pub, p)
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
    slot.records.set(toHex(r.publisher), r)
    this.#bytes += r.value.byteLength + RECORD_OVERHEAD
  }
  protected loadProvider(p: SignedProvider): void {
    const slot = this.#slot(p.key)
    slot.providers.set(toHex(p.publisher), p)
    this.#bytes += providerBytes(p)
  }
  protected loadLegacy(key: Uint8Array, value: Uint8Array, expires: number): void {
    this.#slot(key).legacy = { value, expires }
    this.#bytes += value.byteLength + RECORD_OVERHEAD
  }

  #slot(key: Uint8Array): Slot {
    const hex = toHex(key)
    let s = this.slots.get(hex)
    if (!s) { s = { key: key.slice(), records: new Map(), providers: new Map() }; this.slots.set(hex, s) }
    return s
  }

  #earliest<T extends { expires: number }>(m: Map<string, T>): [string, T] | undefined {
    let best: [string, T] | undefined
    for (const e of m) if (!best || e[1].expires < best[1].expires) best = e
    return best
  }

  #dropRecord(s: Slot, pub: string): void {
    const r = s.records.get(pub)
    if (!r) return
    s.records.delete(pub)
    this.#bytes -= r.value.byteLength + RECORD_OVERHEAD
    this.onDelete(s.key, 0, r.publisher)
  }

  #dropProvider(s: Slot, pub: string): void {
    const p = s.providers.get(pub)
    if (!p) return
    s.providers.delete(pub)
    this.#bytes -= providerBytes(p)
    this.onDelete(s.key, 1, p.publisher)
  }
}

function providerBytes(p: SignedProvider): number {
  return PROVIDER_OVERHEAD + (p.data?.byteLength ?? 0)
}
