/**
 * Hostile issue 14 part 9 (bans): garbage from an IP must not lock every identity behind that IP out for a minute.
 * Pre-handshake garbage bans the IP briefly, the ban growing with each repeat; abuse after the handshake bans the
 * identity, never the IP. Time runs on a manual clock.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { test } from 'node:test'
import { MessageType } from '../../src/wire/message-types.js'
import { addr, rawExchange, refusals, startNode, type TestNode } from '../transport/helpers.js'
import { attackSession, ManualClock } from './transport-helpers.js'

const garbage = (): Buffer => Buffer.from([0x5a, 0x45, 9, 9, 0, 0, 0, 0])

async function tryDial(t: Parameters<typeof startNode>[0], target: TestNode, localAddress: string): Promise<boolean> {
  const honest = await startNode(t)
  const sock = connect({ host: '127.0.0.1', port: addr(target).port, localAddress })
  sock.on('error', () => {})
  t.after(() => { sock.destroy() })
  await new Promise((r) => sock.once('connect', r))
  try {
    const link = await honest.cm.adoptStream(sock, { outbound: true, remoteAddr: addr(target) })
    const r = await link.request(MessageType.SERVICE_REQUEST, new Uint8Array([5]))
    return r.body[0] === 5
  } catch { return false } finally { await honest.cm.stop() }
}

test('5 garbage connections from an IP: a short IP ban that grows with each repeat, not 60 s for everyone behind it', async (t) => {
  const clock = new ManualClock()
  const target = await startNode(t, {}, { clock })
  target.router.handle(MessageType.SERVICE_REQUEST, (m) => { m.reply?.(MessageType.SERVICE_RESPONSE, m.body) })
  const port = addr(target).port
  for (let i = 0; i < 5; i++) await rawExchange(port, [garbage()], { localAddress: '127.0.6.1' })
  assert.ok(((await refusals(target)).get('banned') ?? 0) >= 1, 'the garbage got the IP banned')
  assert.equal(await tryDial(t, target, '127.0.6.1'), false, 'banned right after the abuse')
  assert.equal(await tryDial(t, target, '127.0.6.2'), true, 'another IP is not affected')
  clock.advance(6_000)
  assert.equal(await tryDial(t, target, '127.0.6.1'), true, 'an honest identity behind the IP is served after a short first ban')

  // again: the second ban is longer than the first
  for (let i = 0; i < 5; i++) await rawExchange(port, [garbage()], { localAddress: '127.0.6.1' })
  clock.advance(6_000)
  assert.equal(await tryDial(t, target, '127.0.6.1'), false, 'the repeated ban lasts longer')
  clock.advance(6_000)
  assert.equal(await tryDial(t, target, '127.0.6.1'), true)
})

test('abuse after the handshake bans that identity only; other identities from the same IP keep being served', async (t) => {
  const target = await startNode(t, { limits: { strikes: 3 } })
  target.router.handle(MessageType.SERVICE_REQUEST, (m) => { m.reply?.(MessageType.SERVICE_RESPONSE, m.body) })
  const port = addr(target).port
  const bad = await attackSession(port, '127.0.7.1')
  t.after(() => bad.sock.destroy())
  // reserved message types are refused with a strike against the sender's identity
  for (let i = 0; i < 3; i++) bad.conn.sendFrame(MessageType.HELLO, new Uint8Array([0]))
  await bad.closed
  const r = await refusals(target)
  assert.ok((r.get('banned') ?? 0) >= 1)
  assert.equal(await tryDial(t, target, '127.0.7.1'), true, 'a different identity on the same IP is served at once')
})
