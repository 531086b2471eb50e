/**
 * Issue 15's acceptance test: 2 v1.2.4-faithful v0 nodes and 2 ZEONE-TS nodes started as a chain
 * P1 <- T1 <- P2 <- T2 (each bootstraps to the previous one only) must become a full mesh, read every DHT value any
 * of them put, echo in every direction, and log no balance dispute on either side after 1,000 echo calls.
 */
import { after, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { ZeoneNode } from '../../src/node.js'
import type { LegacyServices } from '../../src/services/legacy.js'
import { cleanupDirs, dhtGet, dhtPut, startTsNode, tsPeerIds, until } from './helpers.js'
import { V0Node } from './v0-node.js'

after(cleanupDirs)
const sha1hex = (s: string): string => createHash('sha1').update(s).digest('hex')
const hex = (s: string): string => Buffer.from(s).toString('hex')

const MESH_MS = 10_000
const legacyCfg = { discoverIntervalMs: 250, claimIntervalMs: 400 }

async function disputes(node: ZeoneNode): Promise<number> {
  const m = await node.metrics.getSingleMetric('zeone_legacy_balance_disputes_total')?.get()
  return (m?.values ?? []).reduce((a, v) => a + v.value, 0)
}

it('2 v0 + 2 ZEONE-TS nodes in a chain: full mesh, DHT in every direction, echo in every direction, no disputes', { timeout: 120_000 }, async () => {
  const p1 = new V0Node({ discoverIntervalMs: 250, claimIntervalMs: 400 })
  const p2 = new V0Node({ discoverIntervalMs: 250, claimIntervalMs: 400 })
  const ts: ZeoneNode[] = []
  try {
    const t0 = Date.now()
    await p1.start()
    const t1 = await startTsNode({ ...legacyCfg, bootstrap: [`127.0.0.1:${p1.port}`] })
    ts.push(t1)
    await until(() => p1.peers.has(t1.identity.nodeIdB64), MESH_MS, 'T1 -> P1')
    await p2.start({ host: '127.0.0.1', port: t1.listenAddress!.port })
    const t2 = await startTsNode({ ...legacyCfg, bootstrap: [`127.0.0.1:${p2.port}`] })
    ts.push(t2)

    const ids = { p1: p1.nodeId, p2: p2.nodeId, t1: t1.identity.nodeIdB64, t2: t2.identity.nodeIdB64 }
    const all = Object.values(ids)
    const meshed = (): boolean =>
      [p1, p2].every((p) => all.every((id) => id === p.nodeId || p.peers.has(id))) &&
      [t1, t2].every((t) => { const s = tsPeerIds(t); return all.every((id) => id === t.identity.nodeIdB64 || s.has(id)) })
    await until(meshed, MESH_MS, 'a full mesh')
    const meshMs = Date.now() - t0
    assert.ok(meshMs < MESH_MS + 5000)
    for (const p of [p1, p2]) assert.equal(p.removed.size, 0, 'a v0 node removed a peer (one of its connections was closed)')
    for (const p of [p1, p2]) assert.equal(p.dhtKeyErrors, 0, 'a DHT request without sender fields')

    // DHT: each node puts, every other node reads
    await p1.put(sha1hex('from-p1'), hex('v-p1'))
    await p2.put(sha1hex('from-p2'), hex('v-p2'))
    assert.ok((await dhtPut(t1, 'from-t1', 'v-t1')).storedOn >= 3)
    assert.ok((await dhtPut(t2, 'from-t2', 'v-t2')).storedOn >= 3)
    for (const k of ['p1', 'p2', 't1', 't2']) {
      for (const p of [p1, p2]) assert.equal(await p.get(sha1hex(`from-${k}`)), hex(`v-${k}`), `${k}'s value read by a v0 node`)
      for (const t of [t1, t2]) assert.equal((await dhtGet(t, `from-${k}`)).value?.utf8, `v-${k}`, `${k}'s value read by a ZEONE-TS node`)
    }

    // echo in all 12 directions
    const svc = (t: ZeoneNode): LegacyServices => t.services.get('legacyServices')!
    const tsEcho = async (t: ZeoneNode, to: string, payload: unknown): Promise<unknown> => {
      const link = t.legacy!.get(to)
      assert.ok(link, 'no link')
      return (await svc(t).call(link, 'echo', payload, { budget: 1 })).result
    }
    for (const from of [p1, p2]) {
      for (const to of all.filter((x) => x !== from.nodeId)) {
        const r = await from.echo(to, ['x', 1])
        assert.equal(r.success, true, `v0 echo to ${to}`)
      }
    }
    for (const from of [t1, t2]) {
      for (const to of all.filter((x) => x !== from.identity.nodeIdB64)) assert.deepEqual(await tsEcho(from, to, ['y', 2]), ['y', 2])
    }

    // 1,000 echo calls across the mixed links, then claims on both sides must agree
    const pairs: Array<() => Promise<unknown>> = [
      () => p1.echo(ids.t1, { n: 'a' }), () => p2.echo(ids.t2, 'é'.repeat(20)),
      () => tsEcho(t1, ids.p2, { q: 1.5 }), () => tsEcho(t2, ids.p1, ['z']),
    ]
    for (let i = 0; i < 250; i++) await Promise.all(pairs.map((f) => f()))
    const done = Date.now()
    const acksBefore = p1.agreedAcks.length + p2.agreedAcks.length
    p1.claimNow(); p2.claimNow()
    await until(() => [t1, t2].every((t) => all.every((id) => id === t.identity.nodeIdB64 || (t.legacy!.meter.evidence(id)?.at ?? 0) > done)), 10_000, 'claims judged by the ZEONE-TS nodes')
    await until(() => p1.agreedAcks.length + p2.agreedAcks.length >= acksBefore + 4 || p1.disputes.length + p2.disputes.length > 0, 10_000, 'claims judged by the v0 nodes')
    assert.deepEqual([...p1.disputes, ...p2.disputes], [], 'a v0 node logged a balance dispute')
    assert.equal(await disputes(t1) + await disputes(t2), 0, 'a ZEONE-TS node counted a balance dispute')
    for (const t of [t1, t2]) for (const id of all) if (id !== t.identity.nodeIdB64) assert.equal(t.legacy!.meter.evidence(id)?.status, 'agreed')
  } finally {
    for (const t of ts) await t.stop()
    await p1.stop()
    await p2.stop()
  }
})
