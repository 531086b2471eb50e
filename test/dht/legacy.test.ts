import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createTestnet } from '../../src/dht/testnet.js'
import { LegacyDht } from '../../src/dht/legacy.js'
import { keyOfString } from '../../src/dht/id.js'
import { signRecord } from '../../src/dht/record.js'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import type { LegacyLink, RemotePeer } from '../../src/interfaces/link.js'
import { toHex } from '../../src/util/bytes.js'

function fakeLegacyLink(answer: (req: Record<string, unknown>) => Record<string, unknown>): LegacyLink & { requests: Record<string, unknown>[] } {
  const id = Identity.fromSeed(randomBytes(32))
  const peer: RemotePeer = {
    nodeId: id.publicKey, nodeIdB64: id.nodeIdB64, dhtId: id.dhtId, remoteAddr: { host: '127.0.0.1', port: 1 },
    version: 0, capabilities: new Set(), outbound: false,
  }
  const requests: Record<string, unknown>[] = []
  return {
    peer, closed: false, requests,
    send() {},
    dhtRequest: async (r) => { requests.push(r); return answer(r) },
    close() {},
    onClose: () => () => {},
  }
}

test('v0 DHT-in-DATA: FIND_NODE, STORE and FIND_VALUE are answered; unsigned values never replace signed ones', async () => {
  const tn = await createTestnet({ size: 8 })
  try {
    const node = tn.nodes[0]!
    const legacy = new LegacyDht(node.dht, { now: () => Date.now(), setTimeout: (cb, ms) => { const t = setTimeout(cb, ms); return { cancel: () => clearTimeout(t) } } })
    const link = fakeLegacyLink(() => ({}))
    const key = keyOfString('mission')
    const fn = await legacy.handle({ type: 'FIND_NODE', target_id: toHex(key), sender_id: 'ignored', sender_host: '6.6.6.6', sender_port: 1 }, link)
    assert.equal(fn.type, 'FIND_NODE_RESPONSE')
    const nodes = fn.nodes as { node_id: string; host: string; port: number }[]
    assert.ok(nodes.length >= 5)
    assert.ok(nodes.every((n) => /^[0-9a-f]{40}$/.test(n.node_id) && n.host !== '6.6.6.6'))
    assert.equal(node.dht.table.size, tn.nodes[0]!.dht.table.size, 'a v0 sender never enters the table')

    const st = await legacy.handle({ type: 'STORE', key: toHex(key), value: toHex(new TextEncoder().encode('v0 value')), ttl: 60 }, link)
    assert.deepEqual(st, { type: 'STORE_RESPONSE', success: true })
    assert.equal(node.dht.store.getRecords(key, Date.now()).length, 0, 'kept apart from signed records')
    const fv = await legacy.handle({ type: 'FIND_VALUE', key: toHex(key) }, link)
    assert.equal(fv.value, toHex(new TextEncoder().encode('v0 value')))

    // a signed record is what our own readers get; the unsigned one stays in its slot
    node.dht.store.putRecord(signRecord(tn.nodes[1]!.identity, key, new TextEncoder().encode('signed'), 1, Date.now() + 60_000), Date.now())
    const got = await tn.nodes[0]!.dht.get(key, { publisher: tn.nodes[1]!.identity.publicKey })
    assert.deepEqual(got.record?.value, new TextEncoder().encode('signed'))

    // hostile v0 input
    await assert.rejects(legacy.handle({ type: 'FIND_NODE', target_id: 'zz' }, link), { name: 'DhtInvalidError' })
    const big = await legacy.handle({ type: 'STORE', key: toHex(key), value: 'ab'.repeat(70_000) }, link)
    assert.equal(big.success, false)
    const unk = await legacy.handle({ type: 'NOPE' }, link)
    assert.equal(unk.type, 'ERROR')

    // our lookups can ask v0 peers (their answers are flagged unsigned by the caller)
    const other = keyOfString('only-on-v0')
    const v0 = fakeLegacyLink((r) => (r.key === toHex(other) ? { type: 'FIND_VALUE_RESPONSE', value: toHex(new TextEncoder().encode('old net')) } : { type: 'FIND_VALUE_RESPONSE', nodes: [] }))
    await legacy.handle({ type: 'FIND_NODE', target_id: toHex(other) }, v0)
    assert.deepEqual(await legacy.get(other), new TextEncoder().encode('old net'))
    assert.equal(v0.requests[0]!.type, 'FIND_VALUE')
  } finally { tn.destroy() }
})
