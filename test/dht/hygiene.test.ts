import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RoutingTable, subnetOf } from '../../src/dht/routing-table.js'
import { makeContact, type Contact } from '../../src/dht/contact.js'
import { commonPrefixBits, compareDistance, randomIdInBucket } from '../../src/dht/id.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { Identity } from '../../src/crypto/identity.js'
import { createTestnet, refClock } from '../../src/dht/testnet.js'
import { Dht } from '../../src/dht/dht.js'
import { MemoryRecordStore } from '../../src/dht/store.js'
import { LinkDhtNet, serveDht } from '../../src/dht/link-net.js'
import { defaultDhtConfig } from '../../src/dht/config.js'
import { decodeMessage, encodeMessage } from '../../src/dht/messages.js'
import { signRecord } from '../../src/dht/record.js'
import { toHex } from '../../src/util/bytes.js'

const contactIn = (self: Uint8Array, bucket: number, host: string): Contact =>
  makeContact(randomBytes(32), randomIdInBucket(self, bucket, randomBytes), { host, port: 1 })

test('subnet groups: IPv6 by /48 whatever the spelling, IPv4-mapped as IPv4, names by their last two labels, loopback exempt', () => {
  assert.equal(subnetOf('2a01:4f8:1:2::1'), subnetOf('2a01:04f8:0001:ffff:0:0:0:9'))
  assert.notEqual(subnetOf('2a01:4f8:1::1'), subnetOf('2a01:4f8:2::1'))
  assert.equal(subnetOf('[2a01:4f8:1::1]'), subnetOf('2a01:4f8:1::2'))
  assert.equal(subnetOf('::ffff:81.2.3.4'), subnetOf('81.2.3.99'))
  assert.equal(subnetOf('a.nodes.Evil.example'), subnetOf('b.evil.example.'))
  assert.notEqual(subnetOf('evil.example'), subnetOf('good.example'))
  for (const h of ['127.0.0.1', '::1', 'localhost']) assert.equal(subnetOf(h), undefined, h)
})

// hostile: one attacker holding a /64 (or a wildcard domain) mints 20 identities and offers them all
for (const [what, host] of [['one IPv6 /64', (i: number) => `2a01:4f8:10:20::${(i + 1).toString(16)}`], ['one wildcard domain', (i: number) => `n${i}.sybil.example`]] as const) {
  test(`20 contacts from ${what} get the same diversity limits as one IPv4 /24 (2 per bucket, 10 per table)`, () => {
    const self = randomBytes(20)
    const t = new RoutingTable(self, { k: 20 })
    let inOneBucket = 0
    for (let i = 0; i < 20; i++) if (t.update(contactIn(self, 4, host(i))).status === 'added') inOneBucket++
    assert.equal(inOneBucket, 2)
    let spread = 0
    for (let i = 0; i < 20; i++) if (t.update(contactIn(self, 10 + i, host(100 + i))).status === 'added') spread++
    assert.equal(inOneBucket + spread, 10)
    assert.equal(t.size, 10)
  })
}

test('failing entries are never handed out, cleared by a sign of life, removed after maxFailures in a non-full bucket', () => {
  const self = randomBytes(20)
  const t = new RoutingTable(self, { k: 20, maxFailures: 3 })
  const cs = [1, 2, 3].map((i) => contactIn(self, 5, `50.0.${i}.1`))
  for (const c of cs) t.update(c)
  const dead = cs[0]!
  assert.equal(t.fail(dead.idHex), 'failing')
  assert.equal(t.closestLive(dead.dhtId, 20).some((c) => c.idHex === dead.idHex), false)
  assert.equal(t.closest(dead.dhtId, 20).some((c) => c.idHex === dead.idHex), true, 'still ours to retry')
  t.touch(dead.idHex)
  assert.equal(t.failing(dead.idHex), false)
  assert.equal(t.fail(dead.idHex), 'failing')
  assert.equal(t.fail(dead.idHex), 'failing')
  assert.equal(t.fail(dead.idHex), 'evicted')
  assert.equal(t.has(dead.idHex), false)
  assert.equal(t.size, 2)
  assert.equal(t.fail(dead.idHex), 'unknown')
})

test('a dead node is not in the FIND_NODE answers of a node whose request to it failed, and leaves its table', async () => {
  const tn = await createTestnet({ size: 8, config: { maxFailures: 2, rpcTimeoutMs: 500 } })
  try {
    const [a, b] = tn.nodes
    const dead = tn.nodes[5]!
    const deadHex = toHex(dead.identity.dhtId)
    assert.ok(a!.dht.table.has(deadHex))
    assert.ok(a!.dht.table.size < 20, 'bucket not full')
    dead.stop()
    const c = a!.dht.table.get(deadHex)!
    await assert.rejects(a!.dht.rpc(c, { t: 'ping', x: a!.dht.puzzle }))
    assert.ok(a!.dht.table.failing(deadHex))
    // b asks a for the nodes closest to the dead node's own id: the dead node must not be in the answer
    const link = await b!.node.dial(a!.node.addr)
    const q = encodeMessage({ t: 'find_node', x: b!.dht.puzzle, target: dead.identity.dhtId })
    const r = await link.request(q.type, q.body)
    const ans = decodeMessage(r.type, r.body)
    assert.equal(ans.t, 'nodes')
    assert.ok(ans.t === 'nodes' && ans.nodes.length > 0)
    assert.equal(ans.t === 'nodes' && ans.nodes.some((n) => toHex(n.nodeId) === toHex(dead.identity.publicKey)), false)
    await assert.rejects(a!.dht.rpc(c, { t: 'ping', x: a!.dht.puzzle }))
    assert.equal(a!.dht.table.has(deadHex), false)
  } finally { tn.destroy() }
})

test('hand-off counts keys sent: a store whose first 1010 keys are not the newcomer\'s still hands it its own', { timeout: 120_000 }, async () => {
  const s = 2
  const tn = await createTestnet({ size: 6, config: { siblings: s } })
  // a newcomer next to a in id space, so that many keys are theirs to share
  let id = Identity.fromSeed(randomBytes(32))
  while (commonPrefixBits(id.dhtId, tn.nodes[0]!.identity.dhtId) < 5) id = Identity.fromSeed(randomBytes(32))
  const node = tn.net.createNode(id, { host: '10.201.0.1', port: 1 })
  const config = defaultDhtConfig({ staticPuzzleBits: 0, dynamicPuzzleBits: 4 })
  const newcomer = new Dht({ config, identity: id, net: new LinkDhtNet(node, refClock), store: new MemoryRecordStore(), clock: refClock })
  const off = serveDht(node.router, newcomer, refClock)
  try {
    const a = tn.nodes[0]!
    const c = makeContact(id.publicKey, id.dhtId, node.addr, Date.now())
    assert.equal(a.dht.observe(c, true), 'added')
    // independent of the code under test: sort what a knows, c must be among the s closest and a closer than the s-th
    const known = a.dht.table.all()
    const ours = (key: Uint8Array): boolean => {
      const near = [...known].sort((x, y) => compareDistance(x.dhtId, y.dhtId, key)).slice(0, s)
      return near.some((x) => x.idHex === c.idHex) && (near.length < s || compareDistance(a.identity.dhtId, near[s - 1]!.dhtId, key) < 0)
    }
    const publisher = Identity.fromSeed(randomBytes(32))
    const irrelevant: Uint8Array[] = []
    const relevant: Uint8Array[] = []
    for (let tries = 0; irrelevant.length < 1010 || relevant.length < 40; tries++) {
      assert.ok(tries < 100_000, 'no key of the newcomer found')
      const k = randomBytes(20)
      if (ours(k)) { if (relevant.length < 40) relevant.push(k) } else if (irrelevant.length < 1010) irrelevant.push(k)
    }
    const now = Date.now()
    for (const k of [...irrelevant, ...relevant]) assert.equal(a.dht.store.putRecord(signRecord(publisher, k, new Uint8Array([1]), 1, now + 600_000), now), 'stored')
    assert.equal(a.dht.handoff(c), 40)
    while (newcomer.store.keyCount < 40) await new Promise((r) => setTimeout(r, 10))
    assert.equal(newcomer.store.keyCount, 40)
    for (const k of relevant) assert.equal(newcomer.store.getRecords(k, Date.now()).length, 1)
  } finally { off(); newcomer.stop(); node.stop(); tn.destroy() }
})

test('a node proven at a new address (restarted on another port) replaces its old address; subnet limits still hold', () => {
  const self = randomBytes(20)
  const saved: string[] = []
  const t = new RoutingTable(self, { k: 20, maxPerSubnetBucket: 2, maxPerSubnetTable: 10, onChange: (ch, c) => saved.push(`${ch} ${c.addr.host}:${c.addr.port}`) })
  const c = contactIn(self, 3, '10.1.1.1')
  assert.equal(t.update(c).status, 'added')
  assert.equal(t.update({ ...c, addr: { host: '10.1.1.1', port: 7 }, lastSeen: 5 }).status, 'updated')
  assert.deepEqual(t.get(c.idHex)!.addr, { host: '10.1.1.1', port: 7 })
  assert.equal(t.closest(c.dhtId, 1)[0]!.addr.port, 7, 'FIND_NODE answers carry the new address')
  assert.equal(saved.at(-1), 'added 10.1.1.1:7', 'the new address is saved')
  // moving to another /24 moves its subnet count: a /24 already holding 2 in this bucket refuses it
  t.update(contactIn(self, 3, '10.9.9.1')); t.update(contactIn(self, 3, '10.9.9.2'))
  assert.equal(t.update({ ...c, addr: { host: '10.9.9.3', port: 1 } }).status, 'rejected')
  assert.equal(t.get(c.idHex)!.addr.host, '10.1.1.1')
  assert.equal(t.update({ ...c, addr: { host: '10.2.2.2', port: 1 } }).status, 'updated')
  assert.equal(t.update(contactIn(self, 3, '10.1.1.2')).status, 'added')
  assert.equal(t.update(contactIn(self, 3, '10.1.1.3')).status, 'added', 'the old /24 no longer counts it')
})
