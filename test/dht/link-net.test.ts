import { test } from 'node:test'
import assert from 'node:assert/strict'
import { LinkDhtNet } from '../../src/dht/link-net.js'
import { refClock } from '../../src/dht/testnet.js'
import { makeContact } from '../../src/dht/contact.js'
import { sha1 } from '../../src/crypto/hash.js'
import type { Link, LinkProvider } from '../../src/interfaces/link.js'

// injected fault: the provider answers a dial for X's address with the open link to Y (address reused by Y)
test('a DHT request to contact X fails when the link at its address belongs to node Y', async () => {
  const x = new Uint8Array(32).fill(1)
  const y = new Uint8Array(32).fill(2)
  let asked = 0
  const linkY = {
    closed: false,
    peer: { nodeId: y, nodeIdB64: Buffer.from(y).toString('base64'), dhtId: sha1(y), remoteAddr: { host: '127.0.0.1', port: 9 }, listenAddr: { host: '127.0.0.1', port: 9 } },
    request: async () => { asked++; return { type: 1, body: new Uint8Array() } },
  } as unknown as Link
  const links = { get: () => undefined, dial: async () => linkY, links: () => [linkY], onLink: () => () => {} } as unknown as LinkProvider
  const net = new LinkDhtNet(links, refClock)
  const cx = makeContact(x, sha1(x), { host: '127.0.0.1', port: 9 })
  await assert.rejects(net.request(cx, 1, new Uint8Array(), { timeoutMs: 1000 }), /not the expected node/)
  assert.equal(asked, 0)
})
