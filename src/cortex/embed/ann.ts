/**
 * The approximate-nearest-neighbour index of one vector space: a usearch HNSW index (keys = document row ids as
 * bigint). It is a cache of the SQLite rows: saved to a file next to the database and reloaded on start only when
 * the saved generation equals the space's generation in SQLite, otherwise rebuilt from the rows.
 */
import { Index, MetricKind, ScalarKind } from 'usearch'

export type Metric = 'cos' | 'ip' | 'l2sq'

export interface AnnParams {
  /** HNSW graph degree. @default 16 */
  connectivity?: number
  /** Candidate list size while inserting. @default 128 */
  expansionAdd?: number
  /** Candidate list size while searching. @default 128 */
  expansionSearch?: number
}

export class AnnIndex {
  readonly #ix: Index
  constructor(readonly dim: number, readonly metric: Metric, p: AnnParams = {}) {
    this.#ix = new Index({
      dimensions: dim, metric: metric as MetricKind, quantization: 'f32' as ScalarKind, connectivity: p.connectivity ?? 16,
      expansion_add: p.expansionAdd ?? 128, expansion_search: p.expansionSearch ?? 128, multi: false,
    })
  }

  get size(): number { return this.#ix.size() }

  /** Adds or replaces one vector. */
  upsert(key: bigint, v: Float32Array): void {
    if (this.#ix.contains(key)) this.#ix.remove(key)
    this.#ix.add(key, v)
  }

  /** Adds many new keys at once (start-up rebuild); `flat` holds keys.length * dim values. */
  addMany(keys: BigUint64Array, flat: Float32Array): void {
    if (!keys.length) return
    this.#ix.add(keys, flat)
  }

  remove(key: bigint): void { if (this.#ix.contains(key)) this.#ix.remove(key) }

  search(v: Float32Array, k: number): { keys: bigint[]; distances: number[] } {
    if (!this.size) return { keys: [], distances: [] }
    const m = this.#ix.search(v, Math.min(k, this.size), 0)
    const keys: bigint[] = [], distances: number[] = []
    for (let i = 0; i < m.keys.length; i++) {
      // usearch pads short answers with the max key
      if (m.keys[i] === 0xffffffffffffffffn) continue
      keys.push(m.keys[i]!)
      distances.push(m.distances[i]!)
    }
    return { keys, distances }
  }

  save(path: string): void { this.#ix.save(path) }
  load(path: string): void { this.#ix.load(path) }
}

/** The distance usearch reports for `metric` (smaller = nearer), computed exactly (brute force and re-ranking). */
export function distance(metric: Metric, a: Float32Array, b: Float32Array): number {
  let dot = 0, na = 0, nb = 0, l2 = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!
    dot += x * y; na += x * x; nb += y * y; l2 += (x - y) * (x - y)
  }
  if (metric === 'ip') return 1 - dot
  if (metric === 'l2sq') return l2
  return na && nb ? 1 - dot / Math.sqrt(na * nb) : 1
}
