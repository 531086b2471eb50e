/**
 * Output side of a session: seals frames straight into a slab that is written once per event-loop turn (one
 * syscall for many frames), and packs small messages queued within one turn into BATCH frames (docs/protocol.md
 * §4.8) so one AEAD or one v1 signature covers many messages. Message order is kept.
 */
import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { BATCH_ITEM_HEADER, SessionType } from '../wire/batch.js'

const SLAB_BYTES = 256 * 1024
/** Messages up to this size (envelope included) may share a BATCH frame; larger ones get a frame of their own. */
const BATCH_ITEM_MAX = 8 * 1024
const BATCH_MAX = 64 * 1024
/** Recycled large-frame buffers kept per session. */
const POOL_MAX = 16

export interface FrameSealer {
  frameLength(plaintextLength: number): number
  /** Seals `plaintext` as one frame into `out` at `off`; returns the frame length. */
  sealInto(type: number, plaintext: Uint8Array, out: Buffer, off: number): number
  /** Optional: seals the plaintext already copied at `out[off + headerLength ..]` in place. */
  sealInPlace?(type: number, plaintextLength: number, out: Buffer, off: number): number
  headerLength: number
}

export class FrameWriter {
  readonly #stream: Duplex
  readonly #sealer: FrameSealer
  #slab: Buffer | null = null
  #slabStart = 0
  #slabPos = 0
  readonly #batch = Buffer.allocUnsafe(BATCH_MAX)
  #batchLen = 0
  #batchCount = 0
  #scheduled = false
  #stopped = false
  readonly #pool: Buffer[] = []
  readonly #poolable: boolean

  constructor(stream: Duplex, sealer: FrameSealer) {
    this.#stream = stream
    this.#sealer = sealer
    // net.Socket calls a write back only once libuv has written the bytes; other Duplexes get fresh buffers
    this.#poolable = stream instanceof Socket
  }

  /** Bytes accepted but not yet handed to the stream. */
  get pending(): number { return this.#batchLen + (this.#slabPos - this.#slabStart) }

  send(type: number, head: Uint8Array, body: Uint8Array): void {
    if (this.#stopped) return
    const n = head.byteLength + body.byteLength
    if (n > BATCH_ITEM_MAX) {
      this.#flushBatch()
      this.#sealParts(type, head, body)
      return
    }
    if (this.#batchLen + BATCH_ITEM_HEADER + n > BATCH_MAX) this.#flushBatch()
    const b = this.#batch
    let o = this.#batchLen
    b[o] = type
    b.writeUInt32BE(n, o + 1)
    o += BATCH_ITEM_HEADER
    b.set(head, o)
    b.set(body, o + head.byteLength)
    this.#batchLen = o + n
    this.#batchCount++
    this.#schedule()
  }

  /** Writes everything pending now. */
  flush(): void {
    if (this.#stopped) return
    this.#flushBatch()
    this.#flushSlab()
  }

  /** Drops anything pending; later sends are ignored. */
  stop(): void { this.#stopped = true; this.#pool.length = 0 }

  #flushBatch(): void {
    if (this.#batchCount === 0) return
    const b = this.#batch
    if (this.#batchCount === 1) this.#seal(b[0]!, b.subarray(BATCH_ITEM_HEADER, this.#batchLen))
    else this.#seal(SessionType.BATCH, b.subarray(0, this.#batchLen))
    this.#batchLen = 0
    this.#batchCount = 0
  }

  #sealParts(type: number, head: Uint8Array, body: Uint8Array): void {
    const s = this.#sealer
    if (!s.sealInPlace) {
      const pt = Buffer.allocUnsafe(head.byteLength + body.byteLength)
      pt.set(head, 0)
      pt.set(body, head.byteLength)
      this.#seal(type, pt)
      return
    }
    const ptLen = head.byteLength + body.byteLength
    const len = s.frameLength(ptLen)
    const big = len > SLAB_BYTES / 4
    if (big) this.#flushSlab()
    const backing = big && this.#poolable ? this.#take(len) : big ? Buffer.allocUnsafe(len) : null
    const out = backing ? backing.subarray(0, len) : this.#slabFor(len)
    const off = big ? 0 : this.#slabPos
    out.set(head, off + s.headerLength)
    out.set(body, off + s.headerLength + head.byteLength)
    s.sealInPlace(type, ptLen, out, off)
    if (backing && this.#poolable) this.#stream.write(out, () => this.#give(backing))
    else if (backing) this.#stream.write(out)
    else this.#slabPos += len
  }

  #seal(type: number, plaintext: Uint8Array): void {
    const len = this.#sealer.frameLength(plaintext.byteLength)
    if (len > SLAB_BYTES / 4) {
      this.#flushSlab()
      const out = Buffer.allocUnsafe(len)
      this.#sealer.sealInto(type, plaintext, out, 0)
      this.#stream.write(out)
    } else {
      const slab = this.#slabFor(len)
      this.#slabPos += this.#sealer.sealInto(type, plaintext, slab, this.#slabPos)
    }
  }

  /** Large frame buffers are recycled once the stream has taken their bytes (write callback): no GC churn. */
  #take(len: number): Buffer {
    const pool = this.#pool
    for (let i = pool.length - 1; i >= 0; i--) {
      const b = pool[i]!
      if (b.length >= len && b.length <= len * 2) { pool.splice(i, 1); return b }
    }
    return Buffer.allocUnsafeSlow(Math.ceil(len / 4096) * 4096)
  }

  #give(b: Buffer): void {
    if (!this.#stopped && this.#pool.length < POOL_MAX) this.#pool.push(b)
  }

  #slabFor(len: number): Buffer {
    if (!this.#slab || this.#slabPos + len > this.#slab.length) {
      this.#flushSlab()
      this.#slab = Buffer.allocUnsafe(SLAB_BYTES)
      this.#slabStart = this.#slabPos = 0
    }
    this.#schedule()
    return this.#slab
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    process.nextTick(this.#tick)
  }

  #flushSlab(): void {
    if (this.#slab && this.#slabPos > this.#slabStart) {
      this.#stream.write(this.#slab.subarray(this.#slabStart, this.#slabPos))
      this.#slabStart = this.#slabPos
    }
  }

  #tick = (): void => {
    this.#scheduled = false
    this.flush()
  }
}
