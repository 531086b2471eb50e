import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { controlCall } from '../../src/cli/control-client.js'
import { killAll, killHard, nodeConfig, readDb, spawnNode, until, type Proc } from './spawn-node.js'

type Table = { size: number; restored?: { peers: number; revalidated: number; publications: number; joinedMs: number } }
const table = (p: Proc): Promise<Table> => controlCall(p.dir, 'GET', '/v1/dht/table') as Promise<Table>

test('kill -9 and restart: the routing table comes back from disk (no bootstrap given) and the records published before the kill are republished', { timeout: 180_000 }, async (t) => {
  const dirs: string[] = []
  t.after(() => { killAll(); for (const d of dirs) rmSync(d, { recursive: true, force: true }) })
  const mk = (): string => { const d = mkdtempSync(join(tmpdir(), 'zdr-')); dirs.push(d); return d }
  const seed = await spawnNode(nodeConfig(mk(), []))
  const boot = [`127.0.0.1:${seed.port}`]
  const others = [seed]
  for (let i = 0; i < 4; i++) others.push(await spawnNode(nodeConfig(mk(), boot)))
  const pubDir = mk()
  const dht = { republishMs: 1000 }
  let pub = await spawnNode(nodeConfig(pubDir, boot, dht))
  await until(async () => (await table(pub)).size >= 4)

  const put = await controlCall(pub.dir, 'POST', '/v1/dht/put', { body: { key: 'survives-kill', value: 'still republished' }, timeoutMs: 30_000 }) as { key: string; storedOn: number }
  assert.ok(put.storedOn >= 2, `stored on ${put.storedOn}`)
  // the contacts reach the disk as the table fills, not at a clean stop
  await until(() => readDb(pubDir, (db) => (db.prepare('SELECT count(*) AS n FROM dht_peers').get() as { n: number }).n) >= 4)

  await killHard(pub)
  const killedAt = Date.now()
  pub = await spawnNode(nodeConfig(pubDir, [], dht))
  await until(async () => { const r = await table(pub); return r.size > 0 && (r.restored?.joinedMs ?? -1) >= 0 })
  const r = await table(pub)
  assert.ok(r.restored!.peers >= 4, `restored ${r.restored!.peers}`)
  assert.ok(r.restored!.revalidated >= 4, `revalidated ${r.restored!.revalidated}`)
  assert.equal(r.restored!.publications, 1)

  // a republish signs a seq >= its own clock: a copy with seq past the kill comes from the restarted publisher
  const reader = others[2]!
  await until(() => readDb(reader.dir, (db) => {
    const row = db.prepare('SELECT max(seq) AS seq FROM dht_store WHERE key = ? AND kind = 0').get(put.key) as { seq: number | null }
    return (row.seq ?? 0) > killedAt
  }))
  t.diagnostic(`restart: restored ${r.restored!.peers} contacts, ${r.restored!.revalidated} answered, joined in ${r.restored!.joinedMs} ms`)
  await killHard(pub)
})
