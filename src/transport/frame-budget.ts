/**
 * Memory held by unfinished frames, across all connections (hostile issue 14 part 4). A peer may announce a frame
 * of up to the negotiated maximum (16 MiB) and send all of it but the last byte: the bytes sit in our buffers for
 * as long as it likes. Each connection reports how much it holds after every read; when the total passes the cap,
 * the slowest holders are closed: those whose unfinished frame made no progress for the longest time, so a peer
 * still streaming its frame outlives one that stalled. The connection that is reading right now goes last.
 */
export class FrameBudget<H> {
  readonly #held = new Map<H, { bytes: number; progressAt: number }>()
  #total = 0

  constructor(readonly maxBytes: number) {}

  /** Bytes held in unfinished frames now, all connections together. */
  get bytes(): number { return this.#total }

  /**
   * `holder` now holds `bytes` (its unfinished frame so far). Returns the holders to close, slowest first, so the
   * total fits under the cap again; the caller closes them and calls release() for each.
   */
  update(holder: H, bytes: number, now: number): H[] {
    const e = this.#held.get(holder)
    if (bytes === 0) { if (e) this.release(holder); return [] }
    if (e) {
      this.#total += bytes - e.bytes
      if (bytes > e.bytes) e.progressAt = now
      e.bytes = bytes
    } else {
      this.#held.set(holder, { bytes, progressAt: now })
      this.#total += bytes
    }
    if (this.#total <= this.maxBytes) return []
    const order = [...this.#held].filter(([h]) => h !== holder)
      .sort(([, a], [, b]) => a.progressAt - b.progressAt || b.bytes - a.bytes)
    const out: H[] = []
    let left = this.#total
    for (const [h, v] of order) {
      if (left <= this.maxBytes) break
      out.push(h)
      left -= v.bytes
    }
    if (left > this.maxBytes) out.push(holder)
    return out
  }

  release(holder: H): void {
    const e = this.#held.get(holder)
    if (!e) return
    this.#total -= e.bytes
    this.#held.delete(holder)
  }

  get holders(): number { return this.#held.size }
}
