import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, LAYERS, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { V0Keys, V0Peer, V0Server, num, pyTime } from './legacy-v0-peer.js'

const dirs: string[] = []
function tmp(): string { const d = mkdtempSync(join(tmpdir(), 'zeone-legacy-')); dirs.push(d); return d }

/** Only the services layer: these tests own the legacy DHT handler and the pricing. */
const servicesOnly = LAYERS.filter(([name]) => name === 'services')

async function startNode(extra: Record<string, unknown> = {}, legacy = true, services: Record<string, unknown> = {}): Promise<ZeoneNode> {
  const config = validateConfig({
    dataDir: tmp(), node: { port: 0, host: '127.0.0.1', legacy }, ops: { httpPort: -1, logLevel: 'silent' }, dht: { staticPuzzleBits: 0 },
    legacy: { keepAliveMs: 30_000, idleTimeoutMs: 90_000, ...extra }, services,
  })
  const node = createNode(config, { layers: servicesOnly })
  await node.start()
  return node
}

async function refusals(node: ZeoneNode, reason: string): Promise<number> {
  const m = await node.metrics.getSingleMetric('zeone_legacy_refusals_total')?.get()
  return m?.values.find((v) => v.labels.reason === reason)?.value ?? 0
}

after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

describe('legacy bridge: a v0 peer dials a ZEONE-TS node over TCP', () => {
  let node: ZeoneNode
  const peers: V0Peer[] = []
  const dial = async (keys?: V0Keys): Promise<V0Peer> => { const p = await V0Peer.connect(node.listenAddress!.port, keys); peers.push(p); return p }
  before(async () => { node = await startNode() })
  after(async () => { for (const p of peers) p.close(); await node.stop() })

  it('answers PING with a signed PONG, then exchanges BALANCE_CLAIM/ACK', async () => {
    const p = await dial()
    const pong = await p.handshake()
    assert.equal(pong.verified, true)
    assert.equal(pong.sender_id, node.identity.nodeIdB64)
    assert.ok(typeof pong.payload.ping_timestamp === 'string') // number text kept
    const claim = await p.next('BALANCE_CLAIM')
    assert.equal(claim.verified, true)
    assert.deepEqual(Object.keys(claim.payload).sort(), ['claimed_balance', 'timestamp', 'total_received', 'total_sent'])
    p.send('BALANCE_CLAIM', { claimed_balance: num('12.5'), total_sent: num('0.0'), total_received: num('0.0'), timestamp: pyTime(Date.now()) })
    const ack = await p.next('BALANCE_ACK')
    assert.equal(ack.payload.acknowledged, true)
    assert.equal(ack.payload.peer_claimed, num('12.5'))
    assert.equal(node.legacy!.links().length >= 1, true)
  })

  it('serves echo to a v0 SERVICE_REQUEST and keeps the payload numbers exact', async () => {
    const p = await dial()
    await p.handshake()
    p.send('SERVICE_REQUEST', { service_name: 'echo', payload: { msg: 'héllo', x: num('1.0'), big: num('123456789012345678901234') }, budget: num('1.0'), request_id: 'r1' })
    const r = await p.next('SERVICE_RESPONSE')
    assert.equal(r.verified, true)
    assert.equal(r.payload.success, true)
    assert.equal(r.payload.request_id, 'r1')
    // as v1.2.4 does: a dict comes back with request_id and requester_id added
    assert.deepEqual(r.payload.result, { msg: 'héllo', x: num('1.0'), big: num('123456789012345678901234'), request_id: 'r1', requester_id: p.keys.id })
    assert.equal(r.payload.provider_id, node.identity.nodeIdB64)
  })

  it('refuses services not offered to v0 peers', async () => {
    const p = await dial()
    await p.handshake()
    p.send('SERVICE_REQUEST', { service_name: 'vpn_exit', payload: {}, budget: num('100.0'), request_id: 'r2' })
    const r = await p.next('SERVICE_RESPONSE')
    assert.equal(r.payload.success, false)
    assert.match(String(r.payload.error), /not_permitted/)
  })

  it('answers DISCOVER without advertising ephemeral source ports of inbound peers', async () => {
    const a = await dial()
    await a.handshake()
    const p = await dial()
    await p.handshake()
    p.send('DISCOVER', { max_peers: 20 })
    const list = await p.next('PEER_LIST')
    const peersListed = list.payload.peers as Array<{ node_id: string; port: string }>
    assert.ok(Array.isArray(peersListed))
    // inbound v0 peers have no verified listening address: neither a nor p appear
    assert.equal(peersListed.some((x) => x.node_id === a.keys.id || x.node_id === p.keys.id), false)
  })

  it('refuses replays, stale and future timestamps, bad signatures and forbidden types', async () => {
    const p = await dial()
    await p.handshake()
    const frame = p.frame('DISCOVER', { max_peers: 1 })
    p.socket!.write(frame)
    await p.next('PEER_LIST')
    const before = { replay: await refusals(node, 'replay'), old: await refusals(node, 'too_old'), fut: await refusals(node, 'future_timestamp'), sig: await refusals(node, 'bad_signature'), np: await refusals(node, 'not_permitted') }
    p.socket!.write(frame) // exact replay
    p.send('DISCOVER', { max_peers: 1 }, { timestampMs: Date.now() - 60_000 })
    p.send('DISCOVER', { max_peers: 1 }, { timestampMs: Date.now() + 60_000 })
    p.send('DISCOVER', { max_peers: 1 }, { corruptSignature: true })
    p.send('VPN_CONNECT', { host: '127.0.0.1', port: 22 })
    const nonce = p.send('PING', {})
    const pong = await p.next('PONG')
    assert.equal(pong.payload.original_nonce, nonce)
    assert.equal(p.inbox.filter((m) => m.type === 'PEER_LIST').length, 0, 'no refused DISCOVER was answered')
    assert.equal(await refusals(node, 'replay'), before.replay + 1)
    assert.equal(await refusals(node, 'too_old'), before.old + 1)
    assert.equal(await refusals(node, 'future_timestamp'), before.fut + 1)
    assert.equal(await refusals(node, 'bad_signature'), before.sig + 1)
    assert.equal(await refusals(node, 'not_permitted'), before.np + 1)
  })

  it('binds sender_id to the connection: a message from another key is refused', async () => {
    const p = await dial()
    await p.handshake()
    const before = await refusals(node, 'sender_mismatch')
    p.send('DISCOVER', { max_peers: 1 }, { keys: new V0Keys() }) // validly signed by someone else
    p.send('PING', {})
    await p.next('PONG')
    assert.equal(p.inbox.some((m) => m.type === 'PEER_LIST'), false)
    assert.equal(await refusals(node, 'sender_mismatch'), before + 1)
  })

  it('closes a stream that declares an oversized frame, before buffering it', async () => {
    const p = await dial()
    const head = Buffer.alloc(4)
    head.writeUInt32BE(64 << 20)
    p.socket!.write(head)
    await p.whenClosed()
  })

  it('closes a stream that does not start with PING, and one that is not JSON', async () => {
    const a = await dial()
    a.send('DISCOVER', { max_peers: 1 })
    await a.whenClosed()
    const b = await dial()
    const junk = Buffer.from('{not json')
    const head = Buffer.alloc(4)
    head.writeUInt32BE(junk.length)
    b.socket!.write(Buffer.concat([head, junk]))
    b.send('PING', {})
    // the junk frame counts as invalid; the PING still yields a session
    await b.next('PONG')
  })
})

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
