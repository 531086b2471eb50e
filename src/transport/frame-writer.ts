/**
 * Output side of a session: seals frames straight into a slab that is written once per event-loop turn (one
 * syscall for many frames), and packs small messages queued within one turn into BATCH frames (docs/protocol.md
 * §4.8) so one AEAD or one v1 signature covers many messages. Message order is kept.
 *
 * Slabs written to a net.Socket are recycled once the socket has handed their bytes to the kernel (the write
 * callback), through a process-wide pool: a bulk transfer then allocates no memory per frame. Fresh 64 KiB-1 MiB
 * buffers per frame were measured to drive V8 into a major GC every ~35 ms at 500 MB/s (external-memory pressure),
 * stealing a core from the crypto on a 2-vCPU machine.
 */
import type { Duplex } from 'node:stream'
import { BATCH_ITEM_HEADER, SessionType } from '../wire/batch.js'
import { SEND_POOL_BYTES, SlabPool } from './slab-pool.js'
import { adaptStream, type StreamAdapter } from './stream-adapter.js'

/** Standard slab size: up to ~15 frames of 64 KiB per write. */
export const SLAB_BYTES = 1024 * 1024
/**
 * Which messages share BATCH frames: those queued in the same event-loop turn, each up to `itemMax` (envelope
 * included), up to `batchMax` of batch plaintext. Large messages batch too (BULK_BATCHING): on v1 a frame costs an
 * Ed25519 signature (~22 us to sign, ~50-65 us to verify here, as much as the XSalsa20-Poly1305 of 64 KiB), and on
 * v2 four 64 KiB messages per frame measured faster than one (loopback, same run against secret-stream:
 * 847-926 MB/s vs 673-858 MB/s with 8 KiB / 64 KiB batches).
 */
export interface BatchPolicy {
  /** Largest message (envelope) that may go into a batch. */
  itemMax: number
  /** Largest batch plaintext. */
  batchMax: number
}

export const BULK_BATCHING: BatchPolicy = { itemMax: 256 * 1024 - 5, batchMax: 256 * 1024 }

/** Free slabs for writers made without a pool of their own (a node's sessions use their manager's, TransportBuffers). */
export const sendSlabs = new SlabPool(SEND_POOL_BYTES)

export interface FrameSealer {
  frameLength(plaintextLength: number): number
  /** Seals `plaintext` as one frame into `out` at `off`; returns the frame length. */
  sealInto(type: number, plaintext: Uint8Array, out: Buffer, off: number): number
  /** Seals the plaintext already copied at `out[off + headerLength ..]` in place; returns the frame length. */
  sealInPlace(type: number, plaintextLength: number, out: Buffer, off: number): number
  headerLength: number
}

/** A slab being filled: bytes [written, pos) are sealed but not yet handed to the stream. */
interface Slab {
  buf: Buffer
  pos: number
  written: number
  /** Writes handed to the stream whose callback has not come yet. */
  inflight: number
  /** No more frames go into it: it returns to the pool when `inflight` reaches 0. */
  retired: boolean
}

export class FrameWriter {
  /** The stream's adapter: what it still holds and whether it asked for a 'drain' (every write goes through it). */
  readonly pressure: StreamAdapter
  readonly #sealer: FrameSealer
  #slab: Slab | null = null
  /** Taken from the pool for the messages of one turn and given back once they are sealed. */
  #batch: Buffer | null = null
  readonly #batchMax: number
  readonly #itemMax: number
  #batchLen = 0
  #batchCount = 0
  #scheduled = false
  #stopped = false
  readonly #recycle: boolean
  readonly #pool: SlabPool

  constructor(stream: Duplex, sealer: FrameSealer, batching: BatchPolicy = BULK_BATCHING, pool: SlabPool = sendSlabs) {
    this.#pool = pool
    this.pressure = adaptStream(stream)
    this.#sealer = sealer
    this.#batchMax = batching.batchMax
    this.#itemMax = Math.min(batching.itemMax, batching.batchMax - BATCH_ITEM_HEADER)
    // net.Socket calls a write back only once libuv has written the bytes; other kinds may keep the buffer
    this.#recycle = this.pressure.releasesOnCallback
  }

  /** Bytes accepted but not yet handed to the stream. */
  get pending(): number {
    const s = this.#slab
    return this.#batchLen + (s ? s.pos - s.written : 0)
  }

  /**
   * Queues one message whose plaintext is the concatenation of `parts`. The parts are copied before this returns
   * (into the batch buffer or straight into the slab, where the frame is sealed in place): the caller may reuse them.
   */
  send(type: number, parts: readonly Uint8Array[]): void {
    if (this.#stopped) return
    let n = 0
    for (const p of parts) n += p.byteLength
    if (n > this.#itemMax) {
      this.#flushBatch()
      this.#sealParts(type, parts, n)
      return
    }
    if (this.#batchLen + BATCH_ITEM_HEADER + n > this.#batchMax) this.#flushBatch()
    const b = this.#batch ??= this.#pool.take(this.#batchMax)
    let o = this.#batchLen
    b[o] = type
    b.writeUInt32BE(n, o + 1)
    o += BATCH_ITEM_HEADER
    for (const p of parts) { b.set(p, o); o += p.byteLength }
    this.#batchLen = o
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
  stop(): void {
    this.#stopped = true
    const s = this.#slab
    this.#slab = null
    if (s) this.#retire(s)
  }

  #flushBatch(): void {
    const b = this.#batch
    if (!b) return
    if (this.#batchCount === 1) this.#seal(b[0]!, b.subarray(BATCH_ITEM_HEADER, this.#batchLen))
    else this.#seal(SessionType.BATCH, b.subarray(0, this.#batchLen))
    this.#batchLen = 0
    this.#batchCount = 0
    // sealing copied the messages into the slab: an idle link holds no batch buffer
    this.#batch = null
    this.#pool.give(b)
  }

  #sealParts(type: number, parts: readonly Uint8Array[], ptLen: number): void {
    const s = this.#sealer
    const len = s.frameLength(ptLen)
    const slab = this.#room(len)
    const off = slab.pos
    let o = off + s.headerLength
    for (const p of parts) { slab.buf.set(p, o); o += p.byteLength }
    slab.pos += s.sealInPlace(type, ptLen, slab.buf, off)
  }

  #seal(type: number, plaintext: Uint8Array): void {
    const slab = this.#room(this.#sealer.frameLength(plaintext.byteLength))
    slab.pos += this.#sealer.sealInto(type, plaintext, slab.buf, slab.pos)
  }

  /** The current slab, with at least `len` free bytes (a full one is written out and replaced). */
  #room(len: number): Slab {
    let s = this.#slab
    if (!s || s.buf.length - s.pos < len) {
      if (s) {
        this.#flushSlab() // may already hand the slab back (written at once)
        if (this.#slab === s) { this.#slab = null; this.#retire(s) }
      }
      const size = Math.max(SLAB_BYTES, len)
      const buf = this.#recycle ? this.#pool.take(size) : Buffer.allocUnsafe(size)
      s = this.#slab = { buf, pos: 0, written: 0, inflight: 0, retired: false }
    }
    this.#schedule()
    return s
  }

  #flushSlab(): void {
    const s = this.#slab
    if (!s || s.pos === s.written) return
    const chunk = s.buf.subarray(s.written, s.pos)
    s.written = s.pos
    if (!this.#recycle) { this.pressure.write(chunk); return }
    const req = { queued: false }
    this.pressure.write(chunk, () => {
      if (!req.queued) return
      s.inflight--
      if (s.retired && s.inflight === 0) this.#pool.give(s.buf)
    })
    if (this.pressure.queued > 0) {
      req.queued = true
      s.inflight++
    } else if (s.inflight === 0) {
      // Nothing is queued: the kernel took the bytes during write() (the callback only comes on a later tick, and a
      // producer looping on resolved promises never lets it run). The slab is free again: back to the pool, from
      // which the next send takes it (still hot); an idle link holds no slab.
      this.#slab = null
      this.#pool.give(s.buf)
    }
  }

  #retire(s: Slab): void {
    s.retired = true
    if (this.#recycle && s.inflight === 0) this.#pool.give(s.buf)
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    process.nextTick(this.#tick)
  }

  #tick = (): void => {
    this.#scheduled = false
    this.flush()
  }
}
