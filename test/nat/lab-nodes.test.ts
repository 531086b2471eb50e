import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, canRunLab, NatLab, startRendezvousLab, type NatMode } from './lab.js'

// 'none': a host on a public address of its own, no NAT or firewall in front of it
const MODES: NatMode[] = ['none', 'cone', 'full', 'restricted', 'symmetric']
const pairs: [NatMode, NatMode][] = []
for (let i = 0; i < MODES.length; i++) for (let j = i; j < MODES.length; j++) if (MODES[i] !== 'symmetric' || MODES[j] !== 'symmetric') pairs.push([MODES[i]!, MODES[j]!])

const NAT = { stunServers: ['198.18.0.10:3478'], punch: { timeoutMs: 12_000 } }
/** Size of the content fetched over every path (a multi-MiB download in 1 MiB verified chunks). */
const FETCH_MIB = 4

/** B publishes FETCH_MIB MiB; A downloads it over the link it has to B; the bytes must match. */
async function fetchOver(a: Agent, b: Agent, bId: string): Promise<void> {
  const pub = await b.call('content-publish', { mib: FETCH_MIB })
  const got = await a.call('content-fetch', { cid: pub.cid, nodeId: bId }, 120_000)
  assert.equal(got.bytes, pub.bytes)
  assert.equal(got.sha, pub.sha, 'the downloaded file is the published one')
}

/**
 * Full stack in the lab: a public node (rendezvous + RFC 5780 STUN server role) on 198.18.0.10, and one ZEONE node
 * behind each NAT. For each NAT pair, A connects to B by node id: discovery, signed signalling through the
 * rendezvous, punching, the transport handshake over udx, then a NAT_ECHO over the authenticated link.
 */
test('two ZEONE nodes behind every NAT pair connect (directly except symmetric<->symmetric) and exchange data over the full stack', { skip: !canRunLab() && 'needs root, iptables and netns', timeout: 600_000 }, async (t) => {
  const lab = new NatLab('n')
  const agents: Agent[] = []
  try {
    const { pub, a, b, boot } = await startRendezvousLab(lab, agents, NAT)
    /**
     * Stops both nodes first, so their TCP sessions to the rendezvous close through the NATs they were made under (a
     * mode switch flushes conntrack: a FIN sent after it is dropped, and the rendezvous would hold a half-open session
     * per switch, up to its per-IP cap of 16 from the one NAT address), then switches the modes.
     */
    const natModes = async (ma: NatMode, mb: NatMode): Promise<void> => {
      await Promise.all([a.call('node-stop'), b.call('node-stop')])
      lab.nat('A', ma); lab.nat('B', mb)
    }
    /** Fresh nodes on A and B, each linked to the rendezvous. */
    const startBoth = async (config: Record<string, unknown> = boot): Promise<Array<Record<string, unknown>>> => {
      const started = await Promise.all([a.call('node-start', { config, links: 1 }), b.call('node-start', { config, links: 1 })])
      for (const [side, n] of [['A', started[0]!], ['B', started[1]!]] as const) assert.ok((n.links as number) >= 1, `${side} is linked to the rendezvous`)
      return started
    }
    for (const [ma, mb] of pairs) {
      await t.test(`${ma} <-> ${mb}`, async () => {
        await natModes(ma, mb)
        const [na, nb] = await startBoth()
        for (const [m, n] of [[ma, na], [mb, nb]] as const) {
          assert.equal((m === 'none') === ((n.nat as { mapping: string }).mapping === 'none'), true, `a host ${m === 'none' ? 'without' : 'behind a'} NAT is classified so (${(n.nat as { mapping: string }).mapping})`)
        }
        const res = await a.call('node-connect', { nodeId: nb.nodeId, bytes: 50_000 }, 40_000)
        assert.equal(res.echoOk, true)
        assert.equal(res.version, 2)
        assert.notEqual((res.remote as { host: string }).host, '198.18.0.10', 'direct path, not via the rendezvous')
        // a host without NAT is reached at its own public address; the others at their router's
        assert.equal((res.remote as { host: string }).host, mb === 'none' ? '198.18.2.2' : '198.18.0.102')
        assert.notEqual(res.method, 'relay')
        // TCP simultaneous open joins only where both mappings keep ports predictable
        assert.deepEqual(res.tried, ma === 'symmetric' || mb === 'symmetric' ? ['udp'] : ['udp', 'tcp'])
        await fetchOver(a, b, nb.nodeId as string)
      })
    }
    await t.test('cone <-> symmetric: a relayed link upgrades to a birthday-punched path, same session', async () => {
      await natModes('cone', 'symmetric')
      const [, nb] = await startBoth()
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
      await fetchOver(a, b, nb.nodeId as string)
    })
    await t.test('cone <-> symmetric: a relayed link moves to the punched path in the middle of a transfer, no byte lost or repeated', async () => {
      await natModes('cone', 'symmetric')
      const [na, nb] = await startBoth()
      const res = await a.call('node-connect', { nodeId: nb.nodeId, bytes: 1000, relayOnly: true }, 40_000)
      assert.equal(res.method, 'relay')
      const messages = 1024 // 16 MiB of 16 KiB numbered messages
      const recv = b.call('seq-recv', { messages }, 180_000)
      // the sender holds after a quarter: those went through the relay; the rest is sent only once the upgrade is
      // done, so the upgrade comes mid-transfer by construction, not by winning a race against the transfer
      const holdAt = messages / 4
      const send = a.call('seq-send', { nodeId: nb.nodeId, bytes: messages * 16 * 1024, holdAt }, 180_000)
      while (((await b.call('seq-progress')).got as number) < holdAt) await new Promise((r) => setTimeout(r, 20))
      const before = (await b.call('seq-progress')).got as number
      const up = await a.call('node-upgrade', { nodeId: nb.nodeId, bytes: 1000 }, 40_000)
      assert.equal(up.method, 'birthday')
      assert.equal(up.sameLink, true)
      assert.equal((await a.call('seq-release')).released, true)
      await send
      const r = await recv
      assert.equal(r.bad, 0, 'every numbered message exactly once, in order, intact')
      assert.equal(r.next, messages)
      assert.ok(before > 0 && before < messages, `the upgrade came mid-transfer (${before} of ${messages} before it)`)
      void na
    })
    await t.test('two hosts behind one NAT (router A, two LAN ports) connect directly over their LAN addresses and move a file', async () => {
      await natModes('cone', 'cone')
      const a2 = new Agent(lab.addSecondHost(), 'A2'); agents.push(a2)
      const [na, n2] = await Promise.all([a.call('node-start', { config: boot, links: 1 }), a2.call('node-start', { config: boot, links: 1 })])
      assert.equal(((na.nat as { publicAddr: { host: string } }).publicAddr).host, '198.18.0.101')
      assert.equal(((n2.nat as { publicAddr: { host: string } }).publicAddr).host, '198.18.0.101', 'both behind the same public address')
      const res = await a.call('node-connect', { nodeId: n2.nodeId, bytes: 50_000 }, 40_000)
      assert.equal(res.echoOk, true)
      assert.notEqual(res.method, 'relay')
      // the NAT does not hairpin: only the LAN (host) candidate joins the two
      assert.equal((res.remote as { host: string }).host, '10.3.0.2')
      await fetchOver(a, a2, n2.nodeId as string)
      await a2.stop()
    })
    await t.test('cone <-> cone with UDP blocked between the NATs: TCP simultaneous open', async () => {
      await natModes('cone', 'cone')
      lab.blockUdpBetweenNats('A'); lab.blockUdpBetweenNats('B')
      const cfg = { ...boot, nat: { ...boot.nat, punch: { timeoutMs: 2000, birthday: false } } }
      const [, nb] = await startBoth(cfg)
      const res = await a.call('node-connect', { nodeId: nb.nodeId, bytes: 50_000 }, 40_000)
      assert.equal(res.method, 'tcp')
      assert.deepEqual(res.tried, ['udp', 'tcp'], 'UDP and TCP raced')
      assert.equal(res.echoOk, true)
      assert.equal((res.remote as { host: string }).host, '198.18.0.102')
      await fetchOver(a, b, nb.nodeId as string)
    })
    await t.test('symmetric <-> symmetric goes straight to the relay node (no punching or TCP open the pair rules out)', async () => {
      await natModes('symmetric', 'symmetric')
      const [, nb] = await startBoth()
      const res = await a.call('node-connect', { nodeId: nb.nodeId, bytes: 50_000 }, 40_000)
      assert.equal(res.method, 'relay')
      assert.deepEqual(res.tried, ['relay'], 'neither UDP punching nor TCP simultaneous open was tried')
      assert.equal(res.echoOk, true)
      await fetchOver(a, b, nb.nodeId as string)
    })
  } finally {
    await Promise.all(agents.map((x) => x.stop()))
    lab.down()
  }
})
