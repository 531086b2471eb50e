/**
 * Hostile peer, issue 14 part 6: Sybil records. Identities are free, so one attacker signs 16 values (or 70 provider
 * records) for one key with 16 (70) throwaway keys and STOREs them on the victim over a real connection. The
 * victim's own record and an honest publisher's older record must survive, and the honest peer keeps reading them.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { signProvider, signRecord } from '../../src/dht/record.js'
import { equalBytes } from '../../src/util/bytes.js'
import { hostPort, startAttacker, startHonest, startVictim, until } from './misc-helpers.js'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

test('dht: 16 STOREs from 16 throwaway identities do not evict our own record or an older honest one', async (t) => {
  const victim = await startVictim(t)
  const vd = victim.node.services.get('dht')!
  const key = randomBytes(20)
  await vd.put(key, enc('ours'))
  const honest = await startHonest(t, [hostPort(victim.node.listenAddress)])
  const hd = honest.services.get('dht')!
  await until(() => hd.table.size > 0 && vd.table.size > 0, 'honest node joined')
  assert.ok((await hd.put(key, enc('honest'))).stored >= 1, 'victim stored the honest record')
  assert.equal(vd.store.getRecords(key, Date.now()).length, 2)

  const attacker = await startAttacker(t)
  const link = await attacker.dial(victim.node.listenAddress!)
  const expires = Date.now() + vd.config.recordTtlMs + 30_000 // outlives both honest records
  for (let i = 0; i < 16; i++) {
    const sybil = Identity.fromSeed(randomBytes(32))
    await attacker.request(link, { t: 'store', x: attacker.x, record: signRecord(sybil, key, enc(`sybil ${i}`), 1, expires) })
  }
  const kept = vd.store.getRecords(key, Date.now())
  assert.ok(kept.some((r) => equalBytes(r.publisher, victim.node.identity!.publicKey)), 'our own record survives')
  assert.ok(kept.some((r) => equalBytes(r.publisher, honest.identity!.publicKey)), 'the older honest record survives')
  assert.ok(kept.length <= vd.config.maxRecordsPerKey)

  // the honest peer keeps being served: it reads both records from the victim over the wire
  const vc = hd.table.all().find((c) => c.idHex === vd.selfIdHex)
  assert.ok(vc, 'honest node knows the victim')
  const ans = await hd.rpc(vc, { t: 'find_value', x: hd.puzzle, key })
  assert.equal(ans.t, 'nodes')
  const pubs = ans.t === 'nodes' ? (ans.records ?? []).map((r) => Buffer.from(r.publisher).toString('hex')) : []
  assert.ok(pubs.includes(Buffer.from(victim.node.identity!.publicKey).toString('hex')), 'victim serves its own record')
  assert.ok(pubs.includes(Buffer.from(honest.identity!.publicKey).toString('hex')), 'victim serves the honest record')
})

test('dht: 70 provider records from 70 throwaway identities do not evict our own provider record', async (t) => {
  const victim = await startVictim(t)
  const vd = victim.node.services.get('dht')!
  const key = randomBytes(20)
  await vd.provide(key, enc('ours'))
  const honest = await startHonest(t, [hostPort(victim.node.listenAddress)])
  const hd = honest.services.get('dht')!
  await until(() => hd.table.size > 0 && vd.table.size > 0, 'honest node joined')
  await hd.provide(key, enc('honest'))
  await until(() => vd.store.getProviders(key, Date.now()).length === 2, 'victim stored the honest provider record')

  const attacker = await startAttacker(t)
  const link = await attacker.dial(victim.node.listenAddress!)
  const expires = Date.now() + vd.config.recordTtlMs + 30_000
  for (let i = 0; i < 70; i++) {
    const sybil = Identity.fromSeed(randomBytes(32))
    await attacker.request(link, { t: 'add_provider', x: attacker.x, provider: signProvider(sybil, key, [{ host: '198.51.100.1', port: 1000 + i }], undefined, expires) })
  }
  const kept = vd.store.getProviders(key, Date.now())
  assert.ok(kept.length <= vd.config.maxProvidersPerKey)
  assert.ok(kept.some((p) => equalBytes(p.publisher, victim.node.identity!.publicKey)), 'our own provider record survives')
  assert.ok(kept.some((p) => equalBytes(p.publisher, honest.identity!.publicKey)), 'the older honest provider record survives')
  // the honest peer still finds both through the victim
  const found = await hd.findProviders(key, 100)
  assert.ok(found.some((p) => equalBytes(p.publisher, victim.node.identity!.publicKey)), 'honest peer finds our provider record')
})
