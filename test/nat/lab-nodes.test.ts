import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, canRunLab, NatLab, startRendezvousLab, type NatMode } from './lab.js'

const MODES: NatMode[] = ['cone', 'full', 'restricted', 'symmetric']
const pairs: [NatMode, NatMode][] = []
for (let i = 0; i < MODES.length; i++) for (let j = i; j < MODES.length; j++) if (MODES[i] !== 'symmetric' || MODES[j] !== 'symmetric') pairs.push([MODES[i]!, MODES[j]!])

const NAT = { stunServers: ['198.18.0.10:3478'], punch: { timeoutMs: 12_000 } }

/**
 * Full stack in the lab: a public node (rendezvous + RFC 5780 STUN server role) on 198.18.0.10, and one ZEONE node
 * behind each NAT. For each NAT pair, A connects to B by node id: discovery, signed signalling through the
 * rendezvous, punching, the transport handshake over udx, then a NAT_ECHO over the authenticated link.
 */
test('two ZEONE nodes behind every NAT pair connect (directly except symmetric<->symmetric) and exchange data over the full stack', { skip: !canRunLab() && 'needs root, iptables and netns', timeout: 240_000 }, async (t) => {
  const lab = new NatLab('n')
  const agents: Agent[] = []
  try {
    const { pub, a, b, boot } = await startRendezvousLab(lab, agents, NAT)
    for (const [ma, mb] of pairs) {
      await t.test(`${ma} <-> ${mb}`, async () => {
        lab.nat('A', ma); lab.nat('B', mb)
        const [, nb] = await Promise.all([a.call('node-start', { config: boot, links: 1 }), b.call('node-start', { config: boot, links: 1 })])
        const res = await a.call('node-connect', { nodeId: nb.nodeId, bytes: 50_000 }, 40_000)
        assert.equal(res.echoOk, true)
        assert.equal(res.version, 2)
        assert.notEqual((res.remote as { host: string }).host, '198.18.0.10', 'direct path, not via the rendezvous')
        assert.notEqual(res.method, 'relay')
      })
    }
    await t.test('cone <-> symmetric: a relayed link upgrades to a birthday-punched path, same session', async () => {
      lab.nat('A', 'cone'); lab.nat('B', 'symmetric')
      const [, nb] = await Promise.all([a.call('node-start', { config: boot, links: 1 }), b.call('node-start', { config: boot, links: 1 })])
      const res = await a.call('node-connect', { nodeId: nb.nodeId, bytes: 10_000, relayOnly: true }, 40_000)
      assert.equal(res.method, 'relay')
      assert.equal((await pub.call('relay-circuits')).n, 1)
      const up = await a.call('node-upgrade', { nodeId: nb.nodeId, bytes: 50_000 }, 40_000)
      assert.equal(up.method, 'birthday')
      assert.equal(up.sameLink, true)
      assert.equal(up.echoOk, true)
      let n = 1
      for (let i = 0; i < 50 && n > 0; i++) { n = (await pub.call('relay-circuits')).n as number; if (n > 0) await new Promise((r2) => setTimeout(r2, 100)) }
      assert.equal(n, 0, 'the relay no longer carries the link')
    })
    await t.test('cone <-> cone with UDP blocked between the NATs: TCP simultaneous open', async () => {
      lab.nat('A', 'cone'); lab.nat('B', 'cone')
      lab.blockUdpBetweenNats('A'); lab.blockUdpBetweenNats('B')
      const cfg = { ...boot, nat: { ...boot.nat, punch: { timeoutMs: 2000, birthday: false } } }
      const [, nb] = await Promise.all([a.call('node-start', { config: cfg, links: 1 }), b.call('node-start', { config: cfg, links: 1 })])
      const res = await a.call('node-connect', { nodeId: nb.nodeId, bytes: 50_000 }, 40_000)
      assert.equal(res.method, 'tcp')
      assert.equal(res.echoOk, true)
      assert.equal((res.remote as { host: string }).host, '198.18.0.102')
    })
    await t.test('symmetric <-> symmetric falls back to the relay node (end-to-end encrypted link)', async () => {
      lab.nat('A', 'symmetric'); lab.nat('B', 'symmetric')
      const [, nb] = await Promise.all([a.call('node-start', { config: boot, links: 1 }), b.call('node-start', { config: boot, links: 1 })])
      const res = await a.call('node-connect', { nodeId: nb.nodeId, bytes: 50_000 }, 40_000)
      assert.equal(res.method, 'relay')
      assert.equal(res.echoOk, true)
    })
  } finally {
    await Promise.all(agents.map((x) => x.stop()))
    lab.down()
  }
})
