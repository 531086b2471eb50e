/**
 * Sizes, refusals and balance claims towards a v0 peer (the test V0Peer, which meters the bytes it sends and
 * receives like a v1.2.4 node).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ZeoneNode } from '../../src/node.js'
import { num, pyTime, V0Peer } from '../transport/legacy-v0-peer.js'
import { cleanupDirs, startTsNode } from './helpers.js'

after(cleanupDirs)
const txt = (v: unknown): number => Number(String(v).replace('\u0000N', ''))

async function metric(node: ZeoneNode, name: string, label: string, value: string): Promise<number> {
  const m = await node.metrics.getSingleMetric(name)?.get()
  return m?.values.find((v) => v.labels[label] === value)?.value ?? 0
}

describe('legacy sizes: what v1.2.4 nodes really send', () => {
  let node: ZeoneNode
  const peers: V0Peer[] = []
  before(async () => { node = await startTsNode({ byteBurst: 64 << 20 }) })
  after(async () => { for (const p of peers) p.close(); await node.stop() })
  const dial = async (): Promise<V0Peer> => { const p = await V0Peer.connect(node.listenAddress!.port); peers.push(p); await p.handshake(); return p }

  it('echoes a 500 KiB payload', async () => {
    const p = await dial()
    const big = 'x'.repeat(500 << 10)
    p.send('SERVICE_REQUEST', { service_name: 'echo', payload: big, budget: num('1.0'), request_id: 'big' })
    const r = await p.next('SERVICE_RESPONSE', 20_000)
    assert.equal(r.payload.success, true, String(r.payload.error))
    assert.equal(r.payload.result, big)
  })

  it('echoes a 256k-character non-ASCII string (a 1.5 MB frame once escaped) and keeps the link', async () => {
    const p = await dial()
    const s = 'é'.repeat(256 << 10)
    const frame = p.frame('SERVICE_REQUEST', { service_name: 'echo', payload: s, budget: num('1.0'), request_id: 'esc' })
    assert.ok(frame.length > 1_500_000)
    p.socket!.write(frame)
    const r = await p.next('SERVICE_RESPONSE', 20_000)
    assert.equal(r.payload.success, true, String(r.payload.error))
    assert.equal(r.payload.result, s)
    p.send('PING', {})
    await p.next('PONG')
  })

  it('answers a request over the frame cap with an error reply and keeps the link', async () => {
    const p = await dial()
    const s = 'y'.repeat(5 << 20) // over the 4 MiB cap
    p.send('SERVICE_REQUEST', { service_name: 'echo', payload: s, budget: num('1.0'), request_id: 'too-big' })
    const r = await p.next('SERVICE_RESPONSE', 20_000)
    assert.equal(r.payload.success, false)
    assert.equal(r.payload.request_id, 'too-big')
    assert.match(String(r.payload.error), /too large/)
    assert.equal(r.verified, true)
    p.send('PING', {})
    await p.next('PONG')
  })

  it('still closes a stream declaring a frame over the skip limit', async () => {
    const p = await dial()
    const head = Buffer.alloc(4)
    head.writeUInt32BE(64 << 20)
    p.socket!.write(head)
    await p.whenClosed()
  })
})

describe('legacy refusals: the v0 error replies', () => {
  it('a malformed DHT request gets STORE_RESPONSE / ERROR with the reason, not silence', async () => {
    const node = await startTsNode()
    const p = await V0Peer.connect(node.listenAddress!.port)
    try {
      await p.handshake()
      const sender = { sender_id: '00'.repeat(20), sender_host: '127.0.0.1', sender_port: 1 }
      const n1 = 'AAECAwQFBgcICQoL'
      p.send('DATA', { dht: true, dht_request: { type: 'STORE', key: 'zz', value: 'ab', ttl: 60, ...sender }, nonce: n1 }, { nonce: n1 })
      const n2 = 'AQECAwQFBgcICQoL'
      p.send('DATA', { dht: true, dht_request: { type: 'FIND_NODE', target_id: 'nope', ...sender }, nonce: n2 }, { nonce: n2 })
      const got = new Map<string, Record<string, unknown>>()
      while (got.size < 2) {
        const m = await p.next('DATA')
        if (m.payload.dht_response) got.set(String(m.payload.nonce), m.payload.dht_response as Record<string, unknown>)
      }
      assert.equal(got.get(n1)!.type, 'STORE_RESPONSE')
      assert.equal(got.get(n1)!.success, false)
      assert.match(String(got.get(n1)!.error), /key/)
      assert.equal(got.get(n2)!.type, 'ERROR')
      assert.match(String(got.get(n2)!.error), /target_id/)
    } finally {
      p.close()
      await node.stop()
    }
  })
})

describe('legacy balance claims: real totals, v1.2.4 status values', () => {
  it('claims the bytes it really sent and received, agrees with a true claim and disputes a false one', async () => {
    const node = await startTsNode()
    const p = await V0Peer.connect(node.listenAddress!.port)
    try {
      const pong = await p.handshake()
      const claim = await p.next('BALANCE_CLAIM')
      // its totals: our PING was all it had received; its PONG all it had sent before the claim
      assert.equal(txt(claim.payload.total_received), p.bytesOut)
      assert.equal(txt(claim.payload.total_sent), pong.bytes)
      assert.equal(txt(claim.payload.claimed_balance), txt(claim.payload.total_sent) - txt(claim.payload.total_received))
      assert.match(String(claim.payload.total_sent), /\.0$/, 'a float, as v1.2.4 writes it')

      for (let i = 0; i < 20; i++) { p.send('PING', {}); await p.next('PONG') }
      // a true claim: what we sent (all of it arrived: the PONGs prove it) and what we received
      await new Promise((r) => setTimeout(r, 50))
      const t = { sent: p.bytesOut, recv: p.bytesIn }
      p.send('BALANCE_CLAIM', { claimed_balance: num(`${t.sent - t.recv}.0`), total_sent: num(`${t.sent}.0`), total_received: num(`${t.recv}.0`), timestamp: pyTime(Date.now()) })
      const ok = await p.next('BALANCE_ACK')
      assert.equal(ok.payload.status, 'agreed')
      assert.equal(ok.payload.acknowledged, true)
      assert.equal(await metric(node, 'zeone_legacy_balance_disputes_total', 'side', 'ours'), 0)

      const disputesBefore = await metric(node, 'zeone_legacy_balance_disputes_total', 'side', 'ours')
      p.send('BALANCE_CLAIM', { claimed_balance: num('1000000000.0'), total_sent: num('1000000000.0'), total_received: num('0.0'), timestamp: pyTime(Date.now()) })
      const bad = await p.next('BALANCE_ACK')
      assert.equal(bad.payload.status, 'disputed')
      assert.equal(await metric(node, 'zeone_legacy_balance_disputes_total', 'side', 'ours'), disputesBefore + 1)
      // evidence only: the claim created no credit for the peer
      assert.equal(node.services.get('legacyServices')!.owedBy(p.keys.id), 0n)
      assert.equal(node.legacy!.meter.evidence(p.keys.id)?.status, 'disputed')

      p.send('BALANCE_CLAIM', { claimed_balance: 'lots', total_sent: num('-1.0'), total_received: num('0.0'), timestamp: pyTime(Date.now()) })
      const invalid = await p.next('BALANCE_ACK')
      assert.equal(invalid.payload.acknowledged, false)
    } finally {
      p.close()
      await node.stop()
    }
  })
})
