/**
 * Reads a net.Socket straight into large slabs instead of one fresh 64 KiB buffer per read (Node's default).
 * Consecutive reads land next to each other in the same slab, so a frame that spans two reads is already
 * contiguous and needs no copy (FrameReader joins the views), and a bulk transfer allocates one buffer per MiB
 * instead of one per read. Measured on loopback (receiver CPU per GiB at ~600 MB/s, 64 KiB frames decrypted in
 * place): 'data' events + one copy per spanning frame 1.23-1.44 s, slabs 0.94-1.02 s.
 *
 * Slabs are never reused: handlers may keep views of what they received (the memory is freed by the GC like any
 * Buffer). Large frames (OWN_FRAME_BYTES and up: bulk data such as content chunks) are the exception: each is read
 * into a buffer of its own from a process-wide pool, and the one message it carries may give that buffer back
 * (`Message.release`, see lendFrame) once nothing reads it any more. A download then allocates no memory per chunk:
 * fresh 1 MiB slabs that lived until their chunk was written and hashed were promoted to V8's old space and drove a
 * major GC every ~15 MB (measured: GC threads used as much CPU as the client's main thread).
 *
 * The switch uses Node's `onread` machinery, which net.Socket exposes publicly only at construction
 * (`net.connect({ onread })`), not for sockets a server accepts; `switchToSlabReads` installs the same thing on a
 * live socket and reports false (the caller keeps 'data' events) when this Node does not have the pieces.
 */
import type { Socket } from 'node:net'
import { FRAME_POOL_BYTES, SlabPool } from './slab-pool.js'

export const READ_SLAB_BYTES = 1024 * 1024
/** A new slab is started when less than this is left: each read may return up to the free space. */
const MIN_READ = 64 * 1024
/**
 * Frames of at least this size are read into a buffer of their own. Larger than any BATCH frame (256 KiB of
 * plaintext, frame-writer.ts), so a lent buffer carries exactly one message; lendFrame refuses BATCH frames anyway.
 */
export const OWN_FRAME_BYTES = 512 * 1024
/**
 * A large frame's own buffer starts at most this large and doubles as the frame's bytes fill it (the bytes so far
 * are copied along), so a peer that announces a 16 MiB frame and sends little of it costs us little memory.
 */
export const OWN_FRAME_START_BYTES = 4 * 1024 * 1024
/** Size of the read that follows a large frame (see SlabReader #probe). */
const PROBE_READ = 4 * 1024
/**
 * A frame in the slab of at least this size is read only up to its end, and the read after it is a probe: the next
 * frame of a bulk transfer then starts in a short read instead of deep inside a large one, and when it is a large
 * frame only the probe's bytes are copied to its own buffer. Without this a read that finished a 64-512 KiB frame
 * ran on into the next 1 MiB frame, whose first ~MiB was then copied (vpn bench, client: ~6% of its CPU in that copy).
 */
const BOUNDED_FRAME_BYTES = 64 * 1024
/**
 * Large-frame buffers given back by their messages, for readers made without a pool of their own (a node's
 * connections use their manager's, TransportBuffers). Plain memory, not SharedArrayBuffers: several libsodium
 * bindings (Ed25519 verify, secretbox) refuse shared memory, and v1 frames and signed records are checked with them.
 */
export const ownFrameBuffers = new SlabPool(FRAME_POOL_BYTES)
/** Large-frame buffers now holding a frame that has not been lent yet, by their memory, with the pool they go back to. */
const unlent = new WeakMap<ArrayBufferLike, { buf: Buffer; pool: SlabPool }>()

/**
 * If `frame` fills a large-frame buffer of its own, returns the one function that gives the buffer back to the
 * pool (to be called once nothing reads the frame or any view of it again; later calls do nothing); otherwise, or
 * when it was lent already, undefined. Only for a frame that carries a single message (not BATCH).
 */
export function lendFrame(frame: Uint8Array): (() => void) | undefined {
  const u = unlent.get(frame.buffer)
  if (!u || frame.byteOffset !== u.buf.byteOffset) return undefined
  unlent.delete(frame.buffer)
  let given = false
  return () => {
    if (given) return
    given = true
    u.pool.give(u.buf)
  }
}

/** What the frame parser still waits for: the unfinished frame's bytes so far (a view) and its full size. */
export interface PendingFrame { tail: Buffer | null; total: number }

/** How the reader asks the frame parser about its unfinished frame, and tells it where those bytes moved. */
export interface PendingFrameHook { get(): PendingFrame; moved(tail: Buffer): void }

export class SlabReader {
  // a link starts with a small slab; slabs grow with the reads (4x the largest read, up to READ_SLAB_BYTES), so a
  // link that carries small messages never holds a large buffer
  #slab: Buffer
  #pos = 0
  #largestRead = 0
  /** Slabs left behind (full) since the last reuse(): the consumer may still hold views of them. */
  #retired: Buffer[] = []
  /** reuse() was called and no read came since: the next buffer may start over. */
  #reusable = false
  /**
   * @param pending when given, an unfinished frame is moved to the start of each new slab (only the bytes read so
   *   far are copied), and a new slab is started early, large enough, when the frame would not fit in what is left:
   *   frames then arrive in one piece. `moved` receives the new view of those bytes.
   * @param pool where slabs come from and go back to once the consumer calls reuse() (a consumer that copies what it
   *   reads, such as a VPN pipe, then allocates nothing per read); without it slabs are never reused.
   * @param ownPool where large frames' own buffers come from (and go back to, see lendFrame)
   */
  constructor(readonly onChunk: (chunk: Buffer) => void, readonly pending?: PendingFrameHook, readonly pool?: SlabPool,
    readonly ownPool: SlabPool = ownFrameBuffers) {
    this.#slab = this.#alloc(MIN_READ)
  }

  #alloc(size: number): Buffer { return this.pool ? this.pool.take(size) : Buffer.allocUnsafeSlow(size) }

  /**
   * The consumer holds no view of any byte read so far (it copied or dropped them all): from the next read on, the
   * current slab is filled from its start again and the slabs left behind go back to the pool. Only with a pool and
   * without a pending-frame hook (a frame parser keeps views).
   */
  reuse(): void { if (this.pool && !this.pending) this.#reusable = true }

  /** No more reads will come (the socket ended or was destroyed) and the consumer holds no views: all slabs go back. */
  dispose(): void {
    if (!this.pool || this.pending) return
    for (const b of this.#retired) this.pool.give(b)
    this.#retired = []
    this.pool.give(this.#slab)
    this.#slab = Buffer.alloc(0)
    this.#pos = 0
  }

  /** A large frame being read into a buffer of its own: bytes [0, fill) of `buf` are in, `total` are expected. */
  #own: { buf: Buffer; fill: number; total: number } | null = null
  /** The last buffer handed out by next() was #own's. */
  #intoOwn = false
  /**
   * A large frame has just been read: the next read is a short probe (PROBE_READ), so that when another large frame
   * follows, as in a bulk transfer, only its first bytes land in the slab (and are copied to its own buffer).
   */
  #probe = false

  /** The buffer the next read goes into: the rest of a large frame's own buffer, or the free tail of the slab. */
  next = (): Buffer => {
    const own = this.#own
    if (own) {
      if (own.fill < own.total) {
        if (own.fill === own.buf.length) this.#growOwn(own)
        this.#intoOwn = true
        return own.buf.subarray(own.fill, Math.min(own.total, own.buf.length))
      }
      this.#own = null
      this.#probe = true
    }
    this.#intoOwn = false
    if (this.#reusable) {
      this.#reusable = false
      for (const b of this.#retired) this.pool!.give(b)
      this.#retired = []
      this.#pos = 0
    }
    const probe = this.#probe
    this.#probe = false
    const free = this.#slab.length - this.#pos
    const p = this.pending?.get()
    const tail = p?.tail && p.tail.buffer === this.#slab.buffer ? p.tail : null
    const total = tail ? p!.total : 0
    if (total >= OWN_FRAME_BYTES) {
      // reads stop at the frame's end, so the buffer holds this frame alone
      const buf = this.ownPool.take(Math.max(tail!.length + MIN_READ, Math.min(total, OWN_FRAME_START_BYTES)))
      tail!.copy(buf, 0)
      this.pending!.moved(buf.subarray(0, tail!.length))
      this.#own = { buf, fill: tail!.length, total }
      this.#intoOwn = true
      return buf.subarray(tail!.length, Math.min(total, buf.length))
    }
    const probing = probe && !tail
    // a large frame already begun: read to its end only, then probe (see BOUNDED_FRAME_BYTES)
    const rest = tail && total >= BOUNDED_FRAME_BYTES ? total - tail.length : 0
    if (rest > 0) this.#probe = true
    const end = (): number => (probing ? this.#pos + PROBE_READ : rest > 0 ? Math.min(this.#slab.length, this.#pos + rest) : this.#slab.length)
    if ((free >= (probing ? PROBE_READ : MIN_READ) || (rest > 0 && rest <= free)) && !(total > 0 && total - tail!.length > free)) return this.#slab.subarray(this.#pos, end())
    // a new slab; the unfinished frame's bytes so far move along, so the frame stays in one piece
    const size = Math.min(READ_SLAB_BYTES, Math.max(MIN_READ, 4 * this.#largestRead))
    this.#largestRead = 0
    const slab = this.#alloc(Math.max(size, total + MIN_READ))
    if (this.pool && !this.pending && this.#slab.length > 0) this.#retired.push(this.#slab)
    this.#pos = 0
    if (tail) {
      tail.copy(slab, 0)
      this.#pos = tail.length
      this.pending!.moved(slab.subarray(0, tail.length))
    }
    this.#slab = slab
    return slab.subarray(this.#pos, end())
  }

  /** The own buffer is full but its frame is not: move the bytes so far into one twice as large (at most the frame). */
  #growOwn(own: { buf: Buffer; fill: number; total: number }): void {
    const buf = this.ownPool.take(Math.min(own.total, 2 * own.buf.length))
    own.buf.copy(buf, 0, 0, own.fill)
    this.pending?.moved(buf.subarray(0, own.fill))
    this.ownPool.give(own.buf)
    own.buf = buf
  }

  /** `n` bytes were read into the buffer `next()` returned last. */
  read = (n: number): void => {
    this.#reusable = false
    if (this.#intoOwn) {
      const own = this.#own!
      const chunk = own.buf.subarray(own.fill, own.fill + n)
      own.fill += n
      // complete: the frame parser emits it during onChunk, and it may be lent from then on
      if (own.fill === own.total) unlent.set(own.buf.buffer, { buf: own.buf, pool: this.ownPool })
      this.onChunk(chunk)
      return
    }
    const chunk = this.#slab.subarray(this.#pos, this.#pos + n)
    this.#pos += n
    if (n > this.#largestRead) this.#largestRead = n
    this.onChunk(chunk)
  }
}

interface UserBufferHandle { useUserBuffer(buf: Uint8Array): void }

function ownSymbol(o: object, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(o).find((s) => s.description === description)
}

/**
 * From now on, bytes read from `socket` go to `onChunk` (views into slabs) and no longer to 'data' listeners.
 * Call before the first read (outbound) or from a 'data' handler (the switch applies to the next read); 'end',
 * 'close' and errors are emitted as before. Returns false, changing nothing, where this Node lacks the pieces.
 */
export function switchToSlabReads(socket: Socket, onChunk: (chunk: Buffer) => void, pending?: PendingFrameHook, ownPool?: SlabPool): boolean {
  return slabReadsFor(socket, onChunk, pending, undefined, ownPool) !== null
}

/** switchToSlabReads, returning the reader (for reuse()/dispose() with a pool), or null where Node lacks the pieces. */
export function slabReadsFor(socket: Socket, onChunk: (chunk: Buffer) => void, pending?: PendingFrameHook, pool?: SlabPool,
  ownPool?: SlabPool): SlabReader | null {
  const handle = (socket as unknown as { _handle?: Partial<UserBufferHandle> | null })._handle
  if (!handle || typeof handle.useUserBuffer !== 'function') return null
  const kBuffer = ownSymbol(socket, 'kBuffer')
  const kBufferCb = ownSymbol(socket, 'kBufferCb')
  const kBufferGen = ownSymbol(socket, 'kBufferGen')
  if (!kBuffer || !kBufferCb || !kBufferGen) return null
  const reader = new SlabReader(onChunk, pending, pool, ownPool)
  const first = reader.next()
  const s = socket as unknown as Record<symbol, unknown>
  s[kBufferCb] = (n: number): void => reader.read(n)
  s[kBufferGen] = reader.next
  s[kBuffer] = first
  handle.useUserBuffer(first)
  return reader
}
