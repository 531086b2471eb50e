import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { applyEvent, decayed, EVENT_DELTAS, stakeWeight, TrustBook, type TrustState } from '../../src/economy/trust.js'
import { LedgerStore } from '../../src/economy/ledger-store.js'
import { idFrom, tempDir } from './helpers.js'

const P = { alpha: 0.1, initial: 0.5, min: 0.1, decayPerDay: 0.99 }
const s0 = (score = 0.5): TrustState => ({ score, lastMs: 0, blacklisted: false, events: 0, reason: '' })
const close = (a: number, b: number, eps = 1e-12): void => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`)

test('EMA mapping: at the far end of the scale a step equals the whitepaper delta', () => {
  for (const [ev, d] of Object.entries(EVENT_DELTAS)) {
    const from = d > 0 ? 0 : 1
    const after = applyEvent(s0(from), ev as keyof typeof EVENT_DELTAS, 0, P).score
    close(after - from, d)
  }
  // mid-scale the step is scaled by the distance to the bound: T + a_e (x - T)
  close(applyEvent(s0(0.5), 'successful_transfer', 0, P).score, 0.5 + 0.01 * 0.5)
  close(applyEvent(s0(0.5), 'iou_defaulted', 0, P).score, 0.5 - 0.1 * 0.5)
})

test('scores stay inside [0,1] under long runs of one event', () => {
  let s = s0()
  for (let i = 0; i < 10_000; i++) s = applyEvent(s, 'iou_redeemed', 0, P)
  assert.ok(s.score <= 1 && s.score > 0.99)
  for (let i = 0; i < 10_000; i++) s = applyEvent(s, 'iou_defaulted', 0, P)
  assert.ok(s.score >= 0 && s.score < 0.01)
})

test('inactivity decays 0.99 per day, applied before the next event', () => {
  close(decayed(0.8, 86_400_000, 0.99), 0.792)
  close(decayed(0.8, 10 * 86_400_000, 0.99), 0.8 * 0.99 ** 10)
  const s = applyEvent({ ...s0(0.8), lastMs: 0 }, 'valid_message', 2 * 86_400_000, P)
  const t = 0.8 * 0.99 ** 2
  close(s.score, t + 0.001 * (1 - t))
})

test('slashing events zero the score and blacklist for good', () => {
  let s = applyEvent(s0(0.9), 'double_spend', 5, P, 'cheque 7')
  assert.equal(s.score, 0)
  assert.equal(s.blacklisted, true)
  assert.match(s.reason, /double_spend/)
  s = applyEvent(s, 'iou_redeemed', 6, P)
  assert.equal(s.score, 0)
  assert.equal(s.blacklisted, true)
})

test('stake weight is sqrt(stake / base)', () => {
  const base = 100n * 10n ** 18n
  close(stakeWeight(base, base), 1)
  close(stakeWeight(4n * base, base), 2)
  close(stakeWeight(base / 4n, base), 0.5, 1e-9)
  assert.equal(stakeWeight(0n, base), 0)
})

test('TrustBook persists through the ledger, restricts below T_min and weights by stake', () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'ledger.sqlite')
    let now = 1000
    const stakes = new Map<string, bigint>()
    const peer = idFrom(3).publicKey
    const other = idFrom(4).publicKey
    const base = 100n * 10n ** 18n
    let store = LedgerStore.open(file)
    const book = (): TrustBook => new TrustBook({ store, params: P, now: () => now, baseStake: base, stakeOf: (p) => stakes.get(Buffer.from(p).toString('hex')) ?? base })
    let b = book()
    assert.equal(b.view(peer).behavior, 0.5)
    b.report(peer, 'iou_defaulted')
    b.report(peer, 'iou_defaulted')
    close(b.view(peer).behavior, 0.5 * 0.9 * 0.9)
    assert.equal(b.restricted(peer), false)
    stakes.set(Buffer.from(peer).toString('hex'), base / 100n) // weight 0.1
    close(b.view(peer).effective, 0.405 * 0.1, 1e-9)
    assert.equal(b.restricted(peer), true)
    b.report(other, 'signature_forgery', 'bad cheque')
    store.close()
    store = LedgerStore.open(file)
    b = book()
    close(b.view(peer).behavior, 0.405)
    assert.equal(b.view(other).blacklisted, true)
    assert.equal(b.restricted(other), true)
    now += 86_400_000
    close(b.view(peer).behavior, 0.405 * 0.99)
    store.close()
  } finally { cleanup() }
})
