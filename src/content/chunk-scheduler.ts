/**
 * Which chunk a provider fetches next (sans-I/O: fed results, returns decisions; no timers, no sockets). Chunks are
 * handed out in ascending order; a chunk that came back failed or bad is handed out again before any new one
 * (lowest index first), so the verified prefix the in-flight file hash and streaming readers wait on grows first.
 * A chunk is in flight with at most one provider at a time. A provider that sent bad data for a chunk is never
 * handed that chunk again (the provider set drops it anyway); transport failures are retried anywhere, and the
 * provider set decides when a provider that keeps failing is dropped.
 */

/** What became of a chunk handed out: verified and written, unverifiable data, or no data (timeout, link, miss). */
export type ChunkResult = 'ok' | 'bad' | 'failed'

export class ChunkScheduler<P = unknown> {
  /** Chunks never handed out, ascending; `#next` is the first not yet handed out. */
  readonly #queue: readonly number[]
  #next = 0
  /** Chunks to hand out again, kept ascending. */
  readonly #retry: number[] = []
  /** Chunk → the provider it is in flight with. */
  readonly #inflight = new Map<number, P>()
  /** Chunk → providers that sent bad data for it. */
  readonly #refused = new Map<number, Set<P>>()
  readonly #wanted: ReadonlySet<number>
  #done = 0

  /** @param missing the chunk indices to fetch (duplicates are ignored) */
  constructor(missing: Iterable<number>) {
    const wanted = new Set<number>()
    for (const i of missing) if (Number.isSafeInteger(i) && i >= 0) wanted.add(i)
    this.#wanted = wanted
    this.#queue = [...wanted].sort((a, b) => a - b)
  }

  /** Chunks wanted in all. */
  get total(): number { return this.#wanted.size }
  /** Chunks reported ok. */
  get done(): number { return this.#done }
  /** Chunks handed out and not yet reported. */
  get inFlight(): number { return this.#inflight.size }
  /** Every wanted chunk is ok. */
  get complete(): boolean { return this.#done === this.#wanted.size }

  /**
   * The chunk `provider` should fetch now, or undefined when none is available to it: none left, or every one left is
   * in flight elsewhere or was refused from this provider. Undefined with `inFlight > 0` means "ask again after the
   * next result"; with `inFlight === 0` nothing will change for this provider.
   */
  next(provider: P): number | undefined {
    for (let k = 0; k < this.#retry.length; k++) {
      const i = this.#retry[k]!
      if (this.#refused.get(i)?.has(provider)) continue
      this.#retry.splice(k, 1)
      this.#inflight.set(i, provider)
      return i
    }
    if (this.#next >= this.#queue.length) return undefined
    const i = this.#queue[this.#next++]!
    this.#inflight.set(i, provider)
    return i
  }

  /**
   * Reports chunk `index`. Returns false, changing nothing, for a chunk that is not in flight: never handed out,
   * reported already (a duplicate), or not wanted at all.
   */
  onResult(index: number, result: ChunkResult): boolean {
    const provider = this.#inflight.get(index)
    if (provider === undefined && !this.#inflight.has(index)) return false
    this.#inflight.delete(index)
    if (result === 'ok') {
      this.#done++
      this.#refused.delete(index)
      return true
    }
    if (result === 'bad') {
      let s = this.#refused.get(index)
      if (!s) { s = new Set(); this.#refused.set(index, s) }
      s.add(provider as P)
    }
    // keep #retry ascending (it is short: the chunks that came back since the last hand-out)
    let lo = 0
    let hi = this.#retry.length
    while (lo < hi) { const mid = (lo + hi) >> 1; if (this.#retry[mid]! < index) lo = mid + 1; else hi = mid }
    this.#retry.splice(lo, 0, index)
    return true
  }

  /** Chunks not yet ok (queued, to retry, or in flight). */
  get remaining(): number { return this.#wanted.size - this.#done }
}
