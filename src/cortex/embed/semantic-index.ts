/**
 * Documents searchable by meaning across model changes. Every write and query goes to a space (default: the current
 * default space). When the default model changes, a migration from the old space to the new one is recorded in
 * SQLite and documents move over two ways at once:
 *  - lazily: a query in the new space also searches the old space (query embedded by the old model); the old-space
 *    hits with no new-space vector are embedded by the new model, written back, and ranked with the new-space hits;
 *  - in the background: `runMigration` embeds the remaining documents in id order, in batches, reporting progress.
 *    Its position is just "documents with no vector in the new space", so it resumes after a restart.
 * The old space answers queries until the migration finishes; then it is retired (its vectors dropped).
 */
import { randomUUID } from 'node:crypto'
import { ZeoneError } from '../../util/errors.js'
import { MAX_K, type Hit, type Space, type SpaceKey, type VectorStore } from './vector-store.js'

export interface EmbedModel {
  space: SpaceKey
  embed(texts: string[]): Promise<{ vectors: Float32Array[]; tokens: number }>
}

export interface Migration { from: number; to: number; done: number; total: number; running: boolean; finished: boolean }

export interface QueryResult { space: number; hits: Hit[]; reembedded: number; tokens: number }

export class SemanticIndex {
  #running: Promise<void> | null = null
  #stop = false
  #listeners = new Set<(m: Migration) => void>()

  constructor(readonly store: VectorStore, readonly resolve: (space: Space) => Promise<EmbedModel | undefined>, readonly batch = 64) {}

  async #model(spaceId: number): Promise<EmbedModel> {
    const sp = this.store.space(spaceId)
    const m = await this.resolve(sp)
    if (!m) throw new ZeoneError('no_model', `the model of space ${spaceId} (${sp.modelId}@${sp.modelVersion}) is not available on this node`)
    return m
  }

  #space(space?: number): number {
    const id = space ?? this.store.defaultSpace
    if (id === undefined) throw new ZeoneError('no_space', 'no vector space yet: configure an embedding model')
    return this.store.space(id).id
  }

  /** Embeds and stores documents (key defaults to a random UUID) in a space. */
  async add(items: { key?: string; text: string }[], space?: number): Promise<{ space: number; keys: string[]; tokens: number }> {
    const id = this.#space(space)
    const model = await this.#model(id)
    const docs = items.map((it) => ({ key: it.key ?? randomUUID(), text: it.text }))
    const { vectors, tokens } = await model.embed(docs.map((d) => d.text))
    this.store.upsert(id, docs.map((d, i) => ({ ...d, vector: vectors[i]! })))
    return { space: id, keys: docs.map((d) => d.key), tokens }
  }

  /** The recorded migration's spaces (cheap: no counting). */
  #recorded(): { from: number; to: number } | undefined {
    const raw = this.store.getMeta('migration')
    return raw ? JSON.parse(raw) as { from: number; to: number } : undefined
  }

  /** The migration into `to`, when one is recorded, with its progress (counts the documents still missing). */
  migration(): Migration | undefined {
    const r = this.#recorded()
    if (!r) return undefined
    const { from, to } = r
    const total = this.store.docCount()
    return { from, to, total, done: total - this.store.missingCount(to), running: this.#running !== null, finished: false }
  }

  /** Records a migration from `from` to `to` (idempotent). Queries in `to` start re-embedding lazily at once. */
  beginMigration(from: number, to: number): void {
    if (from === to) return
    const cur = this.#recorded()
    if (cur && cur.from === from && cur.to === to) return
    if (cur) throw new ZeoneError('migration_busy', `a migration from space ${cur.from} to ${cur.to} is not finished`)
    this.store.space(from); this.store.space(to)
    this.store.setMeta('migration', JSON.stringify({ from, to }))
  }

  onProgress(cb: (m: Migration) => void): () => void { this.#listeners.add(cb); return () => this.#listeners.delete(cb) }

  /** Runs the recorded migration to the end (or until stop()); safe to call again while it runs. */
  runMigration(): Promise<void> {
    if (this.#running) return this.#running
    const m = this.migration()
    if (!m) return Promise.resolve()
    this.#stop = false
    this.#running = (async () => {
      const model = await this.#model(m.to)
      let after = 0
      // progress is counted once, then advanced per batch (recounting would scan every document each batch)
      const total = this.store.docCount()
      let done = total - this.store.missingCount(m.to)
      for (;;) {
        if (this.#stop) return
        const docs = this.store.missing(m.to, this.batch, after)
        if (!docs.length) break
        const { vectors } = await model.embed(docs.map((d) => d.text))
        // a document removed or re-embedded meanwhile is simply written again: upsert is idempotent
        this.store.upsert(m.to, docs.map((d, i) => ({ key: d.key, text: d.text, vector: vectors[i]! })))
        after = docs[docs.length - 1]!.id
        done += docs.length
        for (const cb of this.#listeners) cb({ ...m, done: Math.min(done, total), total, running: true, finished: false })
        await new Promise((r) => setImmediate(r))
      }
      this.store.setMeta('migration', null)
      this.store.retire(m.from)
      this.store.flush()
      for (const cb of this.#listeners) cb({ ...m, done: total, total, running: false, finished: true })
    })().finally(() => { this.#running = null })
    return this.#running
  }

  async stopMigration(): Promise<void> {
    this.#stop = true
    await this.#running?.catch(() => {})
  }

  /** Top-k documents nearest to `text` in a space; see the file comment for what a pending migration adds. */
  async query(text: string, o: { space?: number; k?: number } = {}): Promise<QueryResult> {
    const id = this.#space(o.space)
    const k = o.k ?? 10
    if (!Number.isSafeInteger(k) || k < 1 || k > MAX_K) throw new ZeoneError('bad_k', `k must be 1..${MAX_K}`)
    const model = await this.#model(id)
    const { vectors: [q], tokens } = await model.embed([text])
    let hits = this.store.search(id, q!, k)
    let reembedded = 0, more = 0
    const mig = this.#recorded()
    if (mig && mig.to === id) {
      const old = await this.resolve(this.store.space(mig.from))
      if (old) {
        const { vectors: [qOld], tokens: t2 } = await old.embed([text])
        more += t2
        const cand = this.store.search(mig.from, qOld!, k)
        const missing = this.store.missingOf(id, cand.map((h) => h.docId))
        if (missing.length) {
          const docs = this.store.docs(missing)
          const { vectors, tokens: t3 } = await model.embed(docs.map((d) => d.text))
          more += t3
          this.store.upsert(id, docs.map((d, i) => ({ key: d.key, text: d.text, vector: vectors[i]! })))
          reembedded = docs.length
          hits = this.store.search(id, q!, k)
        }
      }
    }
    return { space: id, hits, reembedded, tokens: tokens + more }
  }

  async close(): Promise<void> {
    await this.stopMigration()
  }
}
