/**
 * Versioned vector spaces on real SQLite + usearch with two real self-made encoders (model v1 and v2): spaces side by
 * side, lazy re-embedding at query time after a model change, the background migration (progress, resumed after a
 * restart), the old space queryable until the migration ends, the ANN index persisted and rebuilt, hostile input.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Embedder } from '../../src/cortex/embed/embedder.js'
import { writeTinyBert } from '../../src/cortex/embed/tiny-bert.js'
import { SemanticIndex, type EmbedModel, type Migration } from '../../src/cortex/embed/semantic-index.js'
import { VectorStore, type Space } from '../../src/cortex/embed/vector-store.js'
import { AnnIndex, distance } from '../../src/cortex/embed/ann.js'
import { Prng } from '../../src/cortex/sampling.js'
import { tempDir } from './helpers.js'

const root = tempDir('zeone-embed-store-')
let e1: Embedder, e2: Embedder
const models = new Map<string, EmbedModel>()
const asModel = (e: Embedder, version: string): EmbedModel => ({ space: { modelId: 'mini', modelVersion: version, weightsRoot: e.weightsRoot, dim: e.dim, metric: 'cos' }, embed: (t) => e.embed(t) })
const resolve = async (s: Space): Promise<EmbedModel | undefined> => models.get(s.weightsRoot)

before(async () => {
  writeTinyBert(join(root.dir, 'm1'), { layers: 1, hidden: 32, seed: 11 })
  writeTinyBert(join(root.dir, 'm2'), { layers: 1, hidden: 32, seed: 12 })
  e1 = await Embedder.load(join(root.dir, 'm1'))
  e2 = await Embedder.load(join(root.dir, 'm2'))
  models.set(e1.weightsRoot, asModel(e1, 'v1'))
  models.set(e2.weightsRoot, asModel(e2, 'v2'))
})
after(async () => { await e1.close(); await e2.close(); root.cleanup() })

const WORDS = 'the quick brown fox jumps over lazy dog peer network nodes shares layers model cache tokens stream hello world zeone inference stages vector space query search embedding sentence'.split(' ')
function corpus(n: number, seed = 1): string[] {
  const r = new Prng(seed)
  return Array.from({ length: n }, () => Array.from({ length: 3 + Math.floor(r.next() * 8) }, () => WORDS[Math.floor(r.next() * WORDS.length)]).join(' '))
}

test('spaces: keyed by (model id, version, weights root, dim, metric); several side by side; every vector names its space', () => {
  const s = new VectorStore(join(root.dir, 'spaces'))
  try {
    const a = s.ensureSpace(models.get(e1.weightsRoot)!.space, '/m1')
    assert.equal(s.ensureSpace(models.get(e1.weightsRoot)!.space).id, a.id)
    const b = s.ensureSpace(models.get(e2.weightsRoot)!.space)
    const c = s.ensureSpace({ ...models.get(e1.weightsRoot)!.space, metric: 'l2sq' })
    const d = s.ensureSpace({ ...models.get(e1.weightsRoot)!.space, modelVersion: 'v1.1' })
    assert.equal(new Set([a.id, b.id, c.id, d.id]).size, 4)
    assert.equal(s.space(a.id).path, '/m1')
    s.upsert(a.id, [{ key: 'x', text: 'hello', vector: new Float32Array(32).fill(0.1) }])
    s.upsert(b.id, [{ key: 'x', text: 'hello', vector: new Float32Array(32).fill(0.2) }])
    assert.equal(s.count(a.id), 1); assert.equal(s.count(b.id), 1); assert.equal(s.count(c.id), 0)
    assert.ok(Math.abs(s.vector(a.id, 1)![0]! - 0.1) < 1e-7)
    assert.ok(Math.abs(s.vector(b.id, 1)![0]! - 0.2) < 1e-7)
    const rows = s.db.prepare('SELECT DISTINCT space_id FROM vectors ORDER BY space_id').all() as { space_id: number }[]
    assert.deepEqual(rows.map((r) => r.space_id), [a.id, b.id])
    // a changed text makes the document's vectors in other spaces stale: they are dropped
    s.upsert(b.id, [{ key: 'x', text: 'hello again', vector: new Float32Array(32).fill(0.3) }])
    assert.equal(s.count(a.id), 0)
    assert.deepEqual(s.search(a.id, new Float32Array(32).fill(0.1), 5), [])
  } finally { s.close() }
})

test('model change: a query in the new space re-embeds the old-space hits it touches and writes them back; migration finishes the rest; old space queryable until then', async () => {
  const dir = join(root.dir, 'lazy')
  const texts = corpus(300, 2)
  let s = new VectorStore(dir)
  let ix = new SemanticIndex(s, resolve, 50)
  const a = s.ensureSpace(models.get(e1.weightsRoot)!.space).id
  s.defaultSpace = a
  await ix.add(texts.map((text, i) => ({ key: `d${i}`, text })))
  assert.equal(s.count(a), 300)
  const b = s.ensureSpace(models.get(e2.weightsRoot)!.space).id
  s.defaultSpace = b
  ix.beginMigration(a, b)
  assert.equal(s.count(b), 0)

  const q = 'quick brown fox stream'
  const r = await ix.query(q, { k: 10 })
  assert.equal(r.space, b)
  assert.ok(r.reembedded > 0 && r.reembedded <= 10)
  assert.equal(s.count(b), r.reembedded, 'the re-embedded documents were written back into the new space')
  assert.equal(r.hits.length, Math.min(10, r.reembedded))
  // what was written back is exactly the new model's embedding of the document's text
  const h = r.hits[0]!
  const [want] = (await e2.embed([s.docs([h.docId])[0]!.text])).vectors
  assert.ok(distance('l2sq', s.vector(b, h.docId)!, want!) < 1e-10)
  // a second identical query touches the same documents: nothing left to re-embed
  assert.equal((await ix.query(q, { k: 10 })).reembedded, 0)
  // the old space answers while the migration is pending
  assert.equal((await ix.query(q, { space: a, k: 5 })).hits.length, 5)

  // background migration, stopped after its first batch, resumed after a restart
  const seen: Migration[] = []
  const off = ix.onProgress((m) => { seen.push(m); if (seen.length === 1) void ix.stopMigration() })
  await ix.runMigration()
  off()
  assert.equal(seen.length, 1)
  assert.ok(seen[0]!.done > r.reembedded && seen[0]!.done < 300, `progress ${seen[0]!.done}/300`)
  assert.equal(seen[0]!.total, 300)
  await ix.close(); s.close()
  s = new VectorStore(dir)
  ix = new SemanticIndex(s, resolve, 50)
  const m = ix.migration()!
  assert.deepEqual([m.from, m.to, m.done], [a, b, seen[0]!.done], 'the migration and its progress survive a restart')
  const final: Migration[] = []
  ix.onProgress((p) => final.push(p))
  await ix.runMigration()
  assert.ok(final.at(-1)!.finished)
  assert.equal(s.count(b), 300)
  assert.equal(ix.migration(), undefined)
  assert.equal(s.space(a).status, 'retired')
  await assert.rejects(ix.query(q, { space: a }), { code: 'space_retired' })
  // after the migration the new space's answer is the exact nearest neighbours under the new model
  const [qv] = (await e2.embed([q])).vectors
  const exact = s.bruteForce(b, qv!, 10).map((x) => x.docId)
  const got = (await ix.query(q, { k: 10 })).hits.map((x) => x.docId)
  assert.ok(got.filter((x) => exact.includes(x)).length >= 9, 'recall@10 >= 0.9 on 300 documents')
  await ix.close(); s.close()
})

test('ANN index: saved with its generation and loaded on restart; a stale or missing file is rebuilt from SQLite', () => {
  const dir = join(root.dir, 'persist')
  let s = new VectorStore(dir)
  const sp = s.ensureSpace({ modelId: 'raw', modelVersion: '1', weightsRoot: 'r', dim: 16, metric: 'cos' }).id
  const rng = new Prng(5)
  const vec = (): Float32Array => Float32Array.from({ length: 16 }, () => rng.normal())
  s.upsert(sp, Array.from({ length: 500 }, (_, i) => ({ key: `k${i}`, text: `t${i}`, vector: vec() })))
  const q = vec()
  const before = s.search(sp, q, 10).map((h) => h.key)
  s.close()
  const file = join(dir, `space-${sp}.usearch`)
  assert.ok(existsSync(file))
  assert.equal(statSync(file).mode & 0o777, 0o600, 'the saved index is owner-only, like the database')
  assert.equal(statSync(join(dir, 'vectors.db')).mode & 0o777, 0o600)
  s = new VectorStore(dir)
  assert.deepEqual(s.search(sp, q, 10).map((h) => h.key), before, 'loaded from the saved index')
  // replace an existing vector (same count), then crash: the change is in SQLite, the saved index one generation behind
  const moved = before.at(-1)!
  assert.notEqual(s.search(sp, q, 1)[0]!.key, moved)
  s.upsert(sp, [{ key: moved, text: `t${moved.slice(1)}`, vector: q }])
  s.db.close()
  s = new VectorStore(dir)
  assert.equal(s.search(sp, q, 1)[0]!.key, moved, 'a stale index file is rebuilt from the rows')
  s.upsert(sp, [{ key: 'new', text: 'n', vector: vec() }])
  s.close()
  rmSync(file)
  s = new VectorStore(dir)
  assert.equal(s.ann(sp).size, 501)
  s.close()
})

test('hostile input: dimension mismatch, NaN/Infinity, huge text, bad keys and k are refused with clear errors', async () => {
  const s = new VectorStore(join(root.dir, 'hostile'))
  try {
    const sp = s.ensureSpace({ modelId: 'raw', modelVersion: '1', weightsRoot: 'r', dim: 8, metric: 'cos' }).id
    const ok = new Float32Array(8).fill(1)
    assert.throws(() => s.upsert(sp, [{ key: 'a', text: 't', vector: new Float32Array(7) }]), { code: 'dimension_mismatch', message: /7 dimensions, the space has 8/ })
    assert.throws(() => s.upsert(sp, [{ key: 'a', text: 't', vector: [1, 2, 3, 4, 5, 6, 7, NaN] }]), { code: 'bad_vector', message: /component 7/ })
    assert.throws(() => s.upsert(sp, [{ key: 'a', text: 't', vector: [1, 2, 3, Infinity, 5, 6, 7, 8] }]), { code: 'bad_vector' })
    assert.throws(() => s.upsert(sp, [{ key: 'a', text: 'x'.repeat(70_000), vector: ok }]), { code: 'text_too_long' })
    assert.throws(() => s.upsert(sp, [{ key: '', text: 't', vector: ok }]), { code: 'bad_key' })
    assert.throws(() => s.upsert(sp, [{ key: 'k'.repeat(300), text: 't', vector: ok }]), { code: 'bad_key' })
    assert.throws(() => s.search(sp, ok, 0), { code: 'bad_k' })
    assert.throws(() => s.search(sp, ok, 1e6), { code: 'bad_k' })
    assert.throws(() => s.search(sp, new Float32Array(9), 3), { code: 'dimension_mismatch' })
    assert.throws(() => s.ensureSpace({ modelId: 'x', modelVersion: '1', weightsRoot: 'r', dim: 1e6, metric: 'cos' }), { code: 'bad_space' })
    assert.throws(() => s.ensureSpace({ modelId: 'x', modelVersion: '1', weightsRoot: 'r', dim: 8, metric: 'manhattan' as 'cos' }), { code: 'bad_space' })
    assert.throws(() => s.space(999), { code: 'no_space' })
    assert.equal(s.docCount(), 0, 'nothing partial was written')
  } finally { s.close() }
  // the tokenizer bounds its input before any work
  assert.throws(() => e1.tokenizer.encode('x'.repeat(2 << 20)), { code: 'bad_input' })
})

test('ANN recall@10 >= 0.95 against brute force on 5,000 clustered vectors (the 100k figure is in bench/embed.ts)', () => {
  const dim = 64, n = 5000
  const rng = new Prng(9)
  const centers = Array.from({ length: 50 }, () => Float32Array.from({ length: dim }, () => rng.normal()))
  const data = Array.from({ length: n }, () => { const c = centers[Math.floor(rng.next() * 50)]!; return Float32Array.from(c, (x) => x + rng.normal() * 0.5) })
  const ix = new AnnIndex(dim, 'cos')
  data.forEach((v, i) => ix.upsert(BigInt(i), v))
  let hit = 0
  for (let t = 0; t < 50; t++) {
    const q = data[Math.floor(rng.next() * n)]!.map((x) => x + rng.normal() * 0.3)
    const exact = data.map((v, i) => [i, distance('cos', q, v)] as const).sort((x, y) => x[1] - y[1]).slice(0, 10).map((x) => x[0])
    const got = ix.search(q, 10).keys.map(Number)
    hit += got.filter((g) => exact.includes(g)).length
  }
  assert.ok(hit / 500 >= 0.95, `recall ${hit / 500}`)
})
