/**
 * Hostile issue 14 part 3: one IP with fresh identities must not lock honest peers out. Attack sessions complete
 * real handshakes and stay open; an honest peer must still get a link and be served.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { test } from 'node:test'
import type { ConnectionManagerInit } from '../../src/transport/connection-manager.js'
import { MessageType } from '../../src/wire/message-types.js'
import { addr, refusals, startNode, waitFor, type TestNode } from '../transport/helpers.js'
import { attackSessions, openSessions, type AttackSession } from './transport-helpers.js'

// the connect rate is not what is tested here: let the attacker open sessions as fast as it likes
const FAST_CONNECTS = { connectsPerSecPerIp: 1e6, connectBurstPerIp: 1e6 }

async function served(t: Parameters<typeof startNode>[0], target: TestNode, localAddress: string, extra: Partial<ConnectionManagerInit> = {}): Promise<TestNode> {
  const honest = await startNode(t, {}, extra)
  const sock = connect({ host: '127.0.0.1', port: addr(target).port, localAddress })
  sock.on('error', () => {})
  t.after(() => { sock.destroy() })
  await new Promise((r) => sock.once('connect', r))
  const link = await honest.cm.adoptStream(sock, { outbound: true, remoteAddr: addr(target) })
  const r = await link.request(MessageType.SERVICE_REQUEST, new Uint8Array([7, 7]))
  assert.deepEqual([...r.body], [7, 7], 'the honest peer is served')
  return honest
}

function echo(n: TestNode): void {
  n.router.handle(MessageType.SERVICE_REQUEST, (m) => { m.reply?.(MessageType.SERVICE_RESPONSE, m.body) })
}

test('one IP opening more sessions than there are slots holds at most maxSessionsPerIp; an honest peer is served', async (t) => {
  const target = await startNode(t, { limits: { maxConnections: 40, ...FAST_CONNECTS } })
  echo(target)
  const attack = await attackSessions(addr(target).port, () => '127.0.1.1', 48)
  t.after(() => attack.forEach((a) => a.sock.destroy()))
  await new Promise((r) => setTimeout(r, 100))
  const held = openSessions(attack)
  assert.ok(held.length <= 16, `one IP holds ${held.length} sessions (default maxSessionsPerIp 16)`)
  assert.ok(((await refusals(target)).get('ip_limit') ?? 0) > 0, 'the surplus was refused as ip_limit')
  await served(t, target, '127.0.0.1')
  assert.ok(openSessions(attack).length <= 16)
})

test('a /24 is capped as a whole (maxSessionsPerSubnet)', async (t) => {
  const target = await startNode(t, { limits: { maxConnections: 200, maxSessionsPerIp: 4, maxSessionsPerSubnet: 10, ...FAST_CONNECTS } })
  echo(target)
  const attack = await attackSessions(addr(target).port, (i) => `127.0.2.${1 + (i % 8)}`, 32)
  t.after(() => attack.forEach((a) => a.sock.destroy()))
  await new Promise((r) => setTimeout(r, 100))
  assert.ok(openSessions(attack).length <= 10, `the /24 holds ${openSessions(attack).length}`)
  assert.ok(((await refusals(target)).get('subnet_limit') ?? 0) > 0)
  await served(t, target, '127.0.3.1')
})

test('many IPs filling every slot: a new honest peer evicts an idle stranger, a valued peer gets a reserved slot', async (t) => {
  let valued: Uint8Array | undefined
  const peerValue = (id: Uint8Array): number => (valued && Buffer.from(id).equals(Buffer.from(valued)) ? 1 : 0)
  const target = await startNode(t, { limits: { maxConnections: 24, maxSessionsPerIp: 4, maxSessionsPerSubnet: 4, evictIdleMs: 0, ...FAST_CONNECTS } },
    { peerValue } as Partial<ConnectionManagerInit>)
  echo(target)
  let attack: AttackSession[] = []
  for (let net = 10; net < 18; net++) attack.push(...await attackSessions(addr(target).port, (i) => `127.0.${net}.${1 + (i % 2)}`, 4))
  t.after(() => attack.forEach((a) => a.sock.destroy()))
  await new Promise((r) => setTimeout(r, 100))
  attack = openSessions(attack)
  // strangers may take every slot but the reserved share
  assert.ok(attack.length >= 12, `the flood holds ${attack.length} slots`)
  const before = attack.length
  const honest = await served(t, target, '127.0.0.1')
  await waitFor(() => openSessions(attack).length < before, 'an idle attack session evicted')
  assert.ok(((await refusals(target)).get('evicted') ?? 0) > 0)

  // a peer with trust or stake: served even when strangers hold everything they may hold
  const { Identity } = await import('../../src/crypto/identity.js')
  const { randomBytes } = await import('../../src/crypto/sign.js')
  const vid = Identity.fromSeed(randomBytes(32))
  valued = vid.publicKey
  await served(t, target, '127.0.0.9', { identity: vid })
  assert.ok(target.cm.get(honest.identity.publicKey), 'the active honest peer kept its link')
  assert.ok(target.cm.get(vid.publicKey), 'the valued peer has its link')
  assert.ok(target.cm.connectionCount <= 24)
})

test('no reserved share and every slot held by idle strangers: a newcomer evicts one instead of being refused', async (t) => {
  const target = await startNode(t, { limits: { maxConnections: 12, maxSessionsPerIp: 2, maxSessionsPerSubnet: 2, reservedShare: 0, evictIdleMs: 0, ...FAST_CONNECTS } })
  echo(target)
  let attack: AttackSession[] = []
  for (let net = 20; net < 26; net++) attack.push(...await attackSessions(addr(target).port, (i) => `127.0.${net}.${1 + i}`, 2))
  t.after(() => attack.forEach((a) => a.sock.destroy()))
  await waitFor(() => target.cm.connectionCount === 12, 'every slot held')
  attack = openSessions(attack)
  await served(t, target, '127.0.0.1')
  assert.ok(((await refusals(target)).get('evicted') ?? 0) >= 1)
  assert.equal(((await refusals(target)).get('max_connections') ?? 0), 0)
})
