/**
 * Provider statements after the consumer crashed (docs/protocol/economy.md §3). Short, explicit op sequences, reduced
 * from the property-test counterexample of seed 466365317: the consumer B loses un-flushed charge estimates in a
 * crash; the first statement after it is stale (made before two charges B recorded while it was in flight), so B
 * sets `billed` below what it really owes; the next statement must still be explained by the crash allowance.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { config, idFrom, tempDir } from './helpers.js'
import { checkLedgerFile } from './invariants.js'
import { immediateClock, SimNode, tick } from './sim.js'

const M = 1000n // maxRecoveryAdjust
const cfg = config({
  toleranceAbs: 0, tolerancePpm: 0, minClaimGapMs: 0, maxRecoveryAdjust: Number(M), debtLimit: 1_000_000,
  pricing: { epochMs: 5000, capacityPerEpoch: 1000, services: { inference: { unit: 'token', price: 3 } } },
})

async function pair(dir: string): Promise<{ a: SimNode; b: SimNode; net: MemoryNetwork }> {
  let t = 1_767_225_600_000
  const now = (): number => (t += 1000)
  const net = new MemoryNetwork({ clock: immediateClock })
  const a = new SimNode(net, idFrom(11), 1, dir, cfg, now)
  const b = new SimNode(net, idFrom(12), 2, dir, cfg, now)
  a.start(); b.start()
  await a.connect(b)
  return { a, b, net }
}

/** A service call: provider A records its charge, consumer B its estimate (both at list price here). */
function charge(a: SimNode, b: SimNode, units: number): void {
  a.economy.record(b.identity.publicKey, 'inference', BigInt(units), 'served')
  b.economy.record(a.identity.publicKey, 'inference', BigInt(units), 'consumed')
}

async function relink(a: SimNode, b: SimNode): Promise<void> {
  for (let i = 0; i < 10 && !(a.link(b) && b.link(a)); i++) { await tick(); await a.connect(b); await tick() }
  assert.ok(a.link(b) && b.link(a), 'linked again')
}

const excess = (n: SimNode): unknown[] => n.economy.store.query("SELECT claimed, attested FROM divergences WHERE reason = 'provider_statement_excess'")

test('a stale first statement after a consumer crash does not leave the next statement unexplained', async () => {
  const { dir, cleanup } = tempDir()
  const { a, b } = await pair(dir)
  try {
    charge(a, b, 1); a.economy.flush(); b.economy.flush()
    charge(a, b, 157) // 471 credits; A flushes it, B loses its estimate in the crash
    a.economy.flush()
    b.stop(false); b.start()
    await relink(a, b)
    assert.equal(b.economy.balance(a.identity.publicKey).billed, 3n, 'B lost the 471 estimate')
    // A's claim (its statement) is sent; B records two more charges before it answers
    const s1 = a.economy.balance(b.identity.publicKey).charged
    assert.ok(s1 > 300n, `the lost charge is in A's statement (${s1})`)
    const first = a.session.reconcile(a.link(b)!)
    charge(a, b, 1); charge(a, b, 1)
    await first
    assert.equal(b.economy.balance(a.identity.publicKey).billed, s1, 'the stale statement set billed')
    // the next statement includes the two charges the stale one missed
    await a.session.reconcile(a.link(b)!)
    const va = a.economy.balance(b.identity.publicKey)
    const vb = b.economy.balance(a.identity.publicKey)
    assert.ok(va.charged > s1)
    assert.equal(vb.billed, va.charged, 'B billed = A charged')
    assert.deepEqual(excess(b), [], 'no statement beyond the bound')
    a.stop(true); b.stop(true)
    for (const n of [a, b]) assert.deepEqual(checkLedgerFile(n.file).problems, [])
  } finally {
    a.stop(true); b.stop(true)
    cleanup()
  }
})

test('crash allowances do not add up: a provider bills at most one maxRecoveryAdjust beyond the surviving estimate', async () => {
  const { dir, cleanup } = tempDir()
  const { a, b } = await pair(dir)
  try {
    charge(a, b, 10); a.economy.flush(); b.economy.flush() // 30 credits, estimate survives
    for (let i = 0; i < 3; i++) {
      // each crash is followed by a statement that consumes its allowance
      b.stop(false); b.start()
      await relink(a, b)
      await a.session.reconcile(a.link(b)!)
    }
    // a hostile provider now bills 5 M it never delivered (B recorded nothing for it)
    a.economy.record(b.identity.publicKey, 'inference', 5n * M / 3n, 'served')
    await a.session.reconcile(a.link(b)!)
    const vb = b.economy.balance(a.identity.publicKey)
    // bound: estimate 30 at the highest rate (10x list) + one allowance
    assert.equal(vb.billed, 300n + M, 'billed capped at the estimate bound plus ONE allowance')
    assert.equal(excess(b).length, 1, 'the rest is a recorded dispute')
  } finally {
    a.stop(true); b.stop(true)
    cleanup()
  }
})
