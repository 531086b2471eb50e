/** Legacy bridge: the node dials v0 nodes, DHT in DATA, credit and flood limits, keep-alive and hard fork. */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { V0Peer, V0Server, num } from './legacy-v0-peer.js'
import { refusals, startNode } from './legacy-helpers.js'
describe('legacy bridge: the node dials a v0 node', () => {
  it('handshakes, calls echo on the v0 node, and answers its keep-alive', async () => {
    const v0 = new V0Server()
    const port = await v0.listen()
    const node = await startNode()
    try {
      const link = await node.legacy!.dial({ host: '127.0.0.1', port })
      assert.equal(link.peer.nodeIdB64, v0.keys.id)
      assert.equal(link.peer.version, 0)
      assert.deepEqual(link.peer.listenAddr, { host: '127.0.0.1', port })
      const svc = node.services.get('legacyServices')!
      const r = await svc.call(link, 'echo', { hello: 'world', n: 3 }, { budget: 1 })
      assert.deepEqual(r.result, { hello: 'world', n: 3 })
      assert.equal(r.providerId, v0.keys.id)
      const rtt = await link.ping()
      assert.ok(rtt >= 0)
      // DISCOVER from our side: the v0 PEER_LIST goes to untrusted candidates, never re-advertised
      link.send('DISCOVER', { max_peers: 5 })
      for (let i = 0; i < 50 && node.legacy!.candidates.size === 0; i++) await new Promise((r2) => setTimeout(r2, 20))
      assert.equal(node.legacy!.candidates.size, 1)
    } finally {
      await node.stop()
      await v0.close()
    }
  })

  it('refuses a v0 node whose PONG answers another nonce', async () => {
    const { createServer } = await import('node:net')
    const fake = new V0Peer()
    const server = createServer((s) => {
      fake.attach(s)
      s.once('data', () => setTimeout(() => fake.send('PONG', { original_nonce: 'AAAAAAAAAAAAAAAAAAAAAA==', ping_timestamp: num('1.0') }), 10))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const node = await startNode()
    try {
      await assert.rejects(node.legacy!.dial({ host: '127.0.0.1', port: (server.address() as { port: number }).port }), /handshake/)
    } finally {
      fake.close()
      await node.stop()
      await new Promise<void>((r) => server.close(() => r()))
    }
  })
})

describe('legacy bridge: DHT in DATA and credit limits', () => {
  it('routes v0 DHT requests to the registered handler and dhtRequest to a v0 node', async () => {
    const node = await startNode()
    const v0 = new V0Server()
    const port = await v0.listen()
    const p = await V0Peer.connect(node.listenAddress!.port)
    try {
      const seen: Array<Record<string, unknown>> = []
      node.context!.router.handleLegacyDht(async (req, link) => {
        seen.push(req)
        assert.equal(link.peer.nodeIdB64, p.keys.id)
        return { type: 'FIND_NODE_RESPONSE', nodes: [] }
      })
      await p.handshake()
      const nonce = 'AAECAwQFBgcICQoL'
      p.send('DATA', { dht: true, dht_request: { type: 'FIND_NODE', target_id: 'ab'.repeat(20) }, nonce }, { nonce })
      let resp = await p.next('DATA')
      if (resp.payload.dht_request) resp = await p.next('DATA') // our own FIND_NODE announcing our address
      assert.equal(resp.payload.nonce, nonce)
      assert.deepEqual(resp.payload.dht_response, { type: 'FIND_NODE_RESPONSE', nodes: [] })
      assert.equal(seen[0]!.target_id, 'ab'.repeat(20))
      const link = await node.legacy!.dial({ host: '127.0.0.1', port })
      const r = await link.dhtRequest({ type: 'FIND_NODE', target_id: 'cd'.repeat(20) })
      assert.equal(r.type, 'FIND_NODE_RESPONSE')
      assert.equal((r.nodes as Array<{ node_id: string; port: number }>)[0]!.port, 8468)
    } finally {
      p.close()
      await node.stop()
      await v0.close()
    }
  })

  it('serves a priced service to a v0 peer only up to its credit limit', async () => {
    const node = await startNode({ creditLimit: 1_000_000 }, true, { echo: { price: 600_000 } })
    const p = await V0Peer.connect(node.listenAddress!.port)
    try {
      await p.handshake()
      p.send('SERVICE_REQUEST', { service_name: 'echo', payload: 'a', budget: num('0.5'), request_id: 'low' })
      const low = await p.next('SERVICE_RESPONSE')
      assert.equal(low.payload.success, false)
      assert.match(String(low.payload.error), /over_budget/)
      p.send('SERVICE_REQUEST', { service_name: 'echo', payload: 'a', budget: num('1.0'), request_id: 'one' })
      const one = await p.next('SERVICE_RESPONSE')
      assert.equal(one.payload.success, true)
      assert.equal(one.payload.cost, num('0.6'))
      p.send('SERVICE_REQUEST', { service_name: 'echo', payload: 'b', budget: num('1.0'), request_id: 'two' })
      const two = await p.next('SERVICE_RESPONSE')
      assert.equal(two.payload.success, false)
      assert.match(String(two.payload.error), /credit_limit/)
    } finally {
      p.close()
      await node.stop()
    }
  })
})

describe('legacy bridge: flood limits', () => {
  it('keeps its connection tables flat under connect/disconnect churn', async () => {
    const node = await startNode()
    try {
      for (let round = 0; round < 3; round++) {
        const ps = await Promise.all(Array.from({ length: 10 }, () => V0Peer.connect(node.listenAddress!.port)))
        await Promise.all(ps.map((p) => p.handshake()))
        assert.equal(node.legacy!.links().length, 10)
        for (const p of ps) p.close()
        for (let i = 0; i < 100 && node.legacy!.connectionCount > 0; i++) await new Promise((r) => setTimeout(r, 20))
        assert.equal(node.legacy!.connectionCount, 0)
        assert.equal(node.legacy!.links().length, 0)
      }
    } finally {
      await node.stop()
    }
  })

  it('refuses messages over the per-peer rate before checking them, then closes the flooder', async () => {
    const node = await startNode({ messagesPerSec: 1, messageBurst: 3 })
    const p = await V0Peer.connect(node.listenAddress!.port)
    try {
      await p.handshake()
      for (let i = 0; i < 20; i++) p.send('DISCOVER', { max_peers: 1 })
      await p.whenClosed()
      assert.ok(await refusals(node, 'rate_limited') >= 8)
      assert.ok(p.inbox.filter((m) => m.type === 'PEER_LIST').length <= 3)
    } finally {
      p.close()
      await node.stop()
    }
  })
})

describe('legacy bridge: keep-alive and hard fork', () => {
  it('PINGs a silent v0 peer and drops it after the idle timeout', async () => {
    const node = await startNode({ keepAliveMs: 150, idleTimeoutMs: 600 })
    const p = await V0Peer.connect(node.listenAddress!.port)
    try {
      await p.handshake()
      const ping = await p.next('PING', 3000)
      assert.equal(ping.verified, true)
      await p.whenClosed(5000) // we never answer: dropped
      assert.equal(node.legacy!.links().length, 0)
    } finally {
      p.close()
      await node.stop()
    }
  })

  it('with node.legacy false, a v0 stream is closed without an answer', async () => {
    const node = await startNode({}, false)
    const p = await V0Peer.connect(node.listenAddress!.port)
    try {
      assert.equal(node.legacy, undefined)
      p.send('PING', {})
      await p.whenClosed()
      assert.equal(p.inbox.length, 0)
    } finally {
      p.close()
      await node.stop()
    }
  })
})
