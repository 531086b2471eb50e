/** One LinkProvider/Link contract suite, run against the in-memory transport and the TCP connection manager. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import type { Endpoint, LinkProvider, MessageRouter } from '../../src/interfaces/link.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { MessageType } from '../../src/wire/message-types.js'
import { addr, startNode, waitFor } from './helpers.js'

interface Pair { a: LinkProvider; b: LinkProvider & { router: MessageRouter }; bAddr: Endpoint; bId: Identity }

const transports: Array<[string, (t: Parameters<typeof startNode>[0]) => Promise<Pair>]> = [
  ['memory', async () => {
    const net = new MemoryNetwork()
    const a = net.createNode(Identity.fromSeed(randomBytes(32)), { host: 'a', port: 1 })
    const bId = Identity.fromSeed(randomBytes(32))
    const b = net.createNode(bId, { host: 'b', port: 1 })
    return { a, b, bAddr: b.addr, bId }
  }],
  ['tcp', async (t) => {
    const a = await startNode(t)
    const b = await startNode(t)
    return { a: a.cm, b: Object.assign(b.cm, { router: b.router }), bAddr: addr(b), bId: b.identity }
  }],
]

for (const [name, make] of transports) {
  test(`LinkProvider contract (${name}): dial, onLink, get, request/reply, remote errors, close`, async (t) => {
    // the memory transport delivers through unref'd timers: keep the loop alive while the test waits on them
    const keepAlive = setInterval(() => {}, 1000)
    t.after(() => clearInterval(keepAlive))
    const { a, b, bAddr, bId } = await make(t)
    b.router.handle(MessageType.DHT_FIND_NODE, (m) => { m.reply?.(MessageType.DHT_FIND_NODE_RESP, m.body) })
    b.router.handle(MessageType.DHT_STORE, () => { throw new Error('refused on purpose') })
    const seen: string[] = []
    b.onLink((l) => seen.push(l.peer.nodeIdB64))
    const link = await a.dial(bAddr, { expectNodeId: bId.publicKey })
    assert.equal(link.peer.nodeIdB64, bId.nodeIdB64)
    assert.equal(a.get(bId.publicKey), link)
    assert.equal(a.get(bId.nodeIdB64), link)
    assert.deepEqual(a.links(), [link])
    const r = await link.request(MessageType.DHT_FIND_NODE, new Uint8Array([9, 8, 7]))
    assert.equal(r.type, MessageType.DHT_FIND_NODE_RESP)
    assert.deepEqual([...r.body], [9, 8, 7])
    await assert.rejects(link.request(MessageType.DHT_STORE, new Uint8Array(0)), /refused on purpose/)
    await waitFor(() => seen.length === 1, 'onLink on the accepting side')
    const closed = new Promise<string>((res) => link.onClose(res))
    link.close('done')
    assert.equal(link.closed, true)
    assert.ok((await closed).length > 0)
    await assert.rejects(link.request(MessageType.DHT_FIND_NODE, new Uint8Array(0)))
    await waitFor(() => a.links().length === 0, 'link removed')
  })
}
