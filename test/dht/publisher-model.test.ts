import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createTestnet, type TestnetNode } from '../../src/dht/testnet.js'
import { keyOfString } from '../../src/dht/id.js'
import { signRecord, type SignedRecord } from '../../src/dht/record.js'
import { encodeMessage, decodeMessage, type DhtMessage } from '../../src/dht/messages.js'
import { registerDhtRoutes } from '../../src/dht/control.js'
import type { ControlHandler } from '../../src/interfaces/node-context.js'
import { toB64, toHex } from '../../src/util/bytes.js'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const now = (): number => Date.now()

/** Sends one STORE from `from` to `to` over a real link; returns the ack. */
async function store(from: TestnetNode, to: TestnetNode, record: SignedRecord): Promise<Extract<DhtMessage, { t: 'ack' }>> {
  const link = await from.node.dial(to.node.addr)
  const m = encodeMessage({ t: 'store', x: from.dht.puzzle, record })
  const reply = await link.request(m.type, m.body)
  const ack = decodeMessage(reply.type, reply.body)
  assert.equal(ack.t, 'ack')
  return ack as Extract<DhtMessage, { t: 'ack' }>
}

/** The control routes of one node, callable without the HTTP server. */
function routesOf(n: TestnetNode): (path: string, query: Record<string, string>) => Promise<Record<string, unknown>> {
  const routes = new Map<string, ControlHandler>()
  registerDhtRoutes({ route: (method, path, h) => { routes.set(`${method} ${path}`, h) } }, n.dht, undefined)
  return async (path, query) => await routes.get(`GET ${path}`)!({ method: 'GET', path, query: new URLSearchParams(query), body: undefined }) as Record<string, unknown>
}

const seqOn = (n: TestnetNode, key: Uint8Array, publisher: Uint8Array): number | undefined =>
  n.dht.store.getRecords(key, now()).find((r) => toHex(r.publisher) === toHex(publisher))?.seq

test('a valid-signature attacker that signs its own value under the key never wins a read; the open-key view lists both as a set', async () => {
  const tn = await createTestnet({ size: 16 })
  try {
    const [pub, attacker, reader] = [tn.nodes[2]!, tn.nodes[5]!, tn.nodes[11]!]
    const key = keyOfString('name:homepage')
    // the attacker comes first, with a higher seq and a longer expiry, on every node
    const evil = signRecord(attacker.identity, key, text('evil'), 2 ** 40, now() + 3_600_000)
    for (const n of tn.nodes) if (n !== attacker) assert.equal((await store(attacker, n, evil)).ok, true)
    await pub.dht.put(key, text('honest'))

    const pinned = await reader.dht.get(key, { publisher: pub.identity.publicKey })
    assert.deepEqual(pinned.record?.value, text('honest'))

    const get = routesOf(reader)
    // the CLI default (no --publisher) is this node's own record: the attacker's value is not returned
    const byDefault = await get('/v1/dht/get', { key: `0x${toHex(key)}` })
    assert.equal(byDefault.found, false, `default read returned ${JSON.stringify(byDefault)}`)
    const named = await get('/v1/dht/get', { key: `0x${toHex(key)}`, publisher: toB64(pub.identity.publicKey) })
    assert.equal((named.value as { utf8: string }).utf8, 'honest')
    const any = await get('/v1/dht/get', { key: `0x${toHex(key)}`, publisher: 'any' })
    assert.equal(any.value, undefined, 'the open-key view has no single winner')
    const values = any.values as { publisher: string; value: { utf8: string } }[]
    assert.deepEqual(values.map((v) => `${v.publisher}=${v.value.utf8}`).sort(),
      [`${toB64(attacker.identity.publicKey)}=evil`, `${toB64(pub.identity.publicKey)}=honest`].sort())
    await assert.rejects(get('/v1/dht/get', { key: 'x', publisher: 'bm90IGEga2V5' }), /publisher/)
  } finally { tn.destroy() }
})

test('rollback: a replayed older seq is refused by stores and never wins a get; read repair updates stale copies', async () => {
  const tn = await createTestnet({ size: 20 })
  try {
    const pub = tn.nodes[0]!
    const key = keyOfString('name:rollback')
    const P = pub.identity.publicKey
    const old = (await pub.dht.put(key, text('v1'))).record
    assert.ok(tn.nodes.filter((n) => seqOn(n, key, P) === old.seq).length >= 18)
    // v2 reaches every node but `stale` (getQuorum - 1 of them, the reader among them)
    const quorum = pub.dht.config.getQuorum
    const stale = tn.nodes.slice(1, quorum)
    const reader = stale[0]!
    const fresh = signRecord(pub.identity, key, text('v2'), old.seq + 1, now() + 3_600_000)
    pub.dht.store.putRecord(fresh, now())
    for (const n of tn.nodes.slice(quorum)) assert.equal((await store(pub, n, fresh)).ok, true)

    // store side: a replay of the older seq onto a node holding the newer one is refused and changes nothing
    const target = tn.nodes[quorum]!
    const replay = await store(tn.nodes[quorum + 1]!, target, old)
    assert.deepEqual([replay.ok, replay.err], [false, 'stale'])
    assert.equal(seqOn(target, key, P), fresh.seq)

    // get side: fewer than getQuorum stale copies can never make the older seq win
    const got = await reader.dht.get(key, { publisher: P })
    assert.equal(got.record?.seq, fresh.seq)
    assert.deepEqual(got.record?.value, text('v2'))
    await got.repair

    // a read that collects every answer repairs every stale replica it saw (checked in the stale nodes' stores)
    const full = await reader.dht.get(key, { publisher: P, quorum: 0 })
    assert.equal(full.record?.seq, fresh.seq)
    await full.repair
    for (const n of stale.slice(1)) assert.equal(seqOn(n, key, P), fresh.seq, `stale copy on ${n.dht.selfIdHex.slice(0, 8)} not repaired`)

    // once the reader resolved v2, nodes serving only v1 cannot roll it back
    const other = tn.nodes[quorum + 2]!
    const second = await other.dht.get(key, { publisher: P })
    assert.equal(second.record?.seq, fresh.seq)
    for (const n of tn.nodes) if (n !== other && n !== stale[1]) n.stop()
    // stale[1] now serves v1 again (as a replaying attacker would); `other` keeps what it resolved
    stale[1]!.dht.store.cleanup(Number.MAX_SAFE_INTEGER)
    stale[1]!.dht.store.putRecord(old, now())
    other.dht.store.cleanup(Number.MAX_SAFE_INTEGER)
    const third = await other.dht.get(key, { publisher: P })
    assert.equal(third.record?.seq, fresh.seq, 'an older seq won after a newer one was resolved')
  } finally { tn.destroy() }
})
