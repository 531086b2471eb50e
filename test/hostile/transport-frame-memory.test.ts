/**
 * Hostile issue 14 part 4: sessions that each send a huge frame minus its last byte must not pin memory without
 * bound. The node's own accounting (bytes buffered in unfinished frames) must stay under the configured caps, the
 * slowest holders are closed, and an honest peer keeps being served, large messages included.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { test } from 'node:test'
import { MessageType } from '../../src/wire/message-types.js'
import { addr, refusals, startNode, waitFor, type TestNode } from '../transport/helpers.js'
import { attackSession, type AttackSession } from './transport-helpers.js'

const MiB = 1024 * 1024

/** The node's count of bytes held in unfinished frames, across all connections. */
const buffered = (n: TestNode): number => (n.cm as unknown as { bufferedFrameBytes: number }).bufferedFrameBytes

/** A v2 frame header claiming `body` bytes. */
function header(body: number): Buffer {
  const h = Buffer.alloc(16)
  h[0] = 0x5a; h[1] = 0x45; h[2] = 2; h[3] = MessageType.VPN_DATA
  h.writeUInt32BE(body, 4)
  return h
}

/** A v2 frame header claiming `body` bytes, then all but the last byte of some body. */
function almostAFrame(body: number): Buffer[] {
  const out = [header(body)]
  for (let left = body - 1; left > 0; left -= MiB) out.push(Buffer.alloc(Math.min(MiB, left), 0xab))
  return out
}

async function hold(target: TestNode, from: string, body: number): Promise<AttackSession> {
  const a = await attackSession(addr(target).port, from)
  for (const b of almostAFrame(body)) a.sock.write(b)
  return a
}

async function honestPeer(t: Parameters<typeof startNode>[0], target: TestNode): Promise<TestNode> {
  const honest = await startNode(t)
  const sock = connect({ host: '127.0.0.1', port: addr(target).port, localAddress: '127.0.0.1' })
  t.after(() => { sock.destroy() })
  await new Promise((r) => sock.once('connect', r))
  await honest.cm.adoptStream(sock, { outbound: true, remoteAddr: addr(target) })
  return honest
}

test('the header of a 16 MiB frame alone does not make the reader allocate 16 MiB', async (t) => {
  const target = await startNode(t)
  const a = await attackSession(addr(target).port, '127.0.5.2')
  t.after(() => a.sock.destroy())
  const before = process.memoryUsage().arrayBuffers
  const h = header(16 * MiB)
  a.sock.write(Buffer.concat([h, Buffer.alloc(1000)]))
  await waitFor(() => buffered(target) >= 1000, 'the frame start accounted')
  const grew = process.memoryUsage().arrayBuffers - before
  assert.ok(grew < 8 * MiB, `reader memory grew by ${grew} bytes for 1016 received`)
})

test('unfinished 16 MiB frames: the total buffered stays under the cap, the stalled holders are closed, an honest 12 MiB message arrives', async (t) => {
  const cap = 40 * MiB
  const target = await startNode(t, { limits: { maxBufferedFrameBytes: cap, connectsPerSecPerIp: 1e6, connectBurstPerIp: 1e6 } })
  const got: number[] = []
  target.router.handle(MessageType.VPN_DATA, (m) => { got.push(m.body.length) })
  target.router.handle(MessageType.SERVICE_REQUEST, (m) => { m.reply?.(MessageType.SERVICE_RESPONSE, m.body) })
  const honest = await honestPeer(t, target)
  const link = honest.cm.get(target.identity.publicKey)!

  const attackers: AttackSession[] = []
  t.after(() => attackers.forEach((a) => a.sock.destroy()))
  for (let i = 0; i < 2; i++) attackers.push(await hold(target, `127.0.4.${i + 1}`, 16 * MiB))
  await waitFor(() => buffered(target) >= 32 * MiB - 2, 'two stalled frames accounted', 20_000)
  let peak = 0
  const probe = setInterval(() => { peak = Math.max(peak, buffered(target)) }, 1)
  t.after(() => clearInterval(probe))

  // more stalled frames than the cap allows
  for (let i = 2; i < 6; i++) attackers.push(await hold(target, `127.0.4.${i + 1}`, 16 * MiB))
  await waitFor(() => attackers.filter((a) => a.conn.closed).length >= 3, 'the slowest holders closed', 20_000)
  assert.ok(((await refusals(target)).get('frame_memory') ?? 0) >= 3)
  // Wait until every holder still open has delivered all but its last byte: on a loaded machine a holder's data can
  // still be arriving, and a holder that still makes progress is (rightly) not "slower" than the honest sender.
  const stalled = (): boolean => buffered(target) === attackers.filter((a) => !a.conn.closed).length * (16 + 16 * MiB - 1) // header + body less its last byte
  await waitFor(stalled, 'the surviving holders stalled', 20_000).catch((e: Error) => {
    throw new Error(`${e.message}: ${buffered(target)} bytes held, ${attackers.filter((a) => !a.conn.closed).length} holders open`)
  })

  // the honest peer's large message finishes while stalled frames still hold memory
  link.send(MessageType.VPN_DATA, new Uint8Array(12 * MiB))
  await waitFor(() => got.length === 1, 'the honest 12 MiB message', 20_000)
  assert.equal(got[0], 12 * MiB)
  const r = await link.request(MessageType.SERVICE_REQUEST, new Uint8Array([1]))
  assert.deepEqual([...r.body], [1])
  clearInterval(probe)
  peak = Math.max(peak, buffered(target))
  // one read may land before the check that closes a holder: allow one read (at most a 1 MiB slab) over the cap
  assert.ok(peak <= cap + MiB, `peak buffered ${peak} vs cap ${cap}`)
  assert.ok(!link.closed)
})

test('one connection may not buffer more than maxBufferedPerConnection', async (t) => {
  const target = await startNode(t, { maxFrameBytes: 16 * MiB, limits: { maxBufferedPerConnection: 4 * MiB } })
  const a = await hold(target, '127.0.5.1', 8 * MiB)
  t.after(() => a.sock.destroy())
  const reason = await a.closed
  assert.ok(reason.length > 0)
  assert.ok(((await refusals(target)).get('frame_memory') ?? 0) + ((await refusals(target)).get('oversize') ?? 0) >= 1)
  assert.ok(buffered(target) < 4 * MiB)
})
