import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MessageType } from '../../src/wire/message-types.js'
import { addr, startNode, waitFor } from './helpers.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

for (const version of [2, 1] as const) {
  test(`v${version}: dial, request/reply through the router, one-way messages, ping`, async (t) => {
    const a = await startNode(t, { wireVersions: [version] })
    const b = await startNode(t)
    const got: string[] = []
    b.router.handle(MessageType.SERVICE_REQUEST, (m) => { m.reply?.(MessageType.SERVICE_RESPONSE, enc.encode(`echo:${dec.decode(m.body)}`)) })
    b.router.handle(MessageType.VPN_DATA, (m) => { got.push(dec.decode(m.body)) })
    const link = await a.cm.dial(addr(b))
    assert.equal(link.peer.version, version)
    assert.equal(link.peer.nodeIdB64, b.identity.nodeIdB64)
    assert.equal(link.peer.outbound, true)
    const r = await link.request(MessageType.SERVICE_REQUEST, enc.encode('hi'))
    assert.equal(r.type, MessageType.SERVICE_RESPONSE)
    assert.equal(dec.decode(r.body), 'echo:hi')
    for (let i = 0; i < 100; i++) link.send(MessageType.VPN_DATA, enc.encode(String(i)))
    await waitFor(() => got.length === 100, 'one-way messages')
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => String(i)))
    const rtt = await a.cm.ping(link)
    assert.ok(rtt >= 0)
    // the inbound side sees the advertised listening port, never the ephemeral source port
    await waitFor(() => b.cm.get(a.identity.publicKey) !== undefined, 'inbound link')
    const back = b.cm.get(a.identity.publicKey)!
    assert.equal(back.peer.outbound, false)
    assert.equal(back.peer.listenAddr?.port, addr(a).port)
    assert.notEqual(back.peer.remoteAddr.port, addr(a).port)
    // a second dial returns the same link
    assert.equal(await a.cm.dial(addr(b)), link)
  })
}

test('large messages (recycled frame buffers) and small ones (BATCH frames) arrive intact and in order', async (t) => {
  const a = await startNode(t)
  const b = await startNode(t)
  const got: Array<{ len: number; first: number; last: number }> = []
  b.router.handle(MessageType.VPN_DATA, (m) => { got.push({ len: m.body.length, first: m.body[0]!, last: m.body[m.body.length - 1]! }) })
  const link = await a.cm.dial(addr(b))
  const buf = new Uint8Array(70_000)
  const sent: Array<{ len: number; first: number; last: number }> = []
  for (let i = 0; i < 120; i++) {
    const len = i % 3 === 0 ? 100 + i : 70_000 - i
    const body = buf.subarray(0, len)
    body.fill(i & 0xff)
    body[len - 1] = (i * 7) & 0xff
    sent.push({ len, first: i & 0xff, last: (i * 7) & 0xff })
    if (!link.send(MessageType.VPN_DATA, body)) await link.whenWritable()
    if (i % 10 === 0) await new Promise((r) => setImmediate(r)) // let earlier frames hit the socket so buffers recycle
  }
  await waitFor(() => got.length === sent.length, 'all messages')
  assert.deepEqual(got, sent)
})
