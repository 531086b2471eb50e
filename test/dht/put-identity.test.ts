import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createTestnet, refClock } from '../../src/dht/testnet.js'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { Dht } from '../../src/dht/dht.js'
import { MemoryRecordStore } from '../../src/dht/store.js'
import { LinkDhtNet, serveDht } from '../../src/dht/link-net.js'
import { defaultDhtConfig } from '../../src/dht/config.js'
import type { DhtNet } from '../../src/dht/net.js'
import { toHex } from '../../src/util/bytes.js'

// injected fault: a net that answers requests for X from Y (what a dial that picks any link at X's address did)
test('a put never counts a store on a node other than the contact it was meant for', async () => {
  const tn = await createTestnet({ size: 8 })
  const id = Identity.fromSeed(randomBytes(32))
  const node = tn.net.createNode(id, { host: '10.202.0.1', port: 1 })
  const inner = new LinkDhtNet(node, refClock)
  const x = tn.nodes[3]!
  const y = tn.nodes[4]!
  const xHex = toHex(x.identity.dhtId)
  let misrouted = 0
  const faulty: DhtNet = {
    request: (c, type, body, opts) => {
      if (c.idHex !== xHex) return inner.request(c, type, body, opts)
      misrouted++
      return inner.request({ ...c, nodeId: y.identity.publicKey, dhtId: y.identity.dhtId, idHex: toHex(y.identity.dhtId), addr: y.node.addr }, type, body, opts)
    },
    connect: (a, opts) => inner.connect(a, opts),
  }
  const dht = new Dht({ config: defaultDhtConfig({ staticPuzzleBits: 0, dynamicPuzzleBits: 4 }), identity: id, net: faulty, store: new MemoryRecordStore(), clock: refClock })
  const off = serveDht(node.router, dht, refClock)
  try {
    await dht.bootstrap([tn.nodes[0]!.node.addr])
    x.stop()
    // X is the closest node to this key, so the put tries it first
    const key = x.identity.dhtId
    const put = await dht.put(key, new TextEncoder().encode('only real copies count'))
    assert.ok(misrouted > 0, 'the fault was exercised')
    const holders = tn.nodes.filter((n) => n !== x && n.dht.store.getRecords(key, Date.now()).length > 0).length
    assert.equal(put.stored, holders)
    // answers from another node are failures of x: it is failing or already gone
    assert.ok(!dht.table.has(xHex) || dht.table.failing(xHex))
  } finally { off(); dht.stop(); node.stop(); tn.destroy() }
})
