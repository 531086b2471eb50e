import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { LedgerStore } from '../../src/economy/ledger-store.js'
import { LedgerError } from '../../src/economy/errors.js'
import { idFrom, tempDir } from './helpers.js'
import { checkLedgerFile } from './invariants.js'

const A = idFrom(1).publicKey
const B = idFrom(2).publicKey

test('group commit: nothing is visible to another connection until flush, then everything at once', () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'ledger.sqlite')
    const s = LedgerStore.open(file)
    for (let i = 0; i < 1000; i++) s.meter(i % 2 ? A : B, i % 3 ? 'served' : 'consumed', 'wire:vpn', 100n, 100n)
    assert.equal(s.pending, 1000)
    const reader = new Database(file, { readonly: true })
    const count = (): number => Number((reader.prepare('SELECT COUNT(*) AS n FROM accounts').get() as { n: number }).n)
    assert.equal(count(), 0)
    s.flush()
    assert.equal(count(), 2)
    // metering is aggregated per (peer, kind, service) per batch: 4 rows, 1000 payments
    const rows = reader.prepare('SELECT SUM(count) AS c, COUNT(*) AS n FROM txlog').get() as { c: number; n: number }
    assert.equal(rows.c, 1000)
    assert.equal(rows.n, 4)
    reader.close()
    s.close()
    s.close() // idempotent
    assert.deepEqual(checkLedgerFile(file).problems, [])
    assert.throws(() => s.account(A), LedgerError)
  } finally { cleanup() }
})

test('bigint amounts beyond 2^53 round-trip exactly', () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'ledger.sqlite')
    let s = LedgerStore.open(file)
    const big = (1n << 60n) + 7n
    s.meter(A, 'served', 'x', 1n, big)
    s.close()
    s = LedgerStore.open(file)
    assert.equal(s.account(A).served, big)
    s.close()
  } finally { cleanup() }
})

test('a crash drops exactly the un-flushed batch and is counted as a recovery', () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'ledger.sqlite')
    let s = LedgerStore.open(file)
    assert.equal(s.recovered, false)
    s.meter(A, 'served', 'x', 10n, 10n)
    s.log(A, 'cheque_out', 5n, 'serial 1')
    s.touch(A).paidOut += 5n
    s.flush()
    s.meter(A, 'served', 'x', 99n, 99n)
    s.crash()
    s = LedgerStore.open(file)
    assert.equal(s.recovered, true)
    assert.equal(s.recoveries, 1n)
    assert.equal(s.account(A).served, 10n)
    assert.equal(s.account(A).paidOut, 5n)
    s.close()
    s = LedgerStore.open(file)
    assert.equal(s.recovered, false)
    assert.equal(s.recoveries, 1n)
    s.close()
    assert.deepEqual(checkLedgerFile(file).problems, [])
  } finally { cleanup() }
})

test('a file that is not a ledger is refused with a typed error', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'ledger.sqlite')
    const { writeFileSync } = await import('node:fs')
    writeFileSync(file, Buffer.alloc(4096, 0x41))
    assert.throws(() => LedgerStore.open(file), (e: unknown) => e instanceof LedgerError && e.code === 'ledger_open')
  } finally { cleanup() }
})

test('the invariant checker catches an account that disagrees with its log', () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'ledger.sqlite')
    const s = LedgerStore.open(file)
    s.meter(A, 'served', 'x', 5n, 5n)
    s.close()
    const db = new Database(file)
    db.prepare('UPDATE accounts SET served = served + 1').run()
    db.close()
    assert.equal(checkLedgerFile(file).problems.length, 1)
  } finally { cleanup() }
})

test('a ledger written before billed_est/billed_recovery/billed_credit is upgraded: our estimate starts as what was billed, no allowance', () => {
  const { dir, cleanup } = tempDir()
  const file = join(dir, 'old.sqlite')
  try {
    const db = new Database(file)
    db.exec(`CREATE TABLE accounts(peer BLOB PRIMARY KEY, served INTEGER NOT NULL, consumed INTEGER NOT NULL,
      charged INTEGER NOT NULL, billed INTEGER NOT NULL, paid_in INTEGER NOT NULL, paid_out INTEGER NOT NULL, in_serial INTEGER NOT NULL,
      out_serial INTEGER NOT NULL, confirmed_served INTEGER NOT NULL, confirmed_recovery INTEGER NOT NULL, updated INTEGER NOT NULL) WITHOUT ROWID`)
    db.prepare('INSERT INTO accounts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)').run(A, 1, 2, 3, 40, 5, 6, 1, 1, 0, 0, 0)
    db.close()
    const s = LedgerStore.open(file)
    const a = s.account(A)
    assert.equal(a.billed, 40n)
    assert.equal(a.billedEst, 40n)
    assert.equal(a.billedRecovery, 0n)
    assert.equal(a.billedCredit, 0n, 'no recovery allowance in force after the upgrade')
    s.meter(A, 'billed', 'inference', 1n, 2n)
    s.meter(B, 'billed', 'inference', 1n, 7n)
    s.touch(A).billedCredit = 9n
    s.close()
    const again = LedgerStore.open(file)
    assert.equal(again.account(A).billedEst, 42n)
    assert.equal(again.account(B).billedEst, 7n)
    assert.equal(again.account(A).billedCredit, 9n, 'the recovery allowance is persisted')
    again.close()
  } finally { cleanup() }
})
