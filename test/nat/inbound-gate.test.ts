import { test } from 'node:test'
import assert from 'node:assert/strict'
import { InboundPunchGate } from '../../src/nat/punch/inbound-gate.js'
import type { Clock } from '../../src/interfaces/clock.js'

const manualClock = (): Clock & { t: number } => {
  const c = { t: 1_000_000, now: () => c.t, setTimeout: () => ({ cancel() {} }) }
  return c
}

test('inbound punch gate: one attempt in flight per peer, per-peer and global token buckets on the injected clock', () => {
  const clock = manualClock()
  const gate = new InboundPunchGate({ perPeerBurst: 2, perPeerPerMinute: 6, globalBurst: 3, globalPerMinute: 60 }, clock)
  const first = gate.admit(['A'])
  assert.ok(first.ok)
  assert.deepEqual(gate.admit(['A']), { ok: false, reason: 'rate_limited' }, 'a second attempt while one is in flight')
  if (first.ok) { first.release(); first.release() }
  const second = gate.admit(['A'])
  assert.ok(second.ok, 'burst of two')
  if (second.ok) second.release()
  assert.equal(gate.admit(['A']).ok, false, 'the per-peer bucket is empty')
  clock.t += 10_000 // 6 per minute: one token per 10 s
  const third = gate.admit(['A'])
  assert.ok(third.ok, 'refilled after 10 s')
  if (third.ok) third.release()
  assert.equal(gate.inFlight, 0)
  // global: three peers spend the burst of three, a fourth waits for the refill (one per second)
  const g = new InboundPunchGate({ perPeerBurst: 5, perPeerPerMinute: 60, globalBurst: 3, globalPerMinute: 60 }, clock)
  for (const p of ['B', 'C', 'D']) assert.ok(g.admit([p]).ok, `${p} within the global burst`)
  assert.deepEqual(g.admit(['E']), { ok: false, reason: 'rate_limited' }, 'the global burst is spent')
  clock.t += 1000
  assert.ok(g.admit(['E']).ok, 'one global token per second')
  assert.equal(g.admit(['F']).ok, false)
  assert.equal(g.inFlight, 4, 'B, C, D and E hold an attempt each')
})
