/**
 * Hostile peer, issue 14 part 5: a DHT answer that names loopback (our own HTTP port), the cloud metadata address or
 * a private range. The victim is bootstrapped over loopback (so 'auto' allows loopback in general), yet it must not
 * dial what the attacker named there that is not allowed, must strike the attacker, and must keep using the honest
 * contact of the same answer.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from '../../src/crypto/sign.js'
import { hostPort, startAttacker, startHonest, startVictim, until } from './misc-helpers.js'

test('dht: contacts naming 169.254.169.254, 10.x and our own HTTP port are not dialled and strike the sender; the honest contact is used', async (t) => {
  const honest = await startHonest(t)
  let victimHttp = 0
  const attacker = await startAttacker(t, (m, x) => {
    if (m.t !== 'find_node') return undefined
    return {
      t: 'nodes', x, nodes: [
        { nodeId: randomBytes(32), addr: { host: '169.254.169.254', port: 80 } },
        { nodeId: randomBytes(32), addr: { host: '10.1.2.3', port: 8468 } },
        { nodeId: randomBytes(32), addr: { host: '127.0.0.1', port: victimHttp } },
        { nodeId: honest.identity!.publicKey, addr: honest.listenAddress! },
      ],
    }
  })
  // the victim's HTTP port is known only once it listens: bind it first on a fixed ephemeral pick
  const { createServer } = await import('node:net')
  victimHttp = await new Promise<number>((resolve) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) }) })
  const victim = await startVictim(t, { bootstrap: [hostPort(attacker.cm.listenAddress)], httpPort: victimHttp })
  assert.equal(victim.node.httpAddress!.port, victimHttp)
  const dht = victim.node.services.get('dht')!

  // the victim joins through the attacker; the honest contact the attacker named enters its table
  await until(() => attacker.received.some((m) => m.t === 'find_node'), 'victim looked itself up through the attacker')
  await until(() => dht.table.all().some((c) => c.idHex === honest.services.get('dht')!.selfIdHex), 'honest contact from the same answer admitted')
  await dht.findNode(randomBytes(20))

  const dialled = victim.dials.map((d) => `${d.host}:${d.port}`)
  assert.ok(!dialled.includes('169.254.169.254:80'), `metadata address dialled: ${dialled.join(', ')}`)
  assert.ok(!dialled.includes('10.1.2.3:8468'), `private address dialled: ${dialled.join(', ')}`)
  assert.ok(!dialled.includes(`127.0.0.1:${victimHttp}`), `own HTTP port dialled: ${dialled.join(', ')}`)
  assert.ok(!dht.table.all().some((c) => c.addr.host !== '127.0.0.1' || c.addr.port === victimHttp), 'no undialable contact in the table')
  const attackerId = Buffer.from(attacker.identity.publicKey).toString('base64')
  assert.ok(victim.strikes.some((s) => s.nodeId === attackerId && s.event === 'invalid_message' && /undialable/.test(s.detail ?? '')),
    `attacker struck: ${JSON.stringify(victim.strikes)}`)
  assert.ok(!victim.strikes.some((s) => s.nodeId === Buffer.from(honest.identity!.publicKey).toString('base64') && s.event === 'invalid_message'), 'honest peer not struck')

  // the honest peer keeps being served: it stores and reads back through the victim
  const hd = honest.services.get('dht')!
  await until(() => hd.table.size > 0, 'honest node learned the victim')
  const put = await hd.put(randomBytes(20), new TextEncoder().encode('still served'))
  assert.ok(put.stored >= 1, 'victim accepted the honest store')
})

