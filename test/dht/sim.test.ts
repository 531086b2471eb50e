import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runScenario } from '../../src/dht/sim/scenario.js'
import type { Identity } from '../../src/crypto/identity.js'

test('simulator (300 nodes): every record is read back without adversaries; with 30% adversaries d=4 does at least as well as d=1', async () => {
  const identities: Identity[] = []
  const clean = await runScenario({ nodes: 300, adversaryFraction: 0, paths: 4, records: 10, lookups: 40, seed: 3, identities })
  assert.equal(clean.successRate, 1)
  assert.ok(clean.storedPerPublish >= 15, `stored on ${clean.storedPerPublish}`)
  assert.ok(clean.hops.p50 >= 1)
  const d1 = await runScenario({ nodes: 300, adversaryFraction: 0.3, paths: 1, records: 10, lookups: 40, seed: 3, identities })
  const d4 = await runScenario({ nodes: 300, adversaryFraction: 0.3, paths: 4, records: 10, lookups: 40, seed: 3, identities })
  assert.ok(d4.successRate >= 0.95, `d=4 success ${d4.successRate}`)
  assert.ok(d4.successRate >= d1.successRate, `d=4 ${d4.successRate} < d=1 ${d1.successRate}`)
  assert.ok(d4.messagesPerLookup.mean > d1.messagesPerLookup.mean, 'disjoint paths must send more requests')
})
