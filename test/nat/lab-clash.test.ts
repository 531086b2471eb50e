import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, canRunLab, NatLab, startRendezvousLab, type NatMode } from './lab.js'

const NAT = { stunServers: ['198.18.0.10:3478'], punch: { timeoutMs: 12_000 } }

/**
 * Issue 24 item 8: NATs that do not drop unsolicited input before the punch ('cone-open'): an early probe creates a
 * conntrack entry on the NAT itself, and the host's own packets to that peer are then remapped to another port
 * (the NAT turns symmetric for that one peer). On one side and on both, the nodes must still find a direct path
 * (the escalation to the birthday approach avoids the clashed mapping), and the path must carry a download.
 */
test('early-punch clash: cone NATs that let early probes in still connect directly, on one side and on both', { skip: !canRunLab() && 'needs root, iptables and netns', timeout: 420_000 }, async (t) => {
  const lab = new NatLab('c')
  const agents: Agent[] = []
  try {
    const { a, b, boot } = await startRendezvousLab(lab, agents, NAT)
    // The clash on both sides (src/nat/punch/sync.ts): only a tuple whose two first packets cross in flight opens,
    // which needs a wire delay between the NATs (here 25 ms each way, a short Internet path; the bare veths give
    // ~10 us, which no timer hits) and both sides sending at the time agreed in the signalling. Every pair runs
    // over the delayed segment, so the one-sided cases are checked under the same timing. Hop processes live in the
    // NAT namespaces: lab.down() kills them with the rest.
    await Promise.all([lab.delayWan('A', 25), lab.delayWan('B', 25)])
    const cases: Array<[NatMode, NatMode]> = [['cone-open', 'cone'], ['cone', 'cone-open'], ['cone-open', 'cone-open']]
    for (const [ma, mb] of cases) {
      for (let round = 1; round <= 3; round++) {
        await t.test(`${ma} <-> ${mb} (try ${round})`, async (st) => {
          lab.nat('A', ma); lab.nat('B', mb)
          const [, nb] = await Promise.all([a.call('node-start', { config: boot, links: 1 }), b.call('node-start', { config: boot, links: 1 })])
          const res = await a.call('node-connect', { nodeId: nb.nodeId, bytes: 20_000 }, 40_000)
          assert.equal(res.echoOk, true)
          st.diagnostic(`method ${String(res.method)} after ${Math.round(res.ms as number)} ms`)
          assert.notEqual(res.method, 'relay', `a direct path (got ${String(res.method)} after ${Math.round(res.ms as number)} ms)`)
          const pub = await b.call('content-publish', { mib: 2 })
          const got = await a.call('content-fetch', { cid: pub.cid, nodeId: nb.nodeId }, 120_000)
          assert.equal(got.sha, pub.sha)
        })
      }
    }
  } finally {
    await Promise.all(agents.map((x) => x.stop()))
    lab.down()
  }
})
