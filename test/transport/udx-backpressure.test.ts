/**
 * NAT issue 24 part 1: a link over a UDX stream (streamx: no `writableLength`) must move bulk data. The old
 * backpressure check computed `undefined + pending < highWaterMark` (always false) and waited forever for a drain.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { getUdx } from '../../src/nat/socket.js'
import { MessageType } from '../../src/wire/message-types.js'
import { startNode, waitFor } from './helpers.js'

test('bulk data over real UDX streams (no writableLength): backpressure works and every byte arrives', { timeout: 60_000 }, async (t) => {
  const udx = getUdx()
  const sa = udx.createSocket()
  const sb = udx.createSocket()
  sa.bind(0, '127.0.0.1')
  sb.bind(0, '127.0.0.1')
  const a = udx.createStream(1)
  const b = udx.createStream(2)
  t.after(async () => { a.destroy(); b.destroy(); await sa.close(); await sb.close() })
  a.connect(sa, 2, sb.address()!.port, '127.0.0.1')
  b.connect(sb, 1, sa.address()!.port, '127.0.0.1')
  assert.equal(typeof (a as unknown as { writableLength?: unknown }).writableLength, 'undefined', 'the stream has no writableLength')

  // a small high-water mark so the sender really hits backpressure many times
  const na = await startNode(t, { sendHighWaterMark: 64 * 1024 })
  const nb = await startNode(t)
  let got = 0
  let msgs = 0
  nb.router.handle(MessageType.VPN_DATA, (m) => { got += m.body.length; msgs++ })
  const inbound = nb.cm.adoptStream(b, { outbound: false, remoteAddr: { host: '127.0.0.1', port: sa.address()!.port } })
  const link = await na.cm.adoptStream(a, { outbound: true, remoteAddr: { host: '127.0.0.1', port: sb.address()!.port } })
  await inbound

  // large messages and small ones: a small write is taken by the stream without asking for a 'drain', so a sender
  // that waits for one after it hangs for good
  const big = new Uint8Array(64 * 1024).fill(0x5c)
  const small = new Uint8Array(1024).fill(0x5d)
  let total = 0
  let count = 0
  let waits = 0
  while (total < 8 * 1024 * 1024) {
    const body = count % 2 === 0 ? big : small
    total += body.length
    count++
    if (!link.send(MessageType.VPN_DATA, body)) { waits++; await link.whenWritable() }
  }
  await waitFor(() => got === total, `all ${total} bytes (got ${got})`, 50_000)
  assert.equal(msgs, count)
  assert.ok(waits > 0, 'the sender was held back at least once')
})
