import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RoutingTable } from '../../src/dht/routing-table.js'
import { makeContact } from '../../src/dht/contact.js'
import { commonPrefixBits, compareDistance, randomIdInBucket } from '../../src/dht/id.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { sha1 } from '../../src/crypto/hash.js'

const contactIn = (self: Uint8Array, bucket: number, host: string) => {
  const id = randomIdInBucket(self, bucket, randomBytes)
  return makeContact(randomBytes(32), id, { host, port: 1 })
}

test('random ids land in the requested bucket', () => {
  const self = randomBytes(20)
  for (const b of [0, 1, 7, 8, 9, 100, 159]) assert.equal(commonPrefixBits(self, randomIdInBucket(self, b, randomBytes)), b)
})

test('full bucket returns its oldest entry; evict promotes the newest replacement; LRU order kept', () => {
  const self = randomBytes(20)
  const t = new RoutingTable(self, { k: 3, replacementCacheSize: 2 })
  const cs = [0, 1, 2].map((i) => contactIn(self, 5, `11.0.${i}.1`))
  for (const c of cs) assert.equal(t.update(c).status, 'added')
  const extra = contactIn(self, 5, '11.0.9.1')
  const r = t.update(extra)
  assert.equal(r.status, 'full')
  assert.equal(r.status === 'full' && r.oldest.idHex, cs[0]!.idHex)
  // oldest answers the ping: it moves to the tail, the next oldest becomes the head
  t.touch(cs[0]!.idHex)
  const r2 = t.update(contactIn(self, 5, '11.0.10.1'))
  assert.equal(r2.status === 'full' && r2.oldest.idHex, cs[1]!.idHex)
  t.evict(cs[1]!.idHex)
  assert.equal(t.has(cs[1]!.idHex), false)
  assert.equal(t.size, 3)
  assert.equal(t.all().some((c) => c.addr.host === '11.0.10.1'), true)
})

test('IP diversity: at most 2 per /24 in a bucket and 10 per /24 in the table; loopback exempt', () => {
  const self = randomBytes(20)
  const t = new RoutingTable(self, { k: 20 })
  assert.equal(t.update(contactIn(self, 3, '12.1.1.1')).status, 'added')
  assert.equal(t.update(contactIn(self, 3, '12.1.1.2')).status, 'added')
  const r = t.update(contactIn(self, 3, '12.1.1.3'))
  assert.deepEqual(r, { status: 'rejected', reason: 'subnet_bucket' })
  let added = 2
  for (let b = 10; b < 30 && added < 10; b++) if (t.update(contactIn(self, b, `12.1.1.${b}`)).status === 'added') added++
  assert.equal(added, 10)
  assert.deepEqual(t.update(contactIn(self, 40, '12.1.1.99')), { status: 'rejected', reason: 'subnet_table' })
  for (let i = 0; i < 5; i++) assert.equal(t.update(contactIn(self, 50, '127.0.0.1')).status, 'added')
})

test('closest() orders by XOR distance and never returns more than asked', () => {
  const self = randomBytes(20)
  const t = new RoutingTable(self, { k: 20 })
  for (let i = 0; i < 200; i++) {
    const pk = randomBytes(32)
    t.update(makeContact(pk, sha1(pk), { host: `13.${i}.0.1`, port: 1 }))
  }
  const target = randomBytes(20)
  const got = t.closest(target, 20)
  assert.equal(got.length, 20)
  for (let i = 1; i < got.length; i++) assert.ok(compareDistance(got[i - 1]!.dhtId, got[i]!.dhtId, target) < 0)
  const all = t.all().sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
  assert.equal(got[0]!.idHex, all[0]!.idHex)
})

test('closest() equals a sort of the whole table by XOR distance, for targets near and far from us, with exclusions', () => {
  const self = randomBytes(20)
  const t = new RoutingTable(self, { k: 8, maxPerSubnetTable: 1000, maxPerSubnetBucket: 1000 })
  // dense near buckets (ids sharing many bits with self) and the usual far ones
  for (let b = 0; b < 24; b++) for (let i = 0; i < 8; i++) t.update(contactIn(self, b, `14.${b}.${i}.1`))
  const targets = [self, randomBytes(20), ...[0, 1, 5, 12, 23, 40].map((b) => randomIdInBucket(self, b, randomBytes))]
  for (const target of targets) {
    for (const n of [1, 7, 20, 500]) {
      const skip = (c: { idHex: string }): boolean => c.idHex.endsWith('0')
      const want = t.all().filter((c) => !skip(c)).sort((a, b) => compareDistance(a.dhtId, b.dhtId, target)).slice(0, n)
      assert.deepEqual(t.closest(target, n, skip).map((c) => c.idHex), want.map((c) => c.idHex))
      assert.deepEqual(t.closest(target, n).map((c) => c.idHex), t.all().sort((a, b) => compareDistance(a.dhtId, b.dhtId, target)).slice(0, n).map((c) => c.idHex))
    }
  }
})

test('per-peer write limiter: burst, refill, bounded peer map', async () => {
  const { PeerRateLimiter } = await import('../../src/dht/rate-limit.js')
  const l = new PeerRateLimiter(60, 3)
  let ok = 0
  for (let i = 0; i < 100; i++) if (l.take('a', 0)) ok++
  assert.equal(ok, 60)
  assert.equal(l.take('a', 500), false)
  assert.equal(l.take('a', 1000), true)
  for (const p of ['b', 'c', 'd', 'e']) l.take(p, 0)
  assert.equal(l.size, 3)
})
