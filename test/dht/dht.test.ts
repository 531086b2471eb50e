import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createTestnet } from '../../src/dht/testnet.js'
import { keyOfString } from '../../src/dht/id.js'
import { signRecord } from '../../src/dht/record.js'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { encodeMessage } from '../../src/dht/messages.js'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

test('30 in-process nodes: put, get from another node, newer seq wins, survives a third leaving', async () => {
  const tn = await createTestnet({ size: 30 })
  try {
    const { nodes } = tn
    for (const n of nodes) assert.ok(n.dht.table.size >= 10, `table too small: ${n.dht.table.size}`)
    const key = keyOfString('mission')
    const put = await nodes[3]!.dht.put(key, text('v1'))
    assert.ok(put.stored >= 15, `stored on ${put.stored}`)
    const publisher = nodes[3]!.identity.publicKey
    const got = await nodes[25]!.dht.get(key, { publisher })
    assert.deepEqual(got.record?.value, text('v1'))
    await nodes[3]!.dht.put(key, text('v2'))
    const got2 = await nodes[17]!.dht.get(key, { publisher })
    assert.deepEqual(got2.record?.value, text('v2'))
    // a third of the nodes go away (not the reader)
    for (let i = 0; i < 10; i++) nodes[i * 3 + 1]!.stop()
    const got3 = await nodes[29]!.dht.get(key, { publisher })
    assert.deepEqual(got3.record?.value, text('v2'))
  } finally { tn.destroy() }
})

test('a record under another publisher key or with a broken signature is refused and never served', async () => {
  const tn = await createTestnet({ size: 12 })
  try {
    const [a, b] = tn.nodes
    const key = keyOfString('forged')
    const good = signRecord(a!.identity, key, text('honest'), 1, Date.now() + 60_000)
    const forged = { ...good, value: text('evil') }
    const link = await a!.node.dial(b!.node.addr)
    const msg = encodeMessage({ t: 'store', x: a!.dht.puzzle, record: forged })
    const reply = await link.request(msg.type, msg.body)
    const ack = (await import('../../src/dht/messages.js')).decodeMessage(reply.type, reply.body)
    assert.equal(ack.t, 'ack')
    assert.equal(ack.t === 'ack' && ack.ok, false)
    assert.equal(b!.dht.store.getRecords(key, Date.now()).length, 0)
    // a TTL beyond the maximum is refused too (replicas cannot extend a record's life)
    const long = signRecord(a!.identity, key, text('forever'), 2, Date.now() + 10 * 86_400_000)
    const m2 = encodeMessage({ t: 'store', x: a!.dht.puzzle, record: long })
    const r2 = await link.request(m2.type, m2.body)
    const ack2 = (await import('../../src/dht/messages.js')).decodeMessage(r2.type, r2.body)
    assert.equal(ack2.t === 'ack' && ack2.err, 'ttl_too_long')
  } finally { tn.destroy() }
})

test('a request without a valid dynamic puzzle is refused and the sender is not admitted', async () => {
  const tn = await createTestnet({ size: 6, config: { dynamicPuzzleBits: 12 } })
  try {
    const [a, b] = tn.nodes
    const stranger = Identity.fromSeed(randomBytes(32))
    const node = tn.net.createNode(stranger, { host: '10.99.0.1', port: 9 })
    const link = await node.dial(b!.node.addr)
    const bad = encodeMessage({ t: 'find_node', x: new Uint8Array(20).fill(0xff), target: a!.identity.dhtId })
    await assert.rejects(link.request(bad.type, bad.body), /puzzle/)
    assert.equal(b!.dht.table.has(Buffer.from(stranger.dhtId).toString('hex')), false)
    node.stop()
  } finally { tn.destroy() }
})

test('provider records: many providers per key, none can overwrite another', async () => {
  const tn = await createTestnet({ size: 20 })
  try {
    const key = keyOfString('service:vpn_exit')
    await tn.nodes[2]!.dht.provide(key, text('cap=1'))
    await tn.nodes[7]!.dht.provide(key)
    await tn.nodes[11]!.dht.provide(key)
    const found = await tn.nodes[19]!.dht.findProviders(key, 10)
    const pubs = new Set(found.map((p) => Buffer.from(p.publisher).toString('hex')))
    for (const i of [2, 7, 11]) assert.ok(pubs.has(Buffer.from(tn.nodes[i]!.identity.publicKey).toString('hex')), `provider ${i} missing`)
    const p2 = found.find((p) => Buffer.from(p.publisher).equals(Buffer.from(tn.nodes[2]!.identity.publicKey)))
    assert.deepEqual(p2?.data, text('cap=1'))
    assert.deepEqual(p2?.addrs, [tn.nodes[2]!.node.addr])
  } finally { tn.destroy() }
})

test('static puzzle: ids without c1 leading zero bits are refused by the table', async () => {
  const { Dht } = await import('../../src/dht/dht.js')
  const { MemoryRecordStore } = await import('../../src/dht/store.js')
  const { defaultDhtConfig } = await import('../../src/dht/config.js')
  const { makeContact } = await import('../../src/dht/contact.js')
  const { staticPuzzleBits, mintSeed } = await import('../../src/crypto/identity.js')
  const self = Identity.fromSeed(randomBytes(32))
  const dht = new Dht({
    config: defaultDhtConfig({ staticPuzzleBits: 6, dynamicPuzzleBits: 0 }), identity: self, store: new MemoryRecordStore(),
    net: { request: () => Promise.reject(new Error('offline')), connect: () => Promise.resolve(undefined) },
    clock: { now: () => Date.now(), setTimeout: () => ({ cancel() {} }) },
  })
  let weak = Identity.fromSeed(randomBytes(32))
  while (staticPuzzleBits(weak.publicKey) >= 6) weak = Identity.fromSeed(randomBytes(32))
  const strong = Identity.fromSeed(mintSeed(6))
  assert.equal(dht.observe(makeContact(weak.publicKey, weak.dhtId, { host: '20.0.0.1', port: 1 })), 'refused')
  assert.equal(dht.observe(makeContact(strong.publicKey, strong.dhtId, { host: '20.0.0.2', port: 1 })), 'added')
  dht.stop()
  dht.stop()
})

test('replicas are handed to a newly joined node that is closer to the key', async () => {
  const tn = await createTestnet({ size: 10 })
  try {
    const key = keyOfString('handoff')
    await tn.nodes[4]!.dht.put(key, text('keep me'))
    const { compareDistance } = await import('../../src/dht/id.js')
    const closestNow = tn.nodes.map((n) => n.identity.dhtId).sort((a, b) => compareDistance(a, b, key))[0]!
    let id = Identity.fromSeed(randomBytes(32))
    while (compareDistance(id.dhtId, closestNow, key) >= 0) id = Identity.fromSeed(randomBytes(32))
    const { Dht } = await import('../../src/dht/dht.js')
    const { MemoryRecordStore } = await import('../../src/dht/store.js')
    const { LinkDhtNet, serveDht } = await import('../../src/dht/link-net.js')
    const { defaultDhtConfig } = await import('../../src/dht/config.js')
    const { refClock } = await import('../../src/dht/testnet.js')
    const node = tn.net.createNode(id, { host: '10.200.0.1', port: 1 })
    const dht = new Dht({ config: defaultDhtConfig({ staticPuzzleBits: 0, dynamicPuzzleBits: 4 }), identity: id, net: new LinkDhtNet(node, refClock), store: new MemoryRecordStore(), clock: refClock })
    const off = serveDht(node.router, dht, refClock)
    try {
      await dht.bootstrap([tn.nodes[0]!.node.addr])
      for (let i = 0; i < 100 && dht.store.getRecords(key, Date.now()).length === 0; i++) await new Promise((r) => setTimeout(r, 10))
      assert.deepEqual(dht.store.getRecords(key, Date.now())[0]?.value, text('keep me'))
    } finally { off(); dht.stop(); node.stop() }
  } finally { tn.destroy() }
})

test('full bucket: the oldest entry is pinged and evicted only when it does not answer; trust hears about it', async () => {
  const { Dht } = await import('../../src/dht/dht.js')
  const { MemoryRecordStore } = await import('../../src/dht/store.js')
  const { defaultDhtConfig } = await import('../../src/dht/config.js')
  const { makeContact } = await import('../../src/dht/contact.js')
  const { randomIdInBucket } = await import('../../src/dht/id.js')
  const self = Identity.fromSeed(randomBytes(32))
  const events: string[] = []
  const dht = new Dht({
    config: defaultDhtConfig({ k: 2, staticPuzzleBits: 0, dynamicPuzzleBits: 0 }), identity: self, store: new MemoryRecordStore(),
    net: {
      request: () => Promise.reject(new Error('timeout')),
      connect: () => Promise.resolve(undefined),
    },
    clock: { now: () => Date.now(), setTimeout: () => ({ cancel() {} }) },
    trust: { report: (_id, ev) => { events.push(ev) } },
  })
  const mk = (i: number) => makeContact(randomBytes(32), randomIdInBucket(self.dhtId, 3, randomBytes), { host: `40.0.${i}.1`, port: 1 })
  const [a, b, c] = [mk(1), mk(2), mk(3)]
  assert.equal(dht.observe(a!), 'added')
  assert.equal(dht.observe(b!), 'added')
  assert.equal(dht.observe(c!), 'full')
  await new Promise((r) => setImmediate(r))
  await new Promise((r) => setImmediate(r))
  assert.equal(dht.table.has(a!.idHex), false, 'silent oldest evicted')
  assert.equal(dht.table.has(c!.idHex), true, 'replacement promoted')
  assert.ok(events.includes('ping_timeout'))
  dht.stop()
})
