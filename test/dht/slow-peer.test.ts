import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createTestnet, refClock } from '../../src/dht/testnet.js'
import { keyOfString } from '../../src/dht/id.js'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { Dht } from '../../src/dht/dht.js'
import { MemoryRecordStore } from '../../src/dht/store.js'
import { LinkDhtNet, serveDht } from '../../src/dht/link-net.js'
import { defaultDhtConfig } from '../../src/dht/config.js'
import type { DhtNet } from '../../src/dht/net.js'
import { toHex } from '../../src/util/bytes.js'

/**
 * A DhtNet whose replies from `slow` nodes are held back until long after the soft timeout (10 ms) fired: the soft
 * timer is armed before the request leaves, the hold starts after the reply arrived, so the reply is always late
 * (ordering, not a timing assertion).
 */
function slowNet(inner: DhtNet, slow: (idHex: string) => boolean): DhtNet {
  return {
    request: async (c, type, body, opts) => {
      const r = await inner.request(c, type, body, opts)
      if (slow(c.idHex)) await new Promise((res) => setTimeout(res, 300))
      return r
    },
    connect: (addr, opts) => inner.connect(addr, opts),
  }
}

test('a join through one bootstrap that answers after the soft timeout fills the table; a put under slow responders reaches k copies', async () => {
  const tn = await createTestnet({ size: 30 })
  const id = Identity.fromSeed(randomBytes(32))
  const node = tn.net.createNode(id, { host: '10.200.0.1', port: 1 })
  const boot = tn.nodes[0]!
  const slowSet = new Set<string>([toHex(boot.identity.dhtId)])
  const config = defaultDhtConfig({ staticPuzzleBits: 0, dynamicPuzzleBits: 4, softTimeoutMs: 10 })
  const dht = new Dht({ config, identity: id, net: slowNet(new LinkDhtNet(node, refClock), (h) => slowSet.has(h)), store: new MemoryRecordStore(), clock: refClock })
  const off = serveDht(node.router, dht, refClock)
  try {
    const size = await dht.bootstrap([boot.node.addr])
    assert.ok(size >= 20, `joined with only ${size} contacts`)
    // now half of the network answers late
    tn.nodes.forEach((n, i) => { if (i % 2 === 0) slowSet.add(toHex(n.identity.dhtId)) })
    const put = await dht.put(keyOfString('slow-put'), new TextEncoder().encode('v'))
    // a put stores beyond the s closest (putCopies: each path's own closest answers), so at least s copies
    assert.ok(put.stored >= config.siblings, `stored on ${put.stored} of ${config.siblings}`)
  } finally { off(); dht.stop(); node.stop(); tn.destroy() }
})
