/**
 * A ZEONE-TS node as a member of a v0 network, one behaviour at a time, against the v1.2.4-faithful V0Node.
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { V0Peer } from '../transport/legacy-v0-peer.js'
import { cleanupDirs, dhtGet, dhtPut, startTsNode, until } from './helpers.js'
import { V0Node } from './v0-node.js'

after(cleanupDirs)
const sha1hex = (s: string): string => createHash('sha1').update(s).digest('hex')

describe('legacy membership: double dial', () => {
  it('a v0 node that dials us twice keeps us as a peer and keeps DISCOVERing on the link', async () => {
    const node = await startTsNode()
    const v0 = new V0Node({ discoverIntervalMs: 100 })
    try {
      await v0.start({ host: '127.0.0.1', port: node.listenAddress!.port })
      const id = node.identity.nodeIdB64
      // both dials completed; give our side the time to (wrongly) close one and the v0 node to notice
      await until(() => v0.discoversSent >= 6 || v0.removed.has(id), 5000, 'v0 DISCOVER rounds')
      assert.equal(v0.removed.has(id), false, 'the v0 node removed us: we closed one of its two connections')
      assert.ok(v0.peers.has(id))
      // its two dials, plus ours verifying the listening address its FIND_NODE named: all kept, one peer
      assert.ok(node.legacy!.connectionsOf(v0.nodeId).length >= 2, 'both v0 connections kept')
      assert.ok([...v0.conns].every((c) => !c.peer.closed) && v0.conns.size >= 2, 'the v0 node lost a connection')
      assert.equal(node.legacy!.links().length, 1, 'one peer')
    } finally {
      await v0.stop()
      await node.stop()
    }
  })
})

describe('legacy membership: DHT with v0 nodes', () => {
  it('reads a value a v0 node holds (our requests carry sender_host/sender_port)', async () => {
    const v0 = new V0Node()
    await v0.start()
    const node = await startTsNode({ bootstrap: [`127.0.0.1:${v0.port}`] })
    try {
      await until(() => v0.peers.has(node.identity.nodeIdB64), 5000, 'v0 link')
      v0.store.set(sha1hex('only-on-v0'), Buffer.from('old net').toString('hex'))
      const r = await dhtGet(node, 'only-on-v0')
      assert.equal(v0.dhtKeyErrors, 0, 'the v0 handler failed on a missing sender field')
      assert.equal(r.found, true)
      assert.equal(r.value?.utf8, 'old net')
      // the v0 node learned our listening address from the sender fields
      assert.deepEqual(v0.routing.get(node.identity.dhtIdHex), { host: '127.0.0.1', port: node.listenAddress!.port })
    } finally {
      await node.stop()
      await v0.stop()
    }
  })

  it('dht get finds a value a v0 node stored on us, and dht put stores on the v0 node', async () => {
    const v0 = new V0Node()
    await v0.start()
    const node = await startTsNode({ bootstrap: [`127.0.0.1:${v0.port}`] })
    try {
      await until(() => v0.peers.has(node.identity.nodeIdB64), 5000, 'v0 link')
      assert.equal(await v0.put(sha1hex('from-v0'), Buffer.from('v0 wrote this').toString('hex')), 1)
      const r = await dhtGet(node, 'from-v0')
      assert.equal(r.found, true, 'the value stored on us locally was not found by dht get')
      assert.equal(r.value?.utf8, 'v0 wrote this')
      const put = await dhtPut(node, 'from-ts', 'ts wrote this')
      assert.ok(put.storedOn >= 1, 'dht put stored on no v0 peer')
      assert.equal(v0.store.get(sha1hex('from-ts')), Buffer.from('ts wrote this').toString('hex'))
    } finally {
      await node.stop()
      await v0.stop()
    }
  })

  it('dht get checks our own store first (a v0 STORE held here, the storing peer silent)', async () => {
    const node = await startTsNode()
    const p = await V0Peer.connect(node.listenAddress!.port) // answers no DHT request
    try {
      await p.handshake()
      const nonce = 'AAECAwQFBgcICQoL'
      p.send('DATA', { dht: true, dht_request: { type: 'STORE', key: sha1hex('kept-here'), value: Buffer.from('here').toString('hex'), ttl: 60, sender_id: '00'.repeat(20), sender_host: '127.0.0.1', sender_port: 9 }, nonce }, { nonce })
      for (;;) { const m = await p.next('DATA'); if (m.payload.dht_response) { assert.equal((m.payload.dht_response as { success: boolean }).success, true); break } }
      const r = await dhtGet(node, 'kept-here')
      assert.equal(r.found, true)
      assert.equal(r.value?.utf8, 'here')
    } finally {
      p.close()
      await node.stop()
    }
  })
})
