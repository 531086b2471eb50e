import { test } from 'node:test'
import assert from 'node:assert/strict'
import { StakeCache } from '../../src/economy/stake-cache.js'
import { idFrom } from './helpers.js'

const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

test('stake cache: default until the settlement client answers, refreshed after the TTL, failures keep the last value', async () => {
  let now = 0
  let calls = 0
  let fail = false
  let stake = 5n
  const cache = new StakeCache({
    now: () => now, ttlMs: 1000,
    source: () => ({ stakeOf: async () => { calls++; if (fail) throw new Error('rpc down'); return stake } }),
  })
  const p = idFrom(1).publicKey
  assert.equal(cache.get(p), undefined)
  assert.equal(cache.get(p), undefined) // one lookup in flight, not two
  await tick()
  assert.equal(calls, 1)
  assert.equal(cache.get(p), 5n)
  stake = 9n
  now = 500
  assert.equal(cache.get(p), 5n)
  await tick()
  assert.equal(calls, 1, 'fresh entries are not refetched')
  now = 1500
  assert.equal(cache.get(p), 5n) // stale value served while refreshing
  await tick()
  assert.equal(cache.get(p), 9n)
  fail = true
  now = 3000
  cache.get(p)
  await tick(); await tick()
  assert.equal(cache.get(p), 9n)
  // without a settlement client: always undefined (config default applies)
  const none = new StakeCache({ now: () => 0, source: () => undefined })
  assert.equal(none.get(p), undefined)
})
