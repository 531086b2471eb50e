import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { addr, startNode, waitFor } from './helpers.js'

// the address a contact was learned at is now served by another node (a reused port, a restarted host)
test('dial with an expected node id never hands back an open link, or a dial in flight, to another node at that address', async (t) => {
  const a = await startNode(t)
  const c = await startNode(t)
  const gone = Identity.fromSeed(randomBytes(32))
  // c dials a: a now holds an inbound link whose listen address is c's port
  await c.cm.dial(addr(a))
  await waitFor(() => a.cm.get(c.identity.publicKey) !== undefined, 'inbound link at a')
  await assert.rejects(a.cm.dial(addr(c), { expectNodeId: gone.publicKey }), /expected node/)
  // the right expectation, or none, still reuses the open link
  assert.equal(await a.cm.dial(addr(c), { expectNodeId: c.identity.publicKey }), a.cm.get(c.identity.publicKey))
  assert.equal(await a.cm.dial(addr(c)), a.cm.get(c.identity.publicKey))

  // a dial already in flight to the address is shared only after its peer proves to be the expected one
  const d = await startNode(t)
  const plain = a.cm.dial(addr(d))
  const expecting = a.cm.dial(addr(d), { expectNodeId: gone.publicKey })
  assert.equal((await plain).peer.nodeIdB64, d.identity.nodeIdB64)
  await assert.rejects(expecting, /expected node/)
})
