import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { test } from 'node:test'
import { randomBytes } from '../../src/crypto/sign.js'
import { BanList, KeyedBuckets, TokenBucket } from '../../src/transport/limits.js'
import { ReplayGuard } from '../../src/transport/replay-guard.js'
import { addr, startNode, tempDir, waitFor } from './helpers.js'

test('token bucket: burst, refill by time, no refill backwards', () => {
  const b = new TokenBucket(10, 5, 0)
  for (let i = 0; i < 5; i++) assert.equal(b.take(1, 0), true)
  assert.equal(b.take(1, 0), false)
  assert.equal(b.take(1, 100), true) // 10/s -> one token after 100 ms
  assert.equal(b.take(1, 100), false)
  assert.equal(b.take(1, 50), false)
  const big = new TokenBucket(1, 10, 0)
  assert.equal(big.take(100, 0), true, 'a request above the burst passes only from a full bucket')
  assert.equal(big.take(1, 0), false)
})

test('keyed buckets and ban list stay bounded under churn', () => {
  const kb = new KeyedBuckets(1, 1, 100)
  for (let i = 0; i < 10_000; i++) kb.take(`k${i}`, 1, 0)
  assert.equal(kb.size, 100)
  const bans = new BanList({ strikes: 1, windowMs: 1000, banBaseMs: 10, banMaxMs: 1000, maxKeys: 50 })
  for (let i = 0; i < 5000; i++) bans.strike(`ip:${i}`, 0)
  assert.ok(bans.size <= 50)
})

test('ban period doubles with each ban and is capped', () => {
  const bans = new BanList({ strikes: 2, windowMs: 10_000, banBaseMs: 100, banMaxMs: 350 })
  let now = 0
  const durations: number[] = []
  for (let round = 0; round < 4; round++) {
    assert.equal(bans.strike('x', now), 0)
    const d = bans.strike('x', now)
    durations.push(d)
    assert.equal(bans.isBanned('x', now), true)
    assert.equal(bans.isBanned('x', now + d), false)
    now += d
  }
  assert.deepEqual(durations, [100, 200, 350, 350])
  assert.equal(bans.isBanned('y', 0), false)
})

test('replay guard: rotation keeps recent nonces, persistence survives a restart, a corrupt file is refused', (t) => {
  const g = new ReplayGuard({ bits: 1 << 12, hashes: 4 })
  const first = randomBytes(32)
  assert.equal(g.checkAndAdd(first), false)
  assert.equal(g.checkAndAdd(first), true)
  for (let i = 0; i < g.capacity; i++) g.checkAndAdd(randomBytes(32)) // forces one rotation
  assert.equal(g.checkAndAdd(first), true, 'still in the previous generation')
  const dir = tempDir(t)
  const file = join(dir, 'replay.bloom')
  const p = new ReplayGuard({ file, bits: 1 << 12 })
  const n = randomBytes(32)
  p.checkAndAdd(n)
  p.save()
  assert.equal(p.dirty, false)
  assert.equal(new ReplayGuard({ file, bits: 1 << 12 }).checkAndAdd(n), true)
  assert.equal(new ReplayGuard({ file, bits: 1 << 12 }).checkAndAdd(randomBytes(32)), false)
  writeFileSync(file, 'garbage')
  assert.throws(() => new ReplayGuard({ file, bits: 1 << 12 }))
  assert.throws(() => new ReplayGuard({ bits: 1000 }))
})

test('connection churn: per-connection state returns to zero', async (t) => {
  const a = await startNode(t)
  const b = await startNode(t)
  for (let i = 0; i < 15; i++) {
    const link = await b.cm.dial(addr(a))
    link.close('churn')
    await waitFor(() => a.cm.links().length === 0 && b.cm.links().length === 0, 'links closed')
  }
  for (let i = 0; i < 15; i++) {
    const s = connect(addr(a).port, '127.0.0.1')
    await new Promise((r) => s.once('connect', r))
    s.destroy()
  }
  await waitFor(() => a.cm.connectionCount === 0 && b.cm.connectionCount === 0, 'connections released')
  assert.ok(a.cm.knownPeers().length <= 1)
})
