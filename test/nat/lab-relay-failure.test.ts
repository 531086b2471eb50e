import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, canRunLab, NatLab } from './lab.js'

/**
 * Issue 24 item 5: the relay under a relayed link fails in the middle of a download, either silently (every packet
 * dropped, no FIN, no RST) or by dying (its process killed). The node finds the link dead (liveness probes, on by
 * default) or closed, routes the peer again through the second relay on its own, the download picks up the new
 * link for the same provider and completes with the right bytes, and `connect` reports the new, working link
 * (never the dead one).
 */
const failures: Array<['black-hole' | 'kill', string]> = [['black-hole', 'f'], ['kill', 'k']]
for (const [how, tag] of failures) {
  test(`relay ${how === 'kill' ? 'killed' : 'black-holed'} mid-download: the peer is routed through another relay, the download carries on, connect never reports the dead link`, { skip: !canRunLab() && 'needs root, iptables and netns', timeout: 300_000 }, async () => {
    const lab = new NatLab(tag)
    const agents: Agent[] = []
    try {
      lab.up('symmetric', 'symmetric')
      const r1 = new Agent(lab.ns('stun'), 'R1'); agents.push(r1)
      const r2 = new Agent(lab.ns('turn'), 'R2'); agents.push(r2)
      const a = new Agent(lab.ns('hostA'), 'A'); agents.push(a)
      const b = new Agent(lab.ns('hostB'), 'B'); agents.push(b)
      const relayCfg = (host: string, stun: boolean): Record<string, unknown> => ({
        node: { host, port: 7000 },
        nat: { ...(stun ? { stunServer: { enabled: true, primary: '198.18.0.10:3478', alternate: '198.18.0.11:3479' } } : {}), relay: { enabled: true, allowPrivatePeers: true } },
      })
      const [i1, i2] = await Promise.all([r1.call('node-start', { config: relayCfg('198.18.0.10', true) }), r2.call('node-start', { config: relayCfg('198.18.0.20', false) })])
      // liveness is not named: it is on by default
      const boot = {
        node: { host: '0.0.0.0', bootstrap: ['198.18.0.10:7000', '198.18.0.20:7000'] },
        nat: { stunServers: ['198.18.0.10:3478'], rendezvous: [i1.nodeId, i2.nodeId], relay: { relays: [i1.nodeId, i2.nodeId] }, punch: { timeoutMs: 3000 } },
      }
      const [, nb] = await Promise.all([a.call('node-start', { config: boot, links: 2 }), b.call('node-start', { config: boot, links: 2 })])
      const res = await a.call('node-connect', { nodeId: nb.nodeId, bytes: 1000 }, 40_000)
      assert.equal(res.method, 'relay')
      const info = await a.call('link-info', { nodeId: nb.nodeId })
      assert.deepEqual([info.open, info.via, info.remote], [true, 'relay', { host: '198.18.0.10', port: 7000 }], 'peers shows the relay as the far end')

      // a 16 MiB download held after its second chunk was written: the relay fails with most of the file to go
      const pub = await b.call('content-publish', { mib: 16 })
      const started = await a.call('content-fetch-start', { cid: pub.cid, nodeId: nb.nodeId, holdAt: 2 }, 120_000)
      assert.equal(started.held, true, 'the download is in the middle of the file')
      const rerouted = a.call('await-reroute', { nodeId: nb.nodeId }, 90_000)
      if (how === 'black-hole') {
        lab.x(lab.ns('stun'), 'iptables', '-I', 'INPUT', '-j', 'DROP')
        lab.x(lab.ns('stun'), 'iptables', '-I', 'OUTPUT', '-j', 'DROP')
      } else {
        r1.proc.kill('SIGKILL')
      }
      const r = await rerouted
      if (how === 'black-hole') assert.match(r.reason as string, /path_dead/, 'closed as dead by the liveness probes')
      assert.equal(r.via, 'relay')
      assert.deepEqual(r.remote, { host: '198.18.0.20', port: 7000 }, 'routed through the second relay')
      // the download continues over the new link to the same provider
      await a.call('content-fetch-release')
      const done = await a.call('content-fetch-wait', {}, 180_000)
      assert.equal(done.sha, pub.sha, 'the whole file, byte for byte')
      // connect answers with the new, live link
      const again = await a.call('node-connect', { nodeId: nb.nodeId, bytes: 1000 }, 40_000)
      assert.equal(again.method, 'existing')
      assert.equal(again.echoOk, true)
      const now = await a.call('link-info', { nodeId: nb.nodeId })
      assert.deepEqual(now.remote, { host: '198.18.0.20', port: 7000 })
      console.log(`# relay ${how}: link closed after ${Math.round(r.deadMs as number)} ms, rerouted after ${Math.round(r.newMs as number)} ms, download done in ${Math.round(done.ms as number)} ms`)
    } finally {
      await Promise.all(agents.map((x) => x.stop()))
      lab.down()
    }
  })
}
