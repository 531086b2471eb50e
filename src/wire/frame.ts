/**
 * Frame prefix shared by every ZEONE frame version, and a streaming reader that cuts frames out of a byte stream
 * without concatenating chunks (docs/protocol.md §4.1).
 *
 *   [magic 0x5A45 : 2][version : 1][type : 1][length : 4, big-endian]  then the version's header rest, then `length` bytes
 *
 * version 0 = handshake frame (plaintext CBOR, header = the 8-byte prefix), 1 = v1 (96-byte header), 2 = v2 (16-byte header).
 * The length is checked against the current maximum BEFORE any buffer for the frame is allocated.
 */
import { ProtocolErrorBase } from './errors.js'

export const MAGIC = 0x5a45
export const MAGIC_0 = 0x5a
export const MAGIC_1 = 0x45
export const PREFIX_BYTES = 8
export const VERSION_HANDSHAKE = 0
export const V1_HEADER_BYTES = 96
export const V2_HEADER_BYTES = 16
/** Bodies of handshake frames are small CBOR maps. */
export const MAX_HANDSHAKE_BODY = 4096
/**
 * A frame spanning chunks is copied into a buffer of its full size when it is at most this large; a larger one
 * into a buffer that doubles as its bytes arrive, so a header announcing 16 MiB costs only what was really sent.
 */
export const EAGER_FRAME_BYTES = 1024 * 1024

export function headerBytes(version: number): number {
  switch (version) {
    case VERSION_HANDSHAKE: return PREFIX_BYTES
    case 1: return V1_HEADER_BYTES
    case 2: return V2_HEADER_BYTES
    default: return -1
  }
}

/** Writes the 8-byte prefix into `out` at offset 0. */
export function writePrefix(out: Buffer, version: number, type: number, length: number): void {
  out[0] = MAGIC_0
  out[1] = MAGIC_1
  out[2] = version
  out[3] = type
  out.writeUInt32BE(length, 4)
}

/** Encodes a complete handshake frame (version 0). */
export function encodeHandshakeFrame(type: number, body: Uint8Array): Buffer {
  if (body.byteLength > MAX_HANDSHAKE_BODY) throw new RangeError('handshake body too large')
  const out = Buffer.allocUnsafe(PREFIX_BYTES + body.byteLength)
  writePrefix(out, VERSION_HANDSHAKE, type, body.byteLength)
  out.set(body, PREFIX_BYTES)
  return out
}

export interface RawFrame {
  version: number
  type: number
  /** The whole frame (header and body); a view into the received bytes, valid after the callback returns. */
  frame: Buffer
  headerLength: number
}

export interface FrameReaderInit {
  /** Frame versions currently accepted. */
  versions: ReadonlySet<number>
  /** Maximum body length in bytes for versions 1 and 2 (handshake frames: MAX_HANDSHAKE_BODY). */
  maxBody: number
  onFrame(f: RawFrame): void
}

/**
 * Incremental frame splitter. A frame that lies wholly inside one chunk is handed out as a zero-copy view. A frame
 * spanning chunks is copied once into a buffer of its exact size, except for `stable` chunks (memory nobody will
 * overwrite, e.g. SlabReader slabs): their unfinished tail is kept as a view, and when the next chunk continues it
 * in the same memory the two are joined without a copy. Throws FrameError (reason code) on a bad magic, a version
 * not accepted now, or an oversized length; after that the reader must be discarded.
 */
export class FrameReader {
  versions: ReadonlySet<number>
  maxBody: number
  readonly #onFrame: (f: RawFrame) => void
  readonly #prefix = Buffer.alloc(PREFIX_BYTES)
  #prefixFill = 0
  /** The frame being copied together: `#accTotal` bytes expected, `#accFill` in; may be smaller than the frame. */
  #acc: Buffer | null = null
  #accFill = 0
  #accTotal = 0
  #accHeader = 0
  /** Unfinished tail of the last stable chunk (a view, not a copy). */
  #tail: Buffer | null = null
  #stopped = false

  constructor(init: FrameReaderInit) {
    this.versions = init.versions
    this.maxBody = init.maxBody
    this.#onFrame = init.onFrame
  }

  /** Stops emitting frames (e.g. the connection is being closed mid-chunk). */
  stop(): void { this.#stopped = true; this.#acc = null; this.#tail = null }

  /** Bytes buffered for an incomplete frame. */
  get buffered(): number { return this.#tail ? this.#tail.length : this.#acc ? this.#accFill : this.#prefixFill }

  /** The unfinished frame kept as a view of a stable chunk, and its full size (0 while its prefix is incomplete). */
  pending(): { tail: Buffer | null; total: number } {
    const t = this.#tail
    if (!t || t.length < PREFIX_BYTES) return { tail: t, total: 0 }
    // an invalid header is refused when the next bytes arrive (push); never size a buffer from it
    try { return { tail: t, total: this.#check(t, 0)[1] } } catch { return { tail: t, total: 0 } }
  }

  /** The bytes of the unfinished frame now live at `tail` (same content, new memory): see SlabReader. */
  movedTail(tail: Buffer): void {
    if (this.#tail && this.#tail.length === tail.length) this.#tail = tail
  }

  push(chunk: Buffer, stable = false): void {
    const tail = this.#tail
    if (tail) {
      this.#tail = null
      if (chunk.buffer === tail.buffer && chunk.byteOffset === tail.byteOffset + tail.length) {
        // the chunk continues the tail in the same memory: one view over both, parsed again from the frame start
        chunk = Buffer.from(tail.buffer, tail.byteOffset, tail.length + chunk.length)
      } else {
        this.#pushCopying(tail, false)
        if (this.#stopped) return
      }
    }
    this.#pushCopying(chunk, stable)
  }

  #pushCopying(chunk: Buffer, stable: boolean): void {
    let off = 0
    const len = chunk.length
    while (off < len && !this.#stopped) {
      let acc = this.#acc
      if (acc) {
        if (this.#accFill === acc.length) acc = this.#grow(acc, len - off)
        const n = Math.min(acc.length - this.#accFill, len - off)
        chunk.copy(acc, this.#accFill, off, off + n)
        this.#accFill += n
        off += n
        if (this.#accFill === this.#accTotal) {
          this.#acc = null
          this.#emit(acc, 0, this.#accTotal, this.#accHeader)
        }
        continue
      }
      if (stable && this.#prefixFill === 0) {
        // keep an unfinished frame as a view; its header is checked as soon as it is complete
        if (len - off < PREFIX_BYTES) { this.#tail = chunk.subarray(off); return }
        const [hdr, total] = this.#check(chunk, off)
        if (len - off < total) { this.#tail = chunk.subarray(off); return }
        const start = off
        off += total
        this.#emit(chunk, start, total, hdr)
        continue
      }
      if (this.#prefixFill > 0 || len - off < PREFIX_BYTES) {
        const n = Math.min(PREFIX_BYTES - this.#prefixFill, len - off)
        chunk.copy(this.#prefix, this.#prefixFill, off, off + n)
        this.#prefixFill += n
        off += n
        if (this.#prefixFill < PREFIX_BYTES) return
        this.#prefixFill = 0
        const [hdr, total] = this.#check(this.#prefix, 0)
        const buf = Buffer.allocUnsafe(firstSize(total, len - off + PREFIX_BYTES))
        this.#prefix.copy(buf, 0, 0, PREFIX_BYTES)
        if (total === PREFIX_BYTES) { this.#emit(buf, 0, total, hdr); continue }
        this.#acc = buf
        this.#accFill = PREFIX_BYTES
        this.#accTotal = total
        this.#accHeader = hdr
        continue
      }
      const [hdr, total] = this.#check(chunk, off)
      if (len - off >= total) {
        const start = off
        off += total
        this.#emit(chunk, start, total, hdr)
        continue
      }
      const buf = Buffer.allocUnsafe(firstSize(total, len - off))
      chunk.copy(buf, 0, off, len)
      this.#acc = buf
      this.#accFill = len - off
      this.#accTotal = total
      this.#accHeader = hdr
      off = len
    }
  }

  /** A full accumulator that needs `more` bytes: a larger one (double, at least `more` extra, at most the frame). */
  #grow(acc: Buffer, more: number): Buffer {
    const size = Math.min(this.#accTotal, Math.max(2 * acc.length, acc.length + more))
    const next = Buffer.allocUnsafe(size)
    acc.copy(next, 0, 0, this.#accFill)
    this.#acc = next
    return next
  }

  #check(b: Buffer, off: number): [number, number] {
    if (b[off] !== MAGIC_0 || b[off + 1] !== MAGIC_1) throw new FrameError('bad_magic', 'frame does not start with the magic 0x5A45')
    const version = b[off + 2]!
    if (!this.versions.has(version)) throw new FrameError('bad_version', `frame version ${version} not accepted here`)
    const hdr = headerBytes(version)
    const length = b.readUInt32BE(off + 4)
    const max = version === VERSION_HANDSHAKE ? MAX_HANDSHAKE_BODY : this.maxBody
    if (length > max) throw new FrameError('oversize', `frame length ${length} exceeds the maximum ${max}`)
    return [hdr, hdr + length]
  }

  #emit(b: Buffer, start: number, total: number, hdr: number): void {
    this.#onFrame({ version: b[start + 2]!, type: b[start + 3]!, frame: b.subarray(start, start + total), headerLength: hdr })
  }
}

/** First accumulator for a frame of `total` bytes of which `have` are here: all of it if small, else room for twice what came. */
function firstSize(total: number, have: number): number {
  return total <= EAGER_FRAME_BYTES ? total : Math.min(total, Math.max(EAGER_FRAME_BYTES, 2 * have))
}

/** A frame could not be parsed or authenticated; `code` is the refusal reason label. */
export class FrameError extends ProtocolErrorBase {
  override readonly name = 'FrameError'
}
