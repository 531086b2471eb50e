/**
 * The credit ledger on SQLite (WAL): per-peer accounts in bigint micro-credits, a transaction log, the latest
 * cheques, recorded divergences and trust scores. Writes are group-committed: callers mutate in-memory state and
 * queue log rows; `flush()` writes everything pending in ONE transaction (metering is aggregated per
 * (peer, kind, service) per batch). A crash loses at most the un-flushed batch and never leaves a partial one, so
 * on reopen every account equals the sum of its log rows (test/economy/ledger-kill.test.ts checks this after
 * SIGKILL). An unclean shutdown is detected (meta.open) and counted in meta.recoveries, which the reconciliation
 * uses to explain counters that went back.
 *
 * Every value is checked against what SQLite INTEGER holds (int64) before it is queued, so no row can make a
 * flush fail; should one still fail (a disk error, a fault), flush() retries peer by peer, saves every other
 * peer's entries, keeps the failed ones pending for the next flush, counts and reports the failure, and throws
 * LedgerError('ledger_flush'). close() never throws; a close that could not save everything is left unclean.
 *
 * Why this file is long: the group commit (pending entries, per-peer groups, one transaction, the peer-by-peer
 * fallback) keeps one invariant, every account equals the sum of its log rows, and reads best in one place; the
 * schema, row shapes and statements are in ledger-rows.ts.
 */
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { toHex } from '../util/bytes.js'
import { openPrivateDatabase } from '../util/private-db.js'
import { LedgerError } from './errors.js'
import { accountFromRow, checkStorable, chequeFromRow, emptyAccount, migrate, prepareStatements, SCHEMA, type LedgerStatements, type Account, type ChequeRow, type DivergenceRow, type TrustRow, type TxKind, type TxRow } from './ledger-rows.js'

export interface LedgerStoreInit {
  /** Time source for log rows. */
  now?: () => number
  /** Accounts kept in memory when not dirty. @default 100000 */
  maxCachedAccounts?: number
  /** Called after a flush that could not save everything (the failed entries stay pending). */
  onFlushError?: (err: Error, failedPeers: number) => void
}

const hexCache = new WeakMap<Uint8Array, string>()


interface Cached { peer: Uint8Array; acct: Account; dirty: boolean; agg: Map<string, Agg> | undefined }
interface Agg { peer: Uint8Array; kind: TxKind; service: string; units: bigint; amount: bigint; count: number }
interface Group { key: string; account: Cached | undefined; aggs: Agg[]; rows: TxRow[]; divergences: DivergenceRow[]; cheques: Array<[string, ChequeRow]>; trust: Array<[string, TrustRow]> }

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
  #flushFailures = 0
  #onFlushError: ((err: Error, failedPeers: number) => void) | undefined
  #stmts: LedgerStatements

  private constructor(file: string, db: Database.Database, init: LedgerStoreInit) {
    this.file = file
    this.#db = db
    this.#now = init.now ?? Date.now
    this.#maxCached = init.maxCachedAccounts ?? 100_000
    this.#onFlushError = init.onFlushError
    db.exec(SCHEMA)
    migrate(db)
    this.#stmts = prepareStatements(db)
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

  #meta(k: string): bigint | undefined {
    const r = this.#stmts.getMeta.get(k) as { v: bigint } | undefined
    return r?.v
  }
  #setMeta(k: string, v: bigint): void { this.#stmts.putMeta.run(k, v) }

  #check(): void { if (this.#closed) throw new LedgerError('ledger_closed', 'ledger is closed') }

  /** Entries waiting for the next flush. */
  get pending(): number { return this.#pending }
  get closed(): boolean { return this.#closed }
  /** Flushes that could not save everything, since open. */
  get flushFailures(): number { return this.#flushFailures }
  /** Sets the flush-failure hook (the engine logs and counts it). */
  set onFlushError(f: ((err: Error, failedPeers: number) => void) | undefined) { this.#onFlushError = f }

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
    const acct = r ? accountFromRow(r) : emptyAccount()
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
    const acct = c.acct
    // checked before anything changes: a counter past int64 would make every later flush of this peer fail
    checkStorable(units, 'units'); checkStorable(amount, 'amount')
    checkStorable(acct[kind] + amount, kind)
    if (kind === 'billed') checkStorable(acct.billedEst + amount, 'billed estimate')
    const prev = c.agg?.get(`${kind}\u0000${service}`)
    if (prev) { checkStorable(prev.units + units, 'units'); checkStorable(prev.amount + amount, 'amount') }
    c.dirty = true
    acct[kind] += amount
    if (kind === 'billed') acct.billedEst += amount
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
    checkStorable(amount, `${kind} amount`, true)
    this.touch(peer)
    this.#rows.push({ ts: this.#now(), peer: new Uint8Array(peer), kind, service, units: 0n, amount, count: 1, note })
    this.#pending++
  }

  divergence(row: Omit<DivergenceRow, 'ts'>): void {
    this.#check()
    checkStorable(row.claimed, 'claimed', true); checkStorable(row.attested, 'attested', true)
    this.#divergences.push({ ...row, ts: this.#now() })
    this.#pending++
  }

  putCheque(row: ChequeRow): void {
    this.#check()
    checkStorable(row.serial, 'cheque serial'); checkStorable(row.amount, 'cheque amount'); checkStorable(row.expires, 'cheque expiry')
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
    this.#flushQuietly()
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

  /**
   * Writes everything pending in one transaction. Should that fail, writes peer by peer (each peer's account with
   * its own log rows, cheques and trust row in one transaction, so an account always equals the sum of its rows):
   * every peer that can be saved is, the rest stays pending, and LedgerError('ledger_flush') is thrown.
   */
  flush(): void {
    this.#check()
    if (this.#pending === 0 && ![...this.#accounts.values()].some((c) => c.dirty)) return
    const everything: Group = {
      key: '', account: undefined, aggs: this.#agg, rows: this.#rows, divergences: this.#divergences,
      cheques: [...this.#cheques], trust: [...this.#trust],
    }
    try {
      this.#db.transaction(() => {
        this.#write(everything)
        for (const c of this.#accounts.values()) if (c.dirty) this.#writeAccount(c)
      })()
      this.#agg = []; this.#rows = []; this.#divergences = []; this.#cheques.clear(); this.#trust.clear()
      for (const c of this.#accounts.values()) { c.dirty = false; c.agg = undefined }
      this.#pending = 0
      if (this.#accounts.size > this.#maxCached) this.#accounts.clear()
      return
    } catch { /* the transaction rolled back: save peer by peer what can be saved */ }
    const done = new Map<string, Group>()
    let first: Error | undefined
    let failed = 0
    for (const [k, g] of this.#groups()) {
      try { this.#db.transaction(() => this.#write(g))(); done.set(k, g) } catch (err) { first ??= err as Error; failed++ }
    }
    this.#committed(done)
    if (failed === 0) return
    this.#flushFailures++
    const e = new LedgerError('ledger_flush', `ledger flush failed for ${failed} peer(s), kept pending for the next flush: ${first?.message ?? 'unknown error'}`, { cause: first })
    try { this.#onFlushError?.(e, failed) } catch { /* a reporting hook must not hide the failure */ }
    throw e
  }

  #flushQuietly(): void {
    try { this.flush() } catch (err) { if (!(err instanceof LedgerError) || err.code !== 'ledger_flush') throw err }
  }

  /** Everything pending, grouped by the peer it belongs to. */
  #groups(): Map<string, Group> {
    const groups = new Map<string, Group>()
    const group = (k: string): Group => {
      let g = groups.get(k)
      if (!g) { g = { key: k, account: undefined, aggs: [], rows: [], divergences: [], cheques: [], trust: [] }; groups.set(k, g) }
      return g
    }
    for (const [k, c] of this.#accounts) if (c.dirty) group(k).account = c
    for (const a of this.#agg) group(this.#key(a.peer)).aggs.push(a)
    for (const r of this.#rows) group(this.#key(r.peer)).rows.push(r)
    for (const d of this.#divergences) group(this.#key(d.peer)).divergences.push(d)
    for (const [ck, c] of this.#cheques) {
      // a cheque belongs with the account of the other party: ours is never an account with a pending group
      const cr = toHex(c.creditor)
      group(groups.has(cr) ? cr : toHex(c.debtor)).cheques.push([ck, c])
    }
    for (const [tk, t] of this.#trust) group(tk).trust.push([tk, t])
    return groups
  }

  #write(g: Group): void {
    const s = this.#stmts
    const now = this.#now()
    for (const a of g.aggs) s.putTx.run(now, a.peer, a.kind, a.service, a.units, a.amount, a.count, '')
    for (const r of g.rows) s.putTx.run(r.ts, r.peer, r.kind, r.service, r.units, r.amount, r.count, r.note)
    for (const d of g.divergences) s.putDiv.run(d.ts, d.peer, d.side, d.claimed, d.attested, d.reason, d.accepted ? 1 : 0)
    for (const [, c] of g.cheques) s.putCheque.run(c.debtor, c.creditor, c.serial, c.amount, c.expires, c.bytes, c.status, c.updated)
    for (const [, t] of g.trust) s.putTrust.run(t.peer, t.score, t.lastMs, t.blacklisted ? 1 : 0, t.events, t.reason)
    if (g.account) this.#writeAccount(g.account)
  }

  #writeAccount(c: Cached): void {
    const a = c.acct
    this.#stmts.putAccount.run(c.peer, a.served, a.consumed, a.charged, a.billed, a.paidIn, a.paidOut, a.inSerial, a.outSerial, a.confirmedServed, a.confirmedRecovery, this.#now(), a.billedEst, a.billedRecovery, a.billedCredit)
  }

  /** Drops the written groups from the pending state. */
  #committed(done: Map<string, Group>): void {
    const gone = <T>(arr: T[], peer: (x: T) => Uint8Array): T[] => arr.filter((x) => !done.has(this.#key(peer(x))))
    this.#agg = gone(this.#agg, (a) => a.peer)
    this.#rows = gone(this.#rows, (r) => r.peer)
    this.#divergences = gone(this.#divergences, (d) => d.peer)
    for (const g of done.values()) {
      for (const [ck] of g.cheques) this.#cheques.delete(ck)
      for (const [tk] of g.trust) this.#trust.delete(tk)
      if (g.account) { g.account.dirty = false; g.account.agg = undefined }
    }
    this.#pending = this.#agg.reduce((n, a) => n + a.count, 0) + this.#rows.length + this.#divergences.length + this.#cheques.size + this.#trust.size
    if (this.#accounts.size > this.#maxCached) {
      for (const [k, c] of this.#accounts) if (!c.dirty) this.#accounts.delete(k)
    }
  }

  /** Read-only SQL for reports and tests (flushes first). */
  query<T = Record<string, unknown>>(sql: string, ...params: unknown[]): T[] {
    this.#flushQuietly()
    return this.#db.prepare(sql).all(...params) as T[]
  }

  /**
   * Flushes and marks a clean shutdown. Idempotent; never throws. When something could not be saved the shutdown
   * stays marked unclean, so the next open counts a recovery (and the reconciliation can explain the loss).
   */
  close(): void {
    if (this.#closed) return
    try {
      this.flush()
      this.#db.transaction(() => this.#setMeta('open', 0n))()
    } catch { /* reported by flush (onFlushError); the open mark stays */ }
    this.#closed = true
    try { this.#db.close() } catch { /* nothing more can be done */ }
  }

  /** Test hook: drops everything un-flushed and closes without the clean-shutdown mark (what kill -9 does). */
  crash(): void {
    if (this.#closed) return
    this.#closed = true
    this.#db.close()
  }
}
