/**
 * SQLite persistence for the record store and the known-peer list: `<dataDir>/dht.sqlite` in WAL mode. Records
 * live in memory for lookups and are written behind in batches (one transaction per flush, never one commit per
 * message). The `dht_store` table is the seed's (key, value, timestamp, ttl) plus signature, seq, publisher,
 * expiry and provider columns. Routing-table contacts (`dht_peers`) are written behind with the records as the table
 * changes; our own publications (`dht_published`) are written at once.
 */
import Database from 'better-sqlite3'
import type { Clock } from '../interfaces/clock.js'
import { systemClock } from '../interfaces/clock.js'
import { fromHex, toHex } from '../util/bytes.js'
import { decode, encode } from '../wire/cbor.js'
import { endpointField } from './record.js'
import type { SignedProvider, SignedRecord } from './record.js'
import { MemoryRecordStore, type RecordStoreInit } from './store.js'
import type { Endpoint } from '../interfaces/link.js'
import { openPrivateDatabase } from '../util/private-db.js'
import type { Contact } from './contact.js'
import type { DhtPersistence, PublishedEntry } from './persist.js'

export interface SqliteRecordStoreInit extends RecordStoreInit {
  clock?: Clock
  /** Write-behind delay. @default 250 */
  flushDelayMs?: number
  /** Flush at once when this many writes are pending. @default 1000 */
  flushBatch?: number
}

export interface PersistedPeer { nodeId: Uint8Array; addr: Endpoint; lastSeen: number }

const SCHEMA = `
CREATE TABLE IF NOT EXISTS dht_store (
  key TEXT NOT NULL,
  value BLOB NOT NULL,
  timestamp REAL NOT NULL,
  ttl INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  publisher BLOB NOT NULL,
  signature BLOB,
  seq INTEGER NOT NULL DEFAULT 0,
  expires INTEGER NOT NULL,
  provider BLOB,
  PRIMARY KEY (key, kind, publisher)
);
CREATE INDEX IF NOT EXISTS dht_store_expires ON dht_store(expires);
CREATE TABLE IF NOT EXISTS dht_peers (
  node_id BLOB PRIMARY KEY,
  host TEXT NOT NULL,
  port INTEGER NOT NULL,
  last_seen INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dht_published (
  key TEXT NOT NULL,
  kind INTEGER NOT NULL,
  data BLOB,
  seq INTEGER NOT NULL,
  PRIMARY KEY (key, kind)
);`

type Row = { key: string; value: Buffer; kind: number; publisher: Buffer; signature: Buffer | null; seq: number; expires: number; provider: Buffer | null }
type Op = { del: false; row: Omit<Row, 'value' | 'publisher' | 'signature' | 'provider'> & { value: Uint8Array; publisher: Uint8Array; signature: Uint8Array | null; provider: Uint8Array | null } } | { del: true; key: string; kind: number; publisher: Uint8Array }

const EMPTY = new Uint8Array(0)

/** Saved publications loaded at most (a bound on what a corrupted or hostile file can make us allocate). */
const MAX_PUBLISHED_ROWS = 100_000
const MAX_PUBLISHED_DATA = 65_536

type PeerOp = { del: false; peer: PersistedPeer } | { del: true; nodeId: Uint8Array }

export class SqliteRecordStore extends MemoryRecordStore implements DhtPersistence {
  readonly #db: Database.Database
  readonly #clock: Clock
  readonly #delay: number
  readonly #batch: number
  #pending = new Map<string, Op>()
  #peerOps = new Map<string, PeerOp>()
  #timer: { cancel(): void } | undefined
  #closed = false
  readonly #upsert: Database.Statement
  readonly #delete: Database.Statement
  readonly #putPeer: Database.Statement
  readonly #delPeer: Database.Statement

  constructor(file: string, init: SqliteRecordStoreInit = {}) {
    super(init)
    this.#clock = init.clock ?? systemClock
    this.#delay = init.flushDelayMs ?? 250
    this.#batch = init.flushBatch ?? 1000
    // 0600 whatever the umask (and its -wal/-shm with it): records and peers are the owner's
    this.#db = openPrivateDatabase(file)
    this.#db.pragma('journal_mode = WAL')
    this.#db.pragma('synchronous = NORMAL')
    this.#db.exec(SCHEMA)
    this.#upsert = this.#db.prepare(`INSERT INTO dht_store (key, value, timestamp, ttl, kind, publisher, signature, seq, expires, provider)
      VALUES (@key, @value, @timestamp, @ttl, @kind, @publisher, @signature, @seq, @expires, @provider)
      ON CONFLICT (key, kind, publisher) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp, ttl = excluded.ttl,
      signature = excluded.signature, seq = excluded.seq, expires = excluded.expires, provider = excluded.provider`)
    this.#delete = this.#db.prepare('DELETE FROM dht_store WHERE key = ? AND kind = ? AND publisher = ?')
    this.#putPeer = this.#db.prepare('INSERT OR REPLACE INTO dht_peers (node_id, host, port, last_seen) VALUES (?, ?, ?, ?)')
    this.#delPeer = this.#db.prepare('DELETE FROM dht_peers WHERE node_id = ?')
    this.#load()
  }

  #load(): void {
    const now = this.#clock.now()
    this.#db.prepare('DELETE FROM dht_store WHERE expires <= ?').run(now)
    for (const row of this.#db.prepare('SELECT key, value, kind, publisher, signature, seq, expires, provider FROM dht_store').iterate() as Iterable<Row>) {
      try {
        const key = fromHex(row.key)
        if (row.kind === 0 && row.signature) {
          this.loadRecord({ key, value: new Uint8Array(row.value), seq: row.seq, expires: row.expires, publisher: new Uint8Array(row.publisher), sig: new Uint8Array(row.signature) })
        } else if (row.kind === 1 && row.signature && row.provider) {
          const addrs = (decode(row.provider, { maxDepth: 3, maxItems: 8, maxStringBytes: 300 }) as unknown[]).map((a, i) => endpointField(a, `addr ${i}`))
          const p: SignedProvider = { key, publisher: new Uint8Array(row.publisher), addrs, expires: row.expires, sig: new Uint8Array(row.signature) }
          if (row.value.byteLength > 0) p.data = new Uint8Array(row.value)
          this.loadProvider(p)
        } else if (row.kind === 2) {
          this.loadLegacy(key, new Uint8Array(row.value), row.expires)
        }
      } catch { /* a corrupt row is skipped; cleanup will not resurrect it */ }
    }
  }

  protected override onRecord(r: SignedRecord): void {
    this.#queue({ del: false, row: { key: toHex(r.key), value: r.value, kind: 0, publisher: r.publisher, signature: r.sig, seq: r.seq, expires: r.expires, provider: null } })
  }

  protected override onProvider(p: SignedProvider): void {
    this.#queue({ del: false, row: { key: toHex(p.key), value: p.data ?? EMPTY, kind: 1, publisher: p.publisher, signature: p.sig, seq: 0, expires: p.expires, provider: encode(p.addrs.map((a) => [a.host, a.port])) } })
  }

  protected override onLegacy(key: Uint8Array, value: Uint8Array, expires: number): void {
    this.#queue({ del: false, row: { key: toHex(key), value, kind: 2, publisher: EMPTY, signature: null, seq: 0, expires, provider: null } })
  }

  protected override onDelete(key: Uint8Array, kind: 0 | 1 | 2, publisher: Uint8Array): void {
    this.#queue({ del: true, key: toHex(key), kind, publisher })
  }

  #queue(op: Op): void {
    if (this.#closed) return
    const id = op.del ? `${op.key}/${op.kind}/${toHex(op.publisher)}` : `${op.row.key}/${op.row.kind}/${toHex(op.row.publisher)}`
    this.#pending.delete(id)
    this.#pending.set(id, op)
    this.#schedule()
  }

  #schedule(): void {
    if (this.#pending.size + this.#peerOps.size >= this.#batch) this.flush()
    else if (!this.#timer) this.#timer = this.#clock.setTimeout(() => { this.#timer = undefined; this.flush() }, this.#delay)
  }

  // routing-table changes, written behind with the records (a crash loses at most the last flush delay of them)
  peerAdded(c: Contact): void {
    if (this.#closed || c.legacy) return
    this.#peerOps.set(toHex(c.nodeId), { del: false, peer: { nodeId: c.nodeId, addr: c.addr, lastSeen: c.lastSeen } })
    this.#schedule()
  }

  peerRemoved(nodeId: Uint8Array): void {
    if (this.#closed) return
    this.#peerOps.set(toHex(nodeId), { del: true, nodeId })
    this.#schedule()
  }

  // our own publications: rare, and a put the user saw acknowledged must survive kill -9, so written at once
  savePublished(e: PublishedEntry): void {
    if (this.#closed) return
    this.#db.prepare('INSERT OR REPLACE INTO dht_published (key, kind, data, seq) VALUES (?, ?, ?, ?)')
      .run(toHex(e.key), e.kind === 'value' ? 0 : 1, e.data ? Buffer.from(e.data) : null, e.seq)
  }

  deletePublished(kind: PublishedEntry['kind'], key: Uint8Array): void {
    if (this.#closed) return
    this.#db.prepare('DELETE FROM dht_published WHERE key = ? AND kind = ?').run(toHex(key), kind === 'value' ? 0 : 1)
  }

  loadPublished(): PublishedEntry[] {
    const rows = this.#db.prepare('SELECT key, kind, data, seq FROM dht_published LIMIT ?').all(MAX_PUBLISHED_ROWS) as { key: unknown; kind: unknown; data: unknown; seq: unknown }[]
    const out: PublishedEntry[] = []
    for (const r of rows) {
      // a row we cannot trust is skipped, never half-used
      if (typeof r.key !== 'string' || !/^[0-9a-f]{40}$/.test(r.key) || (r.kind !== 0 && r.kind !== 1) || typeof r.seq !== 'number' || !Number.isSafeInteger(r.seq) || r.seq < 0) continue
      if (r.data !== null && (!Buffer.isBuffer(r.data) || r.data.byteLength > MAX_PUBLISHED_DATA)) continue
      if (r.kind === 0 && r.data === null) continue
      out.push({ kind: r.kind === 0 ? 'value' : 'provider', key: fromHex(r.key), data: r.data === null ? undefined : new Uint8Array(r.data as Buffer), seq: r.seq })
    }
    return out
  }

  /** Forgets saved peers (restored contacts that did not answer while others did). */
  forgetPeers(nodeIds: Uint8Array[]): void {
    if (this.#closed || nodeIds.length === 0) return
    this.#db.transaction(() => { for (const id of nodeIds) this.#delPeer.run(Buffer.from(id)) })()
  }

  /** Writes every pending change in one transaction. */
  override flush(): void {
    this.#timer?.cancel()
    this.#timer = undefined
    if (this.#closed || this.#pending.size + this.#peerOps.size === 0) return
    const ops = [...this.#pending.values()]
    const peerOps = [...this.#peerOps.values()]
    this.#pending.clear()
    this.#peerOps.clear()
    const now = this.#clock.now()
    this.#db.transaction(() => {
      for (const op of peerOps) {
        if (op.del) this.#delPeer.run(Buffer.from(op.nodeId))
        else this.#putPeer.run(Buffer.from(op.peer.nodeId), op.peer.addr.host, op.peer.addr.port, op.peer.lastSeen)
      }
      for (const op of ops) {
        if (op.del) { this.#delete.run(op.key, op.kind, Buffer.from(op.publisher)); continue }
        const r = op.row
        this.#upsert.run({
          key: r.key, value: Buffer.from(r.value), timestamp: now / 1000, ttl: Math.max(0, Math.round((r.expires - now) / 1000)),
          kind: r.kind, publisher: Buffer.from(r.publisher), signature: r.signature ? Buffer.from(r.signature) : null,
          seq: r.seq, expires: r.expires, provider: r.provider ? Buffer.from(r.provider) : null,
        })
      }
    })()
  }

  /** Replaces the persisted known-peer list (bounded by the caller). */
  savePeers(peers: PersistedPeer[]): void {
    if (this.#closed) return
    this.#peerOps.clear()
    this.#db.transaction(() => {
      this.#db.exec('DELETE FROM dht_peers')
      for (const p of peers) this.#putPeer.run(Buffer.from(p.nodeId), p.addr.host, p.addr.port, p.lastSeen)
    })()
  }

  loadPeers(limit = 1000): PersistedPeer[] {
    const rows = this.#db.prepare('SELECT node_id, host, port, last_seen FROM dht_peers ORDER BY last_seen DESC LIMIT ?').all(limit) as { node_id: Buffer; host: string; port: number; last_seen: number }[]
    const out: PersistedPeer[] = []
    for (const r of rows) {
      if (r.node_id.byteLength !== 32) continue
      try { out.push({ nodeId: new Uint8Array(r.node_id), addr: endpointField([r.host, r.port], 'peer'), lastSeen: r.last_seen }) } catch { /* skip corrupt row */ }
    }
    return out
  }

  override close(): void {
    if (this.#closed) return
    this.flush()
    this.#closed = true
    this.#db.close()
  }
}
