/**
 * Whole-file SHA-256 computed while a download runs: verified chunks are hashed in file order as they arrive;
 * chunks that arrive early wait in a bounded reorder buffer, and anything not hashed in flight (resumed chunks,
 * chunks that did not fit the buffer) is read back from disk at the end. Memory stays under `maxBuffered` bytes.
 */
import { createHash } from 'node:crypto'

/** Where the hashing happens: this thread (default) or a worker (content/hash-thread.ts). */
export interface HashSink {
  /** Appends `data`; `done` is called once the sink no longer reads it. */
  update(data: Uint8Array, done?: () => void): void
  digest(): Promise<Uint8Array> | Uint8Array
}

function localSink(): HashSink {
  const h = createHash('sha256')
  return { update(data, done) { h.update(data); done?.() }, digest: () => new Uint8Array(h.digest()) }
}

export class PrefixHasher {
  readonly #h: HashSink
  #next = 0
  #pending = new Map<number, { data: Uint8Array; done: (() => void) | undefined }>()
  #bytes = 0

  constructor(readonly chunks: number, readonly maxBuffered: number, sink: HashSink = localSink()) {
    this.#h = sink
  }

  /** Chunks [0, hashedUpTo) are in the hash. */
  get hashedUpTo(): number { return this.#next }
  get buffered(): number { return this.#bytes }

  /**
   * Feeds verified chunk `i`, kept by reference until hashed: the caller must not reuse it before `done` is called
   * (at once when the chunk is hashed now or not kept, later when it waits in the reorder buffer).
   */
  feed(i: number, data: Uint8Array, done?: () => void): void {
    if (i < this.#next || this.#pending.has(i)) { done?.(); return }
    if (i !== this.#next) {
      if (this.#bytes + data.byteLength <= this.maxBuffered) { this.#pending.set(i, { data, done }); this.#bytes += data.byteLength } else done?.()
      return
    }
    this.#h.update(data, done)
    this.#next++
    for (let p = this.#pending.get(this.#next); p; p = this.#pending.get(this.#next)) {
      this.#pending.delete(this.#next)
      this.#bytes -= p.data.byteLength
      this.#h.update(p.data, p.done)
      this.#next++
    }
  }

  /** Hashes the rest (buffered or read with `read`) and returns the digest. */
  async finish(read: (i: number) => Promise<Uint8Array>): Promise<Uint8Array> {
    for (; this.#next < this.chunks; this.#next++) {
      const p = this.#pending.get(this.#next)
      if (!p) { this.#h.update(await read(this.#next)); continue }
      this.#pending.delete(this.#next)
      this.#bytes -= p.data.byteLength
      this.#h.update(p.data, p.done)
    }
    return await this.#h.digest()
  }
}
