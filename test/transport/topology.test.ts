import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import type { FrameEvent } from '../../src/interfaces/node-context.js'
import { compareBytes } from '../../src/util/bytes.js'
import { ConnectionManager } from '../../src/transport/connection-manager.js'
import { Router } from '../../src/transport/router.js'
import { MessageType } from '../../src/wire/message-types.js'
import { addr, config, startNode, tempDir, waitFor } from './helpers.js'

test('simultaneous dials end with one link per pair, the one dialed by the smaller node id', async (t) => {
  for (let round = 0; round < 3; round++) {
    const a = await startNode(t)
    const b = await startNode(t)
    const [la, lb] = await Promise.all([a.cm.dial(addr(b)), b.cm.dial(addr(a))])
    assert.ok(la && lb)
    await waitFor(() => a.cm.links().length === 1 && b.cm.links().length === 1 && !a.cm.links()[0]!.closed && !b.cm.links()[0]!.closed, 'one link each')
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(a.cm.links().length, 1)
    assert.equal(b.cm.links().length, 1)
    const aSmaller = compareBytes(a.identity.publicKey, b.identity.publicKey) < 0
    assert.equal(a.cm.links()[0]!.peer.outbound, aSmaller)
    assert.equal(b.cm.links()[0]!.peer.outbound, !aSmaller)
    const r = await a.cm.links()[0]!.request(MessageType.PING, new Uint8Array([0xa1, 0x69, ...new TextEncoder().encode('timestamp'), 0x00])).catch((e: Error) => e)
    assert.ok(r instanceof Error, 'a PING with a 1970 timestamp is refused by the peer')
    assert.ok((await a.cm.ping(a.cm.links()[0]!)) >= 0)
    await a.cm.stop()
    await b.cm.stop()
  }
})

test('DISCOVER/PEER_LIST: a node learns its peers\' peers at their listening address', async (t) => {
  const hub = await startNode(t)
  const b = await startNode(t)
  const c = await startNode(t)
  await b.cm.dial(addr(hub))
  await waitFor(() => hub.cm.links().length === 1, 'hub sees b')
  await c.cm.dial(addr(hub))
  await waitFor(() => c.cm.knownPeers().some((p) => compareBytes(p.nodeId, b.identity.publicKey) === 0), 'c hears of b')
  const heard = c.cm.knownPeers().find((p) => compareBytes(p.nodeId, b.identity.publicKey) === 0)!
  assert.equal(heard.port, addr(b).port)
  assert.equal(heard.lastSeen, 0)
  assert.ok(!c.cm.knownPeers().some((p) => compareBytes(p.nodeId, c.identity.publicKey) === 0))
  const link = await c.cm.dial({ host: heard.host, port: heard.port }, { expectNodeId: heard.nodeId })
  assert.equal(link.peer.nodeIdB64, b.identity.nodeIdB64)
})

test('WireTap and metrics see application frames by type and direction', async (t) => {
  const a = await startNode(t)
  const b = await startNode(t)
  b.router.handle(MessageType.CACHE_REQUEST, (m) => { m.reply?.(MessageType.CACHE_RESPONSE, new Uint8Array(10)) })
  const evs: FrameEvent[] = []
  const off = a.cm.observe((e) => evs.push(e))
  const link = await a.cm.dial(addr(b))
  await link.request(MessageType.CACHE_REQUEST, new Uint8Array(100))
  off()
  assert.ok(evs.some((e) => e.direction === 'out' && e.type === MessageType.CACHE_REQUEST && e.bytes === 100))
  assert.ok(evs.some((e) => e.direction === 'in' && e.type === MessageType.CACHE_RESPONSE && e.bytes === 10))
  const text = await a.cm.metrics.registry.metrics()
  assert.match(text, /zeone_frames_total\{type="CACHE_REQUEST",direction="out"\} 1/)
  assert.match(text, /zeone_handshakes_total\{outcome="ok"\} 1/)
  assert.match(text, /zeone_peers_connected 1/)
  assert.match(text, /zeone_handshake_duration_seconds_count\{outcome="ok"\} 1/)
})

test('unknown types and malformed envelopes are refused and the link stays up', async (t) => {
  const a = await startNode(t)
  const b = await startNode(t)
  const link = await a.cm.dial(addr(b))
  link.send(0x99, new Uint8Array(3))
  const r = await link.request(MessageType.DHT_STORE, new Uint8Array(1)).catch((e: Error) => e)
  assert.ok(r instanceof Error && /unhandled_type/.test(r.message))
  assert.ok((await a.cm.ping(link)) >= 0)
  const rb = await b.cm.metrics.refusals.get()
  assert.ok(rb.values.some((v) => v.labels.reason === 'unknown_type'))
  assert.ok(rb.values.some((v) => v.labels.reason === 'unhandled_type' && v.value === 1))
})

test('construct then stop without start, stop twice, dial after stop', async (t) => {
  const cm = new ConnectionManager({ identity: Identity.fromSeed(randomBytes(32)), config: config(), dataDir: tempDir(t), router: new Router() })
  await cm.stop()
  await cm.stop()
  await assert.rejects(cm.dial({ host: '127.0.0.1', port: 1 }))
  const a = await startNode(t)
  const b = await startNode(t)
  const link = await a.cm.dial(addr(b))
  const closed = new Promise<string>((r) => link.onClose(r))
  await Promise.all([b.cm.stop(), b.cm.stop()])
  assert.ok((await closed).length > 0)
  await waitFor(() => a.cm.links().length === 0, 'link gone')
})
