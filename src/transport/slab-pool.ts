/**
 * A bounded pool of large buffers for reuse. Buffers come from allocUnsafeSlow or a SharedArrayBuffer (their own
 * memory, never Node's shared 8 KiB pool) and are rounded up to 64 KiB so frames of similar size share them.
 */
const ROUND = 64 * 1024

export class SlabPool {
  readonly #free: Buffer[] = []
  #bytes = 0
  #closed = false
  /** Buffers allocated because none was free (a steady bulk transfer should stop adding to this). */
  allocated = 0
  /**
   * @param maxBytes most bytes kept free in the pool; buffers given back beyond it are left to the GC.
   * @param shared allocate over SharedArrayBuffers, so a worker thread can read a buffer without a copy.
   */
  constructor(readonly maxBytes: number, readonly shared = false) {}

  /** Free bytes held now. */
  get bytes(): number { return this.#bytes }

  /** A buffer of at least `size` bytes (and at most twice that, so a small request never pins a huge buffer). */
  take(size: number): Buffer {
    const free = this.#free
    for (let i = free.length - 1; i >= 0; i--) {
      const b = free[i]!
      if (b.length >= size && b.length <= size * 2) {
        free[i] = free[free.length - 1]!
        free.pop()
        this.#bytes -= b.length
        return b
      }
    }
    this.allocated++
    const bytes = Math.ceil(size / ROUND) * ROUND
    return this.shared ? Buffer.from(new SharedArrayBuffer(bytes)) : Buffer.allocUnsafeSlow(bytes)
  }

  /** Returns a buffer that nothing reads or writes any more. */
  give(b: Buffer): void {
    if (this.#closed || this.#bytes + b.length > this.maxBytes) return
    this.#free.push(b)
    this.#bytes += b.length
  }

  /**
   * Its owner stopped: every free buffer goes back to the GC, and so do buffers given back later (a write callback
   * or a lent frame released after the stop). take() still works (allocates).
   */
  close(): void {
    this.#closed = true
    this.#free.length = 0
    this.#bytes = 0
  }
}

/** Free send slabs one node's sessions keep for reuse (frame-writer.ts). */
export const SEND_POOL_BYTES = 32 * 1024 * 1024
/** Free large-frame read buffers one node's sessions keep for reuse (slab-reader.ts). */
export const FRAME_POOL_BYTES = 64 * 1024 * 1024

/**
 * The buffer pools of one node's transport: owned by its connection manager (not shared with other nodes in the
 * process) and emptied when it stops.
 */
export interface TransportBuffers { send: SlabPool; frames: SlabPool }

export function transportBuffers(): TransportBuffers {
  return { send: new SlabPool(SEND_POOL_BYTES), frames: new SlabPool(FRAME_POOL_BYTES) }
}
