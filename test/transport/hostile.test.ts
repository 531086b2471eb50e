import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { test } from 'node:test'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { ZeoneError } from '../../src/util/errors.js'
import { encodeHandshakeFrame } from '../../src/wire/frame.js'
import { HandshakeInitiator } from '../../src/wire/handshake.js'
import { MessageType } from '../../src/wire/message-types.js'
import { addr, rawExchange, refusals, startNode, waitFor } from './helpers.js'

function helloFrame(): Buffer {
  const ini = new HandshakeInitiator({
    identity: Identity.fromSeed(randomBytes(32)), versions: [2, 1], preferredVersion: 2, capabilities: [], suites: ['chacha20-poly1305'],
    listenPort: 0, maxFrame: 1 << 20, now: () => Date.now(),
  })
  return encodeHandshakeFrame(MessageType.HELLO, ini.hello())
}

test('dial with the wrong expected identity is refused', async (t) => {
  const a = await startNode(t)
  const b = await startNode(t)
  await assert.rejects(a.cm.dial(addr(b), { expectNodeId: randomBytes(32) }), (e: unknown) => e instanceof ZeoneError && e.code === 'identity_mismatch')
  assert.equal(a.cm.links().length, 0)
  assert.equal((await refusals(a)).get('identity_mismatch'), 1)
  const ok = await a.cm.dial(addr(b), { expectNodeId: b.identity.publicKey })
  assert.equal(ok.peer.nodeIdB64, b.identity.nodeIdB64)
})

test('a stream without the magic is closed at once (legacy off) or handed to the legacy acceptor (legacy on)', async (t) => {
  const a = await startNode(t)
  const r = await rawExchange(addr(a).port, [Buffer.from('{"type":"PING"}\n')])
  assert.equal(r.closed, true)
  assert.equal(r.received.length, 0)
  assert.equal((await refusals(a)).get('bad_magic'), 1)

  const handed: Buffer[] = []
  const b = await startNode(t, { legacy: true }, {
    legacyAcceptor: (sock, first) => { handed.push(first); sock.on('data', (d) => handed.push(d)); sock.write('v0 hello'); sock.end() },
  })
  const r2 = await rawExchange(addr(b).port, [Buffer.from('{"type"'), Buffer.from(':"PING"}')])
  assert.equal(r2.received.toString(), 'v0 hello')
  assert.equal(Buffer.concat(handed).toString().startsWith('{"type"'), true)
})

test('a silent client is dropped after the handshake timeout', async (t) => {
  const a = await startNode(t, { handshakeTimeoutMs: 200 })
  const r = await rawExchange(addr(a).port, [], { timeoutMs: 5000 })
  assert.equal(r.closed, true)
  assert.equal((await refusals(a)).get('handshake_timeout'), 1)
})

test('a replayed HELLO is refused, also after a restart with the same data dir', async (t) => {
  const a = await startNode(t)
  const hello = helloFrame()
  const first = await rawExchange(addr(a).port, [hello], { timeoutMs: 300 })
  assert.ok(first.received.length > 8, 'the first HELLO gets a HELLO_ACK')
  const again = await rawExchange(addr(a).port, [hello])
  assert.equal(again.closed, true)
  assert.equal(again.received.length, 0)
  assert.equal((await refusals(a)).get('replayed_hello'), 1)
  await a.cm.stop()
  const a2 = await startNode(t, {}, { dataDir: a.dir, identity: a.identity })
  const afterRestart = await rawExchange(addr(a2).port, [hello])
  assert.equal(afterRestart.received.length, 0)
  assert.equal((await refusals(a2)).get('replayed_hello'), 1)
  const fresh = await rawExchange(addr(a2).port, [helloFrame()], { timeoutMs: 300 })
  assert.ok(fresh.received.length > 8)
})

test('max connections, per-IP connect rate and a growing ban for repeated invalid input', async (t) => {
  const a = await startNode(t, { limits: { maxConnections: 2 } })
  const socks = [connect(addr(a).port, '127.0.0.1'), connect(addr(a).port, '127.0.0.1')]
  t.after(() => socks.forEach((s) => s.destroy()))
  await waitFor(() => a.cm.connectionCount === 2, 'two connections')
  const third = await rawExchange(addr(a).port, [])
  assert.equal(third.closed, true)
  assert.equal((await refusals(a)).get('max_connections'), 1)

  const b = await startNode(t, { limits: { connectsPerSecPerIp: 0.001, connectBurstPerIp: 2 } })
  await rawExchange(addr(b).port, [helloFrame()], { timeoutMs: 100 })
  await rawExchange(addr(b).port, [helloFrame()], { timeoutMs: 100 })
  const limited = await rawExchange(addr(b).port, [helloFrame()])
  assert.equal(limited.received.length, 0)
  assert.equal((await refusals(b)).get('connect_rate'), 1)

  const c = await startNode(t, { limits: { strikes: 2, banBaseMs: 60_000 } })
  for (let i = 0; i < 2; i++) await rawExchange(addr(c).port, [Buffer.from([0x5a, 0x45, 9, 9, 0, 0, 0, 0])])
  const banned = await rawExchange(addr(c).port, [helloFrame()])
  assert.equal(banned.received.length, 0)
  const r = await refusals(c)
  assert.equal(r.get('bad_version'), 2)
  assert.ok((r.get('banned') ?? 0) >= 2, 'the ban itself and the refused connection are counted')
})

test('an honest link survives keep-alive; a peer that stops answering is dropped as idle', async (t) => {
  // generous margins: a PING goes out after 100 ms of silence, a link is dropped after 1.5 s
  const a = await startNode(t, { keepAliveMs: 100, idleTimeoutMs: 1500 })
  const b = await startNode(t, { keepAliveMs: 100, idleTimeoutMs: 1500 })
  const link = await a.cm.dial(addr(b))
  await new Promise((r) => setTimeout(r, 2500))
  assert.equal(link.closed, false, 'pings keep the link alive')

  const c = await startNode(t, { keepAliveMs: 60_000, idleTimeoutMs: 60_000 })
  const sock = connect(addr(a).port, '127.0.0.1')
  t.after(() => { sock.destroy() })
  const cl = await c.cm.adoptStream(sock, { outbound: true, remoteAddr: addr(a) })
  await waitFor(() => a.cm.get(c.identity.publicKey) !== undefined, 'inbound link on a')
  sock.pause() // c stops reading, so it never answers a's pings
  await waitFor(() => a.cm.get(c.identity.publicKey) === undefined, 'idle drop', 5000)
  assert.ok(((await refusals(a)).get('idle_timeout') ?? 0) >= 1)
  void cl
})

test('a corrupt replay filter file is moved aside and the node still starts', async (t) => {
  const { writeFileSync, readdirSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tempDir } = await import('./helpers.js')
  const dir = tempDir(t)
  writeFileSync(join(dir, 'replay.bloom'), 'not a filter')
  const a = await startNode(t, {}, { dataDir: dir })
  assert.ok(addr(a).port > 0)
  assert.ok(readdirSync(dir).some((f) => f.startsWith('replay.bloom.bad-')))
  const b = await startNode(t)
  await b.cm.dial(addr(a))
  await a.cm.stop()
  assert.ok(readdirSync(dir).includes('replay.bloom'), 'a fresh filter is saved on stop')
})
