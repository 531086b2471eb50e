/**
 * Issue 23 item 2: two nodes dial each other at the same moment, many times. The tie-break keeps one connection
 * (the one dialed by the smaller node id); both dial() calls must resolve with the one link that survives it, never
 * with one that is about to close as `duplicate`, and each side ends with exactly one link and one connection.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compareBytes } from '../../src/util/bytes.js'
import { MessageType } from '../../src/wire/message-types.js'
import { addr, startNode, waitFor } from './helpers.js'

const ROUNDS = 25
// every round opens two connections from 127.0.0.1: lift the per-IP connect rate so the test measures the tie-break
const over = { limits: { connectsPerSecPerIp: 10_000, connectBurstPerIp: 10_000 } }

test('simultaneous dial: both sides keep one link, and dial() resolves with it', { timeout: 120_000 }, async (t) => {
  const a = await startNode(t, over)
  const b = await startNode(t, over)
  a.router.handle(MessageType.SERVICE_REQUEST, (m) => { m.reply?.(MessageType.SERVICE_RESPONSE, m.body) })
  b.router.handle(MessageType.SERVICE_REQUEST, (m) => { m.reply?.(MessageType.SERVICE_RESPONSE, m.body) })
  const aSmaller = compareBytes(a.identity.publicKey, b.identity.publicKey) < 0
  let seenA = 0
  let seenB = 0
  a.cm.onLink(() => seenA++)
  b.cm.onLink(() => seenB++)
  for (let round = 0; round < ROUNDS; round++) {
    const [la, lb] = await Promise.all([a.cm.dial(addr(b)), b.cm.dial(addr(a))])
    // the loser is retired once both handshakes are done: wait for one connection per side
    await waitFor(() => a.cm.connectionCount === 1 && b.cm.connectionCount === 1, `round ${round}: one connection per side`, 10_000)
    assert.equal(la.closed, false, `round ${round}: a's dial resolved with a closed link`)
    assert.equal(lb.closed, false, `round ${round}: b's dial resolved with a closed link`)
    assert.equal(a.cm.get(b.identity.publicKey), la, `round ${round}: a's dial result is a's link to b`)
    assert.equal(b.cm.get(a.identity.publicKey), lb, `round ${round}: b's dial result is b's link to a`)
    assert.deepEqual(a.cm.links(), [la])
    assert.deepEqual(b.cm.links(), [lb])
    // both sides kept the same connection: the one the smaller id dialed
    assert.equal(la.peer.outbound, aSmaller, `round ${round}: a kept the connection the smaller id dialed`)
    assert.equal(lb.peer.outbound, !aSmaller, `round ${round}: b kept the connection the smaller id dialed`)
    // the links carry traffic both ways
    const body = new Uint8Array([round])
    assert.deepEqual([...(await la.request(MessageType.SERVICE_REQUEST, body)).body], [round])
    assert.deepEqual([...(await lb.request(MessageType.SERVICE_REQUEST, body)).body], [round])
    assert.equal(seenA, round + 1, `round ${round}: one onLink per round on a`)
    assert.equal(seenB, round + 1, `round ${round}: one onLink per round on b`)
    la.close('round done')
    await waitFor(() => a.cm.connectionCount === 0 && b.cm.connectionCount === 0 && b.cm.links().length === 0, `round ${round}: closed`)
  }
})
