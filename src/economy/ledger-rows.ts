/**
 * What the ledger keeps on disk: the SQLite schema and its migration, the row shapes, and the range every stored
 * integer must fit (SQLite INTEGER, signed 64-bit). The batching store that writes them is ledger-store.ts.
 */
import type Database from 'better-sqlite3'
import { LedgerError } from './errors.js'

/** The largest value a ledger column (SQLite INTEGER, signed 64-bit) holds: every amount and serial stays at or below it. */
export const MAX_LEDGER_AMOUNT = (1n << 63n) - 1n
const MIN_LEDGER_INT = -(1n << 63n)

/** Throws LedgerError('ledger_range') unless `v` fits a ledger column (`signed`: a delta that may be negative). */
export function checkStorable(v: bigint, what: string, signed = false): void {
  if (v > MAX_LEDGER_AMOUNT || v < (signed ? MIN_LEDGER_INT : 0n)) throw new LedgerError('ledger_range', `${what} ${v} is outside what the ledger can hold`)
}

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
  /** Service charges the peer billed us (our estimate, replaced by the provider's statements within bounds). */
  billed: bigint
  /** Our own cumulative estimate of the service charges the peer billed us (bounds the provider's statements). */
  billedEst: bigint
  /** meta.recoveries when a provider statement of the peer last set `billed` (estimates lost since are explained). */
  billedRecovery: bigint
  /**
   * Recovery allowance in force on the statement bound: maxRecoveryAdjust once a statement found that we restarted
   * uncleanly (estimates lost with the un-flushed batch stay explained for later statements too). Set, never added
   * up: however many crashes, a provider can bill at most this much beyond what our surviving estimate explains.
   */
  billedCredit: bigint
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

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accounts(peer BLOB PRIMARY KEY, served INTEGER NOT NULL, consumed INTEGER NOT NULL,
  charged INTEGER NOT NULL, billed INTEGER NOT NULL,
  paid_in INTEGER NOT NULL, paid_out INTEGER NOT NULL, in_serial INTEGER NOT NULL, out_serial INTEGER NOT NULL,
  confirmed_served INTEGER NOT NULL, confirmed_recovery INTEGER NOT NULL, updated INTEGER NOT NULL,
  billed_est INTEGER NOT NULL DEFAULT 0, billed_recovery INTEGER NOT NULL DEFAULT 0, billed_credit INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
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

export const emptyAccount = (): Account => ({ served: 0n, consumed: 0n, charged: 0n, billed: 0n, billedEst: 0n, billedRecovery: 0n, billedCredit: 0n, paidIn: 0n, paidOut: 0n, inSerial: 0n, outSerial: 0n, confirmedServed: 0n, confirmedRecovery: 0n })

/** Upgrades a ledger written before the billed_est / billed_recovery / billed_credit columns (our estimate starts as what was billed). */
export function migrate(db: Database.Database): void {
  const cols = new Set((db.prepare('PRAGMA table_info(accounts)').all() as Array<{ name: string }>).map((c) => c.name))
  db.transaction(() => {
    if (!cols.has('billed_est')) {
      db.exec('ALTER TABLE accounts ADD COLUMN billed_est INTEGER NOT NULL DEFAULT 0')
      db.exec('UPDATE accounts SET billed_est = billed')
    }
    if (!cols.has('billed_recovery')) db.exec('ALTER TABLE accounts ADD COLUMN billed_recovery INTEGER NOT NULL DEFAULT 0')
    if (!cols.has('billed_credit')) db.exec('ALTER TABLE accounts ADD COLUMN billed_credit INTEGER NOT NULL DEFAULT 0')
  })()
}

export function chequeFromRow(r: Record<string, unknown>): ChequeRow {
  return {
    debtor: new Uint8Array(r.debtor as Uint8Array), creditor: new Uint8Array(r.creditor as Uint8Array),
    serial: r.serial as bigint, amount: r.amount as bigint, expires: r.expires as bigint,
    bytes: new Uint8Array(r.bytes as Uint8Array), status: r.status as ChequeRow['status'], updated: Number(r.updated),
  }
}

/** The prepared statements the store runs. */
export function prepareStatements(db: Database.Database) {
  return {
    getAccount: db.prepare('SELECT * FROM accounts WHERE peer = ?'),
    putAccount: db.prepare(`INSERT INTO accounts(peer, served, consumed, charged, billed, paid_in, paid_out, in_serial, out_serial,
      confirmed_served, confirmed_recovery, updated, billed_est, billed_recovery, billed_credit) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(peer) DO UPDATE SET served=excluded.served,
      consumed=excluded.consumed, charged=excluded.charged, billed=excluded.billed, billed_est=excluded.billed_est, billed_recovery=excluded.billed_recovery, billed_credit=excluded.billed_credit, paid_in=excluded.paid_in, paid_out=excluded.paid_out, in_serial=excluded.in_serial,
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

export type LedgerStatements = ReturnType<typeof prepareStatements>

export function accountFromRow(r: Record<string, bigint>): Account {
  return { served: r.served!, consumed: r.consumed!, charged: r.charged!, billed: r.billed!, billedEst: r.billed_est!, billedRecovery: r.billed_recovery!, billedCredit: r.billed_credit!, paidIn: r.paid_in!, paidOut: r.paid_out!, inSerial: r.in_serial!, outSerial: r.out_serial!, confirmedServed: r.confirmed_served!, confirmedRecovery: r.confirmed_recovery! }
}
