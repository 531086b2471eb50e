/** Legacy bridge: a v0 peer dials a ZEONE-TS node over TCP (see legacy-bridge-out.test.ts for the other cases). */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ZeoneNode } from '../../src/node.js'
import { V0Keys, V0Peer, num, pyTime } from './legacy-v0-peer.js'
import { refusals, startNode } from './legacy-helpers.js'
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

