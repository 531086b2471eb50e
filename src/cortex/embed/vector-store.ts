/**
 * Versioned vector spaces on the node's SQLite (better-sqlite3, WAL, 0600). A space is keyed by (model id, model
 * version, weights root, dimension, metric); a document (key, text) has at most one vector per space, and every
 * vector row names its space, so several spaces live side by side. Each space has a usearch ANN index (ann.ts)
 * kept in step with its rows, saved on close and rebuilt from the rows when its saved generation is stale.
 * Untrusted input is bounded here: key and text length, vector dimension, non-finite values, k.
 */
import type Database from 'better-sqlite3'
import { chmodSync, existsSync, mkdirSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { openPrivateDatabase } from '../../util/private-db.js'
import { ZeoneError } from '../../util/errors.js'
import { AnnIndex, distance, type AnnParams, type Metric } from './ann.js'

export const MAX_KEY_BYTES = 256
export const MAX_TEXT_CHARS = 65_536
export const MAX_DIM = 8192
export const MAX_K = 1000

export interface SpaceKey { modelId: string; modelVersion: string; weightsRoot: string; dim: number; metric: Metric }
export interface Space extends SpaceKey { id: number; path: string | null; status: 'active' | 'retired'; created: number }
export interface Hit { key: string; docId: number; distance: number }

export class VectorStoreError extends ZeoneError { override readonly name = 'VectorStoreError' }
const fail = (code: string, msg: string): never => { throw new VectorStoreError(code, msg) }

export function checkVector(v: unknown, dim: number): Float32Array {
  if (!(v instanceof Float32Array) && !Array.isArray(v)) fail('bad_vector', 'a vector must be an array of numbers')
  const a = v as ArrayLike<number>
  if (a.length !== dim) fail('dimension_mismatch', `vector has ${a.length} dimensions, the space has ${dim}`)
  const out = Float32Array.from(a)
  for (let i = 0; i < dim; i++) if (!Number.isFinite(out[i])) fail('bad_vector', `vector component ${i} is not a finite number`)
  return out
}

export function checkDoc(key: unknown, text: unknown): void {
  if (typeof key !== 'string' || !key.length || Buffer.byteLength(key) > MAX_KEY_BYTES) fail('bad_key', `a key must be a string of 1..${MAX_KEY_BYTES} bytes`)
  if (typeof text !== 'string') fail('bad_text', 'text must be a string')
  if ((text as string).length > MAX_TEXT_CHARS) fail('text_too_long', `text of ${(text as string).length} characters exceeds ${MAX_TEXT_CHARS}`)
}

export class VectorStore {
  readonly db: Database.Database
  #ann = new Map<number, AnnIndex>()
  #dirty = new Set<number>()
  #closed = false

  constructor(readonly dir: string, readonly annParams: AnnParams = {}) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    this.db = openPrivateDatabase(join(dir, 'vectors.db'))
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = NORMAL')
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS spaces (id INTEGER PRIMARY KEY, model_id TEXT NOT NULL, model_version TEXT NOT NULL, weights_root TEXT NOT NULL,
        dim INTEGER NOT NULL, metric TEXT NOT NULL, path TEXT, status TEXT NOT NULL DEFAULT 'active', created INTEGER NOT NULL, generation INTEGER NOT NULL DEFAULT 0,
        UNIQUE (model_id, model_version, weights_root, dim, metric));
      CREATE TABLE IF NOT EXISTS docs (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, text TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS vectors (doc_id INTEGER NOT NULL REFERENCES docs(id), space_id INTEGER NOT NULL REFERENCES spaces(id), vec BLOB NOT NULL,
        PRIMARY KEY (space_id, doc_id)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`)
  }

  // ---- spaces ----
  #row = (r: Record<string, unknown>): Space => ({
    id: r.id as number, modelId: r.model_id as string, modelVersion: r.model_version as string, weightsRoot: r.weights_root as string,
    dim: r.dim as number, metric: r.metric as Metric, path: (r.path as string | null) ?? null, status: r.status as Space['status'], created: r.created as number,
  })

  /** The space with this key, created when new. `path` = where its model lives (re-embedding in it needs the model). */
  ensureSpace(k: SpaceKey, path?: string): Space {
    if (!Number.isSafeInteger(k.dim) || k.dim < 1 || k.dim > MAX_DIM) fail('bad_space', `dimension must be 1..${MAX_DIM}`)
    if (!['cos', 'ip', 'l2sq'].includes(k.metric)) fail('bad_space', 'metric must be cos, ip or l2sq')
    for (const s of [k.modelId, k.modelVersion, k.weightsRoot]) if (typeof s !== 'string' || !s || s.length > 256) fail('bad_space', 'model id, version and weights root must be 1..256 characters')
    this.db.prepare(`INSERT INTO spaces (model_id, model_version, weights_root, dim, metric, path, created) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT DO UPDATE SET path = COALESCE(excluded.path, path)`).run(k.modelId, k.modelVersion, k.weightsRoot, k.dim, k.metric, path ?? null, Date.now())
    return this.#row(this.db.prepare('SELECT * FROM spaces WHERE model_id = ? AND model_version = ? AND weights_root = ? AND dim = ? AND metric = ?')
      .get(k.modelId, k.modelVersion, k.weightsRoot, k.dim, k.metric) as Record<string, unknown>)
  }

  space(id: number): Space {
    const r = this.db.prepare('SELECT * FROM spaces WHERE id = ?').get(id) as Record<string, unknown> | undefined
    return r ? this.#row(r) : fail('no_space', `no vector space ${id}`)
  }

  spaces(): Space[] { return (this.db.prepare('SELECT * FROM spaces ORDER BY id').all() as Record<string, unknown>[]).map(this.#row) }

  count(spaceId: number): number { return (this.db.prepare('SELECT COUNT(*) AS n FROM vectors WHERE space_id = ?').get(spaceId) as { n: number }).n }
  docCount(): number { return (this.db.prepare('SELECT COUNT(*) AS n FROM docs').get() as { n: number }).n }

  getMeta(key: string): string | undefined { return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value }
  setMeta(key: string, value: string | null): void {
    if (value === null) this.db.prepare('DELETE FROM meta WHERE key = ?').run(key)
    else this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO UPDATE SET value = excluded.value').run(key, value)
  }

  get defaultSpace(): number | undefined { const v = this.getMeta('default_space'); return v === undefined ? undefined : Number(v) }
  set defaultSpace(id: number | undefined) { if (id !== undefined) this.space(id); this.setMeta('default_space', id === undefined ? null : String(id)) }

  /** Drops a space's vectors and marks it retired (after a finished migration away from it). */
  retire(spaceId: number): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM vectors WHERE space_id = ?').run(spaceId)
      this.db.prepare("UPDATE spaces SET status = 'retired', generation = generation + 1 WHERE id = ?").run(spaceId)
    })()
    this.#ann.delete(spaceId)
  }

  // ---- documents and vectors ----
  /** Writes documents and their vectors in one space, in one transaction. Returns the doc ids. */
  upsert(spaceId: number, items: { key: string; text: string; vector: Float32Array | number[] }[]): number[] {
    const sp = this.space(spaceId)
    if (sp.status !== 'active') fail('space_retired', `space ${spaceId} is retired`)
    const rows = items.map((it) => { checkDoc(it.key, it.text); return { key: it.key, text: it.text, v: checkVector(it.vector, sp.dim) } })
    const ann = this.ann(spaceId)
    const insDoc = this.db.prepare('INSERT INTO docs (key, text) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET text = excluded.text RETURNING id')
    const getDoc = this.db.prepare('SELECT id, text FROM docs WHERE key = ?')
    const dropOther = this.db.prepare('DELETE FROM vectors WHERE doc_id = ? AND space_id != ?')
    const insVec = this.db.prepare('INSERT INTO vectors (doc_id, space_id, vec) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET vec = excluded.vec')
    const ids = this.db.transaction(() => rows.map((r) => {
      const before = getDoc.get(r.key) as { id: number; text: string } | undefined
      const id = (insDoc.get(r.key, r.text) as { id: number }).id
      // a changed text makes its vectors in other spaces stale: they go (the other indexes drop them at next load)
      if (before && before.text !== r.text) { dropOther.run(id, spaceId); this.#dropFromOthers(spaceId, id) }
      insVec.run(id, spaceId, Buffer.from(r.v.buffer, r.v.byteOffset, r.v.byteLength))
      return id
    }))()
    this.db.prepare('UPDATE spaces SET generation = generation + 1 WHERE id = ?').run(spaceId)
    rows.forEach((r, i) => ann.upsert(BigInt(ids[i]!), r.v))
    this.#dirty.add(spaceId)
    return ids
  }

  /** A document's vectors in other spaces went stale: out of their loaded indexes, and their saved files are behind. */
  #dropFromOthers(spaceId: number, docId: number): void {
    this.db.prepare('UPDATE spaces SET generation = generation + 1 WHERE id != ?').run(spaceId)
    for (const [id, ix] of this.#ann) if (id !== spaceId) { ix.remove(BigInt(docId)); this.#dirty.add(id) }
  }

  vector(spaceId: number, docId: number): Float32Array | undefined {
    const r = this.db.prepare('SELECT vec FROM vectors WHERE space_id = ? AND doc_id = ?').get(spaceId, docId) as { vec: Buffer } | undefined
    return r ? blobToF32(r.vec) : undefined
  }

  docs(ids: number[]): { id: number; key: string; text: string }[] {
    const q = this.db.prepare('SELECT id, key, text FROM docs WHERE id = ?')
    return ids.map((id) => q.get(id) as { id: number; key: string; text: string } | undefined).filter((d): d is { id: number; key: string; text: string } => !!d)
  }

  /** Which of `docIds` have no vector in the space. */
  missingOf(spaceId: number, docIds: number[]): number[] {
    const q = this.db.prepare('SELECT 1 FROM vectors WHERE space_id = ? AND doc_id = ?')
    return docIds.filter((id) => !q.get(spaceId, id))
  }

  /** Documents with no vector in the space, in id order after `afterId` (the migration's resumable cursor). */
  missing(spaceId: number, limit: number, afterId = 0): { id: number; key: string; text: string }[] {
    return this.db.prepare(`SELECT d.id, d.key, d.text FROM docs d WHERE d.id > ? AND NOT EXISTS
      (SELECT 1 FROM vectors v WHERE v.space_id = ? AND v.doc_id = d.id) ORDER BY d.id LIMIT ?`).all(afterId, spaceId, limit) as { id: number; key: string; text: string }[]
  }
  missingCount(spaceId: number): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM docs d WHERE NOT EXISTS (SELECT 1 FROM vectors v WHERE v.space_id = ? AND v.doc_id = d.id)').get(spaceId) as { n: number }).n
  }

  // ---- search ----
  ann(spaceId: number): AnnIndex {
    let ix = this.#ann.get(spaceId)
    if (ix) return ix
    const sp = this.space(spaceId)
    ix = new AnnIndex(sp.dim, sp.metric, this.annParams)
    const file = this.#annFile(spaceId)
    const gen = (this.db.prepare('SELECT generation FROM spaces WHERE id = ?').get(spaceId) as { generation: number }).generation
    if (existsSync(file) && this.getMeta(`ann_generation.${spaceId}`) === String(gen)) {
      try { ix.load(file) } catch { ix = this.#rebuild(sp) }
      if (ix.size !== this.count(spaceId)) ix = this.#rebuild(sp)
    } else ix = this.#rebuild(sp)
    this.#ann.set(spaceId, ix)
    return ix
  }

  #rebuild(sp: Space): AnnIndex {
    const ix = new AnnIndex(sp.dim, sp.metric, this.annParams)
    const it = this.db.prepare('SELECT doc_id, vec FROM vectors WHERE space_id = ?').iterate(sp.id) as IterableIterator<{ doc_id: number; vec: Buffer }>
    const B = 4096
    let keys = new BigUint64Array(B), flat = new Float32Array(B * sp.dim), n = 0
    for (const r of it) {
      keys[n] = BigInt(r.doc_id)
      flat.set(blobToF32(r.vec), n * sp.dim)
      if (++n === B) { ix.addMany(keys, flat); keys = new BigUint64Array(B); flat = new Float32Array(B * sp.dim); n = 0 }
    }
    ix.addMany(keys.subarray(0, n), flat.subarray(0, n * sp.dim))
    this.#dirty.add(sp.id)
    return ix
  }

  search(spaceId: number, vector: Float32Array | number[], k: number): Hit[] {
    const sp = this.space(spaceId)
    if (sp.status !== 'active') fail('space_retired', `space ${spaceId} is retired (its documents moved to a newer space)`)
    if (!Number.isSafeInteger(k) || k < 1 || k > MAX_K) fail('bad_k', `k must be 1..${MAX_K}`)
    const v = checkVector(vector, sp.dim)
    const r = this.ann(spaceId).search(v, k)
    const docs = new Map(this.docs(r.keys.map(Number)).map((d) => [d.id, d]))
    return r.keys.map((key, i) => ({ key: docs.get(Number(key))?.key ?? '', docId: Number(key), distance: r.distances[i]! })).filter((h) => h.key)
  }

  /** Exact top-k over every vector of the space (the recall baseline). */
  bruteForce(spaceId: number, vector: Float32Array, k: number): { docId: number; distance: number }[] {
    const sp = this.space(spaceId)
    const best: { docId: number; distance: number }[] = []
    for (const r of this.db.prepare('SELECT doc_id, vec FROM vectors WHERE space_id = ?').iterate(spaceId) as IterableIterator<{ doc_id: number; vec: Buffer }>) {
      const d = distance(sp.metric, vector, blobToF32(r.vec))
      if (best.length < k || d < best[best.length - 1]!.distance) {
        best.push({ docId: r.doc_id, distance: d })
        best.sort((a, b) => a.distance - b.distance)
        if (best.length > k) best.pop()
      }
    }
    return best
  }

  #annFile(id: number): string { return join(this.dir, `space-${id}.usearch`) }

  /** Saves the ANN indexes that changed, each with the generation it matches. */
  flush(): void {
    for (const id of this.#dirty) {
      const ix = this.#ann.get(id)
      if (!ix) continue
      const gen = (this.db.prepare('SELECT generation FROM spaces WHERE id = ?').get(id) as { generation: number }).generation
      const tmp = `${this.#annFile(id)}.tmp`
      ix.save(tmp)
      // the index holds the vectors: owner-only, like the database
      chmodSync(tmp, 0o600)
      renameSync(tmp, this.#annFile(id))
      this.setMeta(`ann_generation.${id}`, String(gen))
    }
    this.#dirty.clear()
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    try { this.flush() } finally { this.db.close() }
  }
}

export function blobToF32(b: Buffer): Float32Array {
  const out = new Float32Array(b.byteLength / 4)
  new Uint8Array(out.buffer).set(b)
  return out
}
