/**
 * The simulator (src/dht/sim) at a small size: correctness properties, never timings (virtual time is compared to
 * virtual time only). The 10,000-node figures are `npm run bench -- dht-sim` (docs/dht-sim.md).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { IdentityPool } from '../../src/dht/sim/identities.js'
import { runScenario } from '../../src/dht/sim/scenario.js'
import { SimWorld } from '../../src/dht/sim/world.js'
import { defaultDhtConfig } from '../../src/dht/config.js'
import { randomBytes } from '../../src/crypto/sign.js'

const pool = new IdentityPool(2, 8)
const small = { nodes: 300, records: 8, reads: 45, windowMs: 60_000, seed: 3, pool }

test('simulator: without adversaries every read returns the newest value, under 30% churn and 25% dead entries', async () => {
  const r = await runScenario({ ...small, paths: 4 })
  assert.equal(r.successRate, 1)
  assert.equal(r.correctRate, 1)
  assert.equal(r.wrongRate, 0)
  assert.ok(r.churnDone.joins > 0 && r.churnDone.leaves > 0, 'nodes left and joined during the run')
  assert.ok(r.churnDone.tableAfterJoin.p50 >= 20, `joined tables ${r.churnDone.tableAfterJoin.p50}`)
  assert.ok(r.deadEntryRate.start > 0.1, `dead entries at start ${r.deadEntryRate.start}`)
  assert.ok(r.links.setups > 0 && r.links.reuses > 0)
})

test('simulator: rollback attackers (30%, replaying a validly signed older seq) never get it accepted by the default get with d = 4', async () => {
  const r = await runScenario({ ...small, paths: 4, adversary: { kind: 'rollback', fraction: 0.3 } })
  assert.equal(r.reads.default.wrongRate, 0, JSON.stringify(r.reads.default))
  assert.equal(r.reads.default.rollbackAccepted, 0)
  assert.equal(r.reads.open.rollbackAccepted, 0)
  assert.ok(r.reads.default.correctRate >= 0.95, `correct ${r.reads.default.correctRate}`)
})

test('simulator: own-value attackers (30%, valid signatures under the same keys) never replace the publisher\'s value', async () => {
  const r = await runScenario({ ...small, paths: 4, adversary: { kind: 'own', fraction: 0.3 } })
  assert.equal(r.reads.default.wrongRate, 0)
  assert.equal(r.reads.first.wrongRate, 0)
  assert.equal(r.reads.open.wrongRate, 0)
  assert.ok(r.reads.open.foreignValues && r.reads.open.foreignValues.mean > 0, 'the open-key view lists the attackers\' values as other publishers')
})

test('simulator: eclipse attackers holding all 20 closest positions of a key (ground ids) do not cut readers off the newest value: a put stores on each path\'s own closest answers (s x d)', async () => {
  // 2 keys, 90 eclipse attackers (45 per key): they own the 20 closest of both. Stored on the s = 20 closest only
  // (putCopies: 20), every one of these reads came back empty (45 of 45 lost, seed 3)
  const r = await runScenario({ ...small, records: 2, paths: 4, adversary: { kind: 'eclipse', fraction: 0.3 } })
  assert.equal(r.eclipse?.ownedOfClosest20, 20, JSON.stringify(r.eclipse))
  assert.ok(r.publish.storedPerPublish > 40, `stored on ${r.publish.storedPerPublish}`)
  assert.ok(r.reads.default.correctRate >= 0.95, JSON.stringify(r.reads.default))
  assert.equal(r.reads.default.wrongRate, 0)
})

test('simulator: a fresh lookup pays connection setup, a warm one does not; without the charge both cost the same', async () => {
  const config = defaultDhtConfig({ staticPuzzleBits: 2, dynamicPuzzleBits: 8 })
  const ids = Array.from({ length: 200 }, (_, i) => pool.at(i))
  const cost = async (connectRtts: number): Promise<[number, number]> => {
    const w = new SimWorld({ config, seed: 1, identities: ids, links: { connectRtts } })
    const a = w.nodes[0]!.dht!
    const target = randomBytes(20)
    const out: number[] = []
    for (let i = 0; i < 2; i++) {
      const t = w.clock.now()
      let end = t
      const p = a.findNode(target).then(() => { end = w.clock.now() })
      await w.clock.run()
      await p
      out.push(end - t)
    }
    for (const n of w.nodes) n.dht?.stop()
    return [out[0]!, out[1]!]
  }
  const [fresh, warm] = await cost(2)
  assert.ok(fresh > warm * 1.5, `fresh ${fresh} ms vs warm ${warm} ms`)
  const [fresh0, warm0] = await cost(0)
  assert.ok(fresh0 <= warm0 * 1.2, `no charge: ${fresh0} vs ${warm0}`)
  assert.ok(fresh > fresh0, 'the charge makes the first lookup slower')
})

test('simulator: a join through one bootstrap node that leaves before answering strands the joiner (empty table); a bootstrap list of several survives it', async () => {
  // the cause of a lost read in the seeded 300-node run: the reader had joined through one node that left 352 ms
  // into its join, so its table stayed empty and its get asked nobody. Scenario joins now use a list (bootstrapNodes)
  const config = defaultDhtConfig({ staticPuzzleBits: 2, dynamicPuzzleBits: 8 })
  const ids = Array.from({ length: 120 }, (_, i) => pool.at(i))
  const w = new SimWorld({ config, seed: 5, identities: ids })
  const joinAsLeaving = async (idx: number, vias: number[]): Promise<number> => {
    let size = -1
    const p = w.join(pool.at(idx), vias.map((i) => w.nodes[i]!)).then((n) => { size = n.dht!.table.size })
    // the first bootstrap node leaves before its answer to the join's dial can arrive (every RTT is >= 20 ms)
    w.clock.setTimeout(() => w.leave(w.nodes[vias[0]!]!), 5)
    await w.clock.run(() => size >= 0)
    await p
    return size
  }
  assert.equal(await joinAsLeaving(200, [3]), 0, 'the joiner found someone although its only bootstrap node left')
  const listed = await joinAsLeaving(201, [4, 5, 6])
  assert.ok(listed >= 20, `joined through the bootstrap list: table ${listed}`)
  for (const n of w.nodes) n.dht?.stop()
})
