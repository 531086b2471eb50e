/**
 * Issue 23 item 6: nothing per request listens on a long-lived signal. 10,000 DHT requests (answered, and aborted by
 * their caller) never add an abort listener to the DHT's shutdown signal (so no `setMaxListeners(0)` hides a leak).
 */
import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { test } from 'node:test'
import { createTestnet } from '../../src/dht/testnet.js'
import { solveDynamicPuzzle } from '../../src/dht/puzzle.js'

test('10,000 DHT requests leave no abort listener on the DHT signal', async () => {
  const { nodes, destroy } = await createTestnet({ size: 2 })
  try {
    const a = nodes[0]!
    const b = a.dht.table.closest(nodes[1]!.identity.dhtId, 1)[0]!
    const x = solveDynamicPuzzle(a.identity.dhtId, a.dht.config.dynamicPuzzleBits)
    const base = getEventListeners(a.dht.signal, 'abort').length
    let peak = 0
    let answered = 0
    let aborted = 0
    for (let round = 0; round < 50; round++) {
      const outer = new AbortController()
      // 200 pings per round; every 10th carries a caller's signal, aborted while in flight in every 5th round
      const batch = Array.from({ length: 200 }, (_, i) => a.dht.rpc(b, { t: 'ping', x }, i % 10 === 0 ? outer.signal : undefined)
        .then(() => { answered++ }, () => { aborted++ }))
      peak = Math.max(peak, getEventListeners(a.dht.signal, 'abort').length, getEventListeners(outer.signal, 'abort').length > 20 ? Infinity : 0)
      if (round % 5 === 0) outer.abort()
      await Promise.all(batch)
      assert.equal(getEventListeners(outer.signal, 'abort').length, 0, 'settled requests detach from the caller signal')
    }
    assert.equal(answered + aborted, 10_000)
    assert.ok(aborted > 0 && answered > 0)
    assert.equal(peak, base, 'requests in flight added listeners to the long-lived signal')
    assert.equal(getEventListeners(a.dht.signal, 'abort').length, base)
  } finally { destroy() }
})

