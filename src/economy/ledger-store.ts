/**
 * The credit ledger on SQLite (WAL): per-peer accounts in bigint micro-credits, a transaction log, the latest
 * cheques, recorded divergences and trust scores. Writes are group-committed: callers mutate in-memory state and
 * queue log rows; `flush()` writes everything pending in ONE transaction (metering is aggregated per
 * (peer, kind, service) per batch). A crash loses at most the un-flushed batch and never leaves a partial one, so
 * on reopen every account equals the sum of its log rows (test/economy/ledger-kill.test.ts checks this after
 * SIGKILL). An unclean shutdown is detected (meta.open) and counted in meta.recoveries, which the reconciliation
 * uses to explain counters that went back.
 */
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { toHex } from '../util/bytes.js'
import { openPrivateDatabase } from '../util/private-db.js'
import { LedgerError } from './errors.js'

/**
 * One peer's account. balance (what the peer owes us) = served + charged - consumed - billed - paidIn + paidOut.
 * served/consumed: symmetric wire metering (reconciled by claims); charged/billed: service charges, priced by the
 * provider (billed follows the provider's signed statements).
 */
export interface Account {
  /** Credits we delivered to the peer (metered + service charges + accepted adjustments). */
  served: bigint
  /** Credits the peer delivered to us. */
  consumed: bigint
  /** Service charges we billed the peer (we provided the service). */
  charged: bigint
  /** Service charges the peer billed us. */
  billed: bigint
  /** Cumulative amount of the latest cheque the peer gave us. */
  paidIn: bigint
  /** Cumulative amount of the latest cheque we gave the peer. */
  paidOut: bigint
  inSerial: bigint
  outSerial: bigint
  /** `served` as last attested by the peer (BALANCE_ACK). */
  confirmedServed: bigint
  /** meta.recoveries when the peer last attested our counter. */
  confirmedRecovery: bigint
}

export type TxKind = 'served' | 'consumed' | 'charged' | 'billed' | 'cheque_in' | 'cheque_out' | 'adjust'

export interface TxRow { ts: number; peer: Uint8Array; kind: TxKind; service: string; units: bigint; amount: bigint; count: number; note: string }

export interface DivergenceRow { ts: number; peer: Uint8Array; side: 'claimant' | 'attester'; claimed: bigint; attested: bigint; reason: string; accepted: boolean }

export interface ChequeRow { debtor: Uint8Array; creditor: Uint8Array; serial: bigint; amount: bigint; expires: bigint; bytes: Uint8Array; status: 'active' | 'redeemed' | 'defaulted'; updated: number }

export interface TrustRow { peer: Uint8Array; score: number; lastMs: number; blacklisted: boolean; events: number; reason: string }

export interface LedgerStoreInit {
  /** Time source for log rows. */
  now?: () => number
  /** Accounts kept in memory when not dirty. @default 100000 */
  maxCachedAccounts?: number
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accounts(peer BLOB PRIMARY KEY, served INTEGER NOT NULL, consumed INTEGER NOT NULL,
  charged INTEGER NOT NULL, billed INTEGER NOT NULL,
  paid_in INTEGER NOT NULL, paid_out INTEGER NOT NULL, in_serial INTEGER NOT NULL, out_serial INTEGER NOT NULL,
  confirmed_served INTEGER NOT NULL, confirmed_recovery INTEGER NOT NULL, updated INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS txlog(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, peer BLOB NOT NULL, kind TEXT NOT NULL,
  service TEXT NOT NULL, units INTEGER NOT NULL, amount INTEGER NOT NULL, count INTEGER NOT NULL, note TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS txlog_peer ON txlog(peer, id);
CREATE TABLE IF NOT EXISTS cheques(debtor BLOB NOT NULL, creditor BLOB NOT NULL, serial INTEGER NOT NULL,
  amount INTEGER NOT NULL, expires INTEGER NOT NULL, bytes BLOB NOT NULL, status TEXT NOT NULL, updated INTEGER NOT NULL,
  PRIMARY KEY(debtor, creditor)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS divergences(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, peer BLOB NOT NULL, side TEXT NOT NULL,
  claimed INTEGER NOT NULL, attested INTEGER NOT NULL, reason TEXT NOT NULL, accepted INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS trust(peer BLOB PRIMARY KEY, score REAL NOT NULL, last_ms INTEGER NOT NULL,
  blacklisted INTEGER NOT NULL, events INTEGER NOT NULL, reason TEXT NOT NULL) WITHOUT ROWID;
`

const hexCache = new WeakMap<Uint8Array, string>()

const emptyAccount = (): Account => ({ served: 0n, consumed: 0n, charged: 0n, billed: 0n, paidIn: 0n, paidOut: 0n, inSerial: 0n, outSerial: 0n, confirmedServed: 0n, confirmedRecovery: 0n })

interface Cached { peer: Uint8Array; acct: Account; dirty: boolean; agg: Map<string, Agg> | undefined }
interface Agg { peer: Uint8Array; kind: TxKind; service: string; units: bigint; amount: bigint; count: number }

export class LedgerStore {
  readonly file: string
  /** Unclean shutdowns seen so far (this open included). */
  readonly recoveries: bigint
  /** True when this open found the previous run ended uncleanly. */
  readonly recovered: boolean
  #db: Database.Database
  #now: () => number
  #maxCached: number
  #accounts = new Map<string, Cached>()
  #agg: Agg[] = []
  #rows: TxRow[] = []
  #divergences: DivergenceRow[] = []
  #cheques = new Map<string, ChequeRow>()
  #trust = new Map<string, TrustRow>()
  #pending = 0
  #closed = false
  #stmts: ReturnType<LedgerStore['prepare']>

  private constructor(file: string, db: Database.Database, init: LedgerStoreInit) {
    this.file = file
    this.#db = db
    this.#now = init.now ?? Date.now
    this.#maxCached = init.maxCachedAccounts ?? 100_000
    db.exec(SCHEMA)
    this.#stmts = this.prepare()
    const open = this.#meta('open')
    this.recovered = open === 1n
    this.recoveries = (this.#meta('recoveries') ?? 0n) + (this.recovered ? 1n : 0n)
    db.transaction(() => { this.#setMeta('recoveries', this.recoveries); this.#setMeta('open', 1n) })()
  }

  static open(file: string, init: LedgerStoreInit = {}): LedgerStore {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    // 0600 whatever the umask (and its -wal/-shm with it): the ledger is the owner's
    const db = openPrivateDatabase(file)
    try {
      db.pragma('journal_mode = WAL')
      // WAL + NORMAL: a process crash (kill -9) never loses a committed transaction; only power loss may drop the last ones.
      db.pragma('synchronous = NORMAL')
      db.defaultSafeIntegers(true)
      return new LedgerStore(file, db, init)
    } catch (err) {
      db.close()
      throw new LedgerError('ledger_open', `cannot open ledger ${file}: ${(err as Error).message}`, { cause: err })
    }
  }

  private prepare() {
    const db = this.#db
    return {
      getAccount: db.prepare('SELECT * FROM accounts WHERE peer = ?'),
      putAccount: db.prepare(`INSERT INTO accounts VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(peer) DO UPDATE SET served=excluded.served,
        consumed=excluded.consumed, charged=excluded.charged, billed=excluded.billed, paid_in=excluded.paid_in, paid_out=excluded.paid_out, in_serial=excluded.in_serial,
        out_serial=excluded.out_serial, confirmed_served=excluded.confirmed_served, confirmed_recovery=excluded.confirmed_recovery, updated=excluded.updated`),
      putTx: db.prepare('INSERT INTO txlog(ts, peer, kind, service, units, amount, count, note) VALUES (?,?,?,?,?,?,?,?)'),
      putDiv: db.prepare('INSERT INTO divergences(ts, peer, side, claimed, attested, reason, accepted) VALUES (?,?,?,?,?,?,?)'),
      putCheque: db.prepare('INSERT OR REPLACE INTO cheques VALUES (?,?,?,?,?,?,?,?)'),
      getCheque: db.prepare('SELECT * FROM cheques WHERE debtor = ? AND creditor = ?'),
      putTrust: db.prepare('INSERT OR REPLACE INTO trust VALUES (?,?,?,?,?,?)'),
      getTrust: db.prepare('SELECT * FROM trust WHERE peer = ?'),
      getMeta: db.prepare('SELECT v FROM meta WHERE k = ?'),
      putMeta: db.prepare('INSERT OR REPLACE INTO meta VALUES (?, ?)'),
    }
  }

  #meta(k: string): bigint | undefined {
    const r = this.#stmts.getMeta.get(k) as { v: bigint } | undefined
    return r?.v
  }
  #setMeta(k: string, v: bigint): void { this.#stmts.putMeta.run(k, v) }

  #check(): void { if (this.#closed) throw new LedgerError('ledger_closed', 'ledger is closed') }

  /** Entries waiting for the next flush. */
  get pending(): number { return this.#pending }
  get closed(): boolean { return this.#closed }

  /** The peer's account (a live object: mutate it only through the methods below). */
  account(peer: Uint8Array): Account { return this.#cached(peer).acct }

  /** Hex key of a peer id, memoised per Uint8Array instance (links hand the same nodeId object every time). */
  #key(peer: Uint8Array): string {
    let k = hexCache.get(peer)
    if (k === undefined) { k = toHex(peer); hexCache.set(peer, k) }
    return k
  }

  #cached(peer: Uint8Array): Cached {
    this.#check()
    const k = this.#key(peer)
    let c = this.#accounts.get(k)
    if (c) return c
    const r = this.#stmts.getAccount.get(peer) as Record<string, bigint> | undefined
    const acct = r
      ? { served: r.served!, consumed: r.consumed!, charged: r.charged!, billed: r.billed!, paidIn: r.paid_in!, paidOut: r.paid_out!, inSerial: r.in_serial!, outSerial: r.out_serial!, confirmedServed: r.confirmed_served!, confirmedRecovery: r.confirmed_recovery! }
      : emptyAccount()
    c = { peer: new Uint8Array(peer), acct, dirty: false, agg: undefined }
    this.#accounts.set(k, c)
    return c
  }

  /** Marks an account changed so the next flush writes it; returns it for mutation. */
  touch(peer: Uint8Array): Account {
    const c = this.#cached(peer)
    c.dirty = true
    return c.acct
  }

  /** Records metered usage or a service charge (aggregated per batch) and adds `amount` to the counter `kind`. */
  meter(peer: Uint8Array, kind: 'served' | 'consumed' | 'charged' | 'billed', service: string, units: bigint, amount: bigint): void {
    const c = this.#cached(peer)
    c.dirty = true
    const acct = c.acct
    acct[kind] += amount
    // aggregated per (peer, kind, service) until the next flush
    const aggs = c.agg ?? (c.agg = new Map())
    const key = `${kind}\u0000${service}`
    const a = aggs.get(key)
    if (a) { a.units += units; a.amount += amount; a.count++ }
    else {
      const row = { peer: c.peer, kind, service, units, amount, count: 1 }
      aggs.set(key, row)
      this.#agg.push(row)
    }
    this.#pending++
  }

  /** Appends one log row (cheques, adjustments); the caller has already applied it to the account. */
  log(peer: Uint8Array, kind: TxKind, amount: bigint, note: string, service = ''): void {
    this.touch(peer)
    this.#rows.push({ ts: this.#now(), peer: new Uint8Array(peer), kind, service, units: 0n, amount, count: 1, note })
    this.#pending++
  }

  divergence(row: Omit<DivergenceRow, 'ts'>): void {
    this.#check()
    this.#divergences.push({ ...row, ts: this.#now() })
    this.#pending++
  }

  putCheque(row: ChequeRow): void {
    this.#check()
    this.#cheques.set(`${toHex(row.debtor)}|${toHex(row.creditor)}`, row)
    this.#pending++
  }

  getCheque(debtor: Uint8Array, creditor: Uint8Array): ChequeRow | undefined {
    this.#check()
    const p = this.#cheques.get(`${toHex(debtor)}|${toHex(creditor)}`)
    if (p) return p
    const r = this.#stmts.getCheque.get(debtor, creditor) as Record<string, unknown> | undefined
    return r ? chequeFromRow(r) : undefined
  }

  listCheques(): ChequeRow[] {
    this.flush()
    return (this.#db.prepare('SELECT * FROM cheques ORDER BY updated DESC LIMIT 10000').all() as Record<string, unknown>[]).map(chequeFromRow)
  }

  putTrust(row: TrustRow): void {
    this.#check()
    this.#trust.set(toHex(row.peer), row)
    this.#pending++
  }

  getTrust(peer: Uint8Array): TrustRow | undefined {
    this.#check()
    const p = this.#trust.get(toHex(peer))
    if (p) return p
    const r = this.#stmts.getTrust.get(peer) as Record<string, unknown> | undefined
    if (!r) return undefined
    return { peer: new Uint8Array(r.peer as Uint8Array), score: Number(r.score), lastMs: Number(r.last_ms), blacklisted: r.blacklisted === 1n, events: Number(r.events), reason: String(r.reason) }
  }

  /** Writes everything pending in one transaction. */
  flush(): void {
    this.#check()
    if (this.#pending === 0 && ![...this.#accounts.values()].some((c) => c.dirty)) return
    const s = this.#stmts
    const now = this.#now()
    this.#db.transaction(() => {
      for (const a of this.#agg) s.putTx.run(now, a.peer, a.kind, a.service, a.units, a.amount, a.count, '')
      for (const r of this.#rows) s.putTx.run(r.ts, r.peer, r.kind, r.service, r.units, r.amount, r.count, r.note)
      for (const d of this.#divergences) s.putDiv.run(d.ts, d.peer, d.side, d.claimed, d.attested, d.reason, d.accepted ? 1 : 0)
      for (const c of this.#cheques.values()) s.putCheque.run(c.debtor, c.creditor, c.serial, c.amount, c.expires, c.bytes, c.status, c.updated)
      for (const t of this.#trust.values()) s.putTrust.run(t.peer, t.score, t.lastMs, t.blacklisted ? 1 : 0, t.events, t.reason)
      for (const c of this.#accounts.values()) {
        if (!c.dirty) continue
        const a = c.acct
        s.putAccount.run(c.peer, a.served, a.consumed, a.charged, a.billed, a.paidIn, a.paidOut, a.inSerial, a.outSerial, a.confirmedServed, a.confirmedRecovery, now)
      }
    })()
    this.#agg = []; this.#rows = []; this.#divergences = []; this.#cheques.clear(); this.#trust.clear()
    for (const c of this.#accounts.values()) { c.dirty = false; c.agg = undefined }
    this.#pending = 0
    if (this.#accounts.size > this.#maxCached) this.#accounts.clear()
  }

  /** Read-only SQL for reports and tests (flushes first). */
  query<T = Record<string, unknown>>(sql: string, ...params: unknown[]): T[] {
    this.flush()
    return this.#db.prepare(sql).all(...params) as T[]
  }

  /** Flushes and marks a clean shutdown. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.flush()
    this.#db.transaction(() => this.#setMeta('open', 0n))()
    this.#closed = true
    this.#db.close()
  }

  /** Test hook: drops everything un-flushed and closes without the clean-shutdown mark (what kill -9 does). */
  crash(): void {
    if (this.#closed) return
    this.#closed = true
    this.#db.close()
  }
}

function chequeFromRow(r: Record<string, unknown>): ChequeRow {
  return {
    debtor: new Uint8Array(r.debtor as Uint8Array), creditor: new Uint8Array(r.creditor as Uint8Array),
    serial: r.serial as bigint, amount: r.amount as bigint, expires: r.expires as bigint,
    bytes: new Uint8Array(r.bytes as Uint8Array), status: r.status as ChequeRow['status'], updated: Number(r.updated),
  }
}
