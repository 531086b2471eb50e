import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { controllingSyncAt, SYNC_PAIRS, SYNC_SPACING_MS, syncPlan, syncSpanMs } from '../../src/nat/punch/sync.js'

test('synchronised pairs: both sides derive the same port pairs, and the offsets between their first checks sweep ±(n-1)·spacing', () => {
  const key = new Uint8Array(randomBytes(32))
  const a = syncPlan(key, 0), b = syncPlan(key, 1)
  assert.equal(a.length, SYNC_PAIRS)
  const diffs: number[] = []
  for (const p of a) {
    const q = b.find((x) => x.local === p.remote && x.remote === p.local)
    assert.ok(q, `the peer has the pair ${p.local} -> ${p.remote}`)
    for (const port of [p.local, p.remote]) assert.ok(port >= 20_000 && port < 60_000)
    diffs.push(p.offsetMs - q.offsetMs)
  }
  diffs.sort((x, y) => x - y)
  const span = (SYNC_PAIRS - 1) * SYNC_SPACING_MS
  assert.equal(diffs[0], -span)
  assert.equal(diffs.at(-1), span)
  // steps of 2·spacing: whatever the sync error inside the range, one pair is within `spacing` of crossing
  for (let i = 1; i < diffs.length; i++) assert.equal(diffs[i]! - diffs[i - 1]!, 2 * SYNC_SPACING_MS)
  // each side's own sends span syncSpanMs either side of the agreed time
  assert.equal(Math.max(...a.map((p) => p.offsetMs)), syncSpanMs())
  assert.equal(Math.min(...b.map((p) => p.offsetMs)), -syncSpanMs())
  // another session's key gives other ports
  assert.notDeepEqual(syncPlan(new Uint8Array(randomBytes(32)), 0).map((p) => p.local), a.map((p) => p.local))
})

test('controlling side: the agreed time is the answer arrival less half the round trip, plus the common delay', () => {
  assert.equal(controllingSyncAt(1000, 1080, 1500), 1080 - 40 + 1500)
  // a clock that stepped back is not a negative round trip
  assert.equal(controllingSyncAt(1100, 1080, 1500), 1080 + 1500)
})
