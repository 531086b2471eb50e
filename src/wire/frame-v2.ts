/**
 * Wire v2 frames (docs/protocol.md §4.3): AEAD only, no per-frame signature.
 *
 *   [prefix 8: magic, version=2, type, length][seq : 8, big-endian]  [ciphertext || tag 16]
 *
 * `length` counts ciphertext plus tag. The AEAD nonce is 4 zero bytes || seq; the whole 16-byte header is the
 * associated data. Each direction has its own key, and its seq starts at 0 and increases by one per frame; the
 * receiver refuses any seq that is not greater than the last one it accepted.
 */
import { AeadKey, TAG_BYTES } from '../crypto/aead.js'
import { FrameError, type RawFrame, V2_HEADER_BYTES, writePrefix } from './frame.js'

export const V2 = 2
const MAX_SEQ = Number.MAX_SAFE_INTEGER

function writeSeq(b: Buffer, off: number, seq: number): void {
  b.writeUInt32BE(Math.floor(seq / 0x100000000), off)
  b.writeUInt32BE(seq >>> 0, off + 4)
}

function readSeq(b: Buffer, off: number): number {
  const hi = b.readUInt32BE(off)
  if (hi > 0x1fffff) return -1 // beyond 2^53: never produced by a conforming sender
  return hi * 0x100000000 + b.readUInt32BE(off + 4)
}

export class V2Sealer {
  #seq = 0
  readonly #nonce = Buffer.alloc(12)
  constructor(readonly key: AeadKey) {}

  get nextSeq(): number { return this.#seq }

  /** Size of the frame that carries `plaintextLength` bytes. */
  static frameLength(plaintextLength: number): number { return V2_HEADER_BYTES + plaintextLength + TAG_BYTES }

  /** Seals one frame into `out` at `off`; returns the frame length. */
  sealInto(type: number, plaintext: Uint8Array, out: Buffer, off: number): number {
    if (this.#seq >= MAX_SEQ) throw new FrameError('seq_exhausted', 'v2 sequence numbers exhausted: rekey by reconnecting')
    const seq = this.#seq++
    const len = V2_HEADER_BYTES + plaintext.byteLength + TAG_BYTES
    const frame = off === 0 && len === out.length ? out : out.subarray(off, off + len)
    writePrefix(frame, V2, type, plaintext.byteLength + TAG_BYTES)
    writeSeq(frame, 8, seq)
    writeSeq(this.#nonce, 4, seq)
    this.key.sealInto(frame.subarray(V2_HEADER_BYTES), this.#nonce, frame.subarray(0, V2_HEADER_BYTES), plaintext)
    return len
  }

  /**
   * Seals in place: the caller has already written the plaintext at `out[off + 16 ..]`, `plaintextLength` bytes.
   * Returns the frame length.
   */
  sealInPlace(type: number, plaintextLength: number, out: Buffer, off: number): number {
    if (this.#seq >= MAX_SEQ) throw new FrameError('seq_exhausted', 'v2 sequence numbers exhausted: rekey by reconnecting')
    const seq = this.#seq++
    const len = V2_HEADER_BYTES + plaintextLength + TAG_BYTES
    const frame = out.subarray(off, off + len)
    writePrefix(frame, V2, type, plaintextLength + TAG_BYTES)
    writeSeq(frame, 8, seq)
    writeSeq(this.#nonce, 4, seq)
    this.key.sealInPlace(frame.subarray(V2_HEADER_BYTES), this.#nonce, frame.subarray(0, V2_HEADER_BYTES))
    return len
  }

  /** Seals one frame into a new buffer. */
  seal(type: number, plaintext: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(V2Sealer.frameLength(plaintext.byteLength))
    this.sealInto(type, plaintext, out, 0)
    return out
  }
}

export class V2Opener {
  #last = -1
  readonly #nonce = Buffer.alloc(12)
  constructor(readonly key: AeadKey) {}

  /**
   * Authenticates and decrypts one frame; throws FrameError('replayed_seq' | 'bad_mac' | 'bad_frame'). With
   * `inPlace` the plaintext overwrites the frame's ciphertext (the caller must own the frame bytes).
   */
  open(f: RawFrame, inPlace = false): Buffer {
    const b = f.frame
    if (f.version !== V2 || f.headerLength !== V2_HEADER_BYTES || b.length < V2_HEADER_BYTES + TAG_BYTES) {
      throw new FrameError('bad_frame', 'not a v2 frame')
    }
    const seq = readSeq(b, 8)
    // a replay is refused before any crypto; a number past 2^53 is authenticated first (see frame-v1.ts)
    if (seq >= 0 && seq <= this.#last) throw new FrameError('replayed_seq', `stale v2 sequence number ${seq}`)
    b.copy(this.#nonce, 4, 8, 16)
    let pt: Buffer
    try {
      pt = this.key.open(this.#nonce, b.subarray(0, V2_HEADER_BYTES), b.subarray(V2_HEADER_BYTES), inPlace)
    } catch (err) {
      throw new FrameError('bad_mac', 'v2 frame failed authentication', { cause: err })
    }
    if (seq < 0) throw new FrameError('bad_frame', 'v2 sequence number past 2^53')
    this.#last = seq
    return pt
  }
}
