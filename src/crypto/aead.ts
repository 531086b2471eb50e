/**
 * Authenticated encryption used by the wire:
 *  - v1: XSalsa20-Poly1305 (libsodium crypto_secretbox, 24-byte nonce, 16-byte MAC in front of the ciphertext);
 *  - v2: an IETF AEAD from node:crypto, ChaCha20-Poly1305 or AES-256-GCM (12-byte nonce, 16-byte tag after it).
 * Keys are wrapped once (KeyObject) so sealing a frame does no key import.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto'
import sodium from 'sodium-native'
import { asBuffer } from '../util/bytes.js'
import { ZeoneError } from '../util/errors.js'

export const KEY_BYTES = 32
export const TAG_BYTES = 16
export const SECRETBOX_NONCE_BYTES = 24

/**
 * v2 cipher suites in our default order of preference. ChaCha20-Poly1305 stays first also on CPUs with AES-NI, VAES
 * and VPCLMULQDQ: through node:crypto AES-256-GCM is cheaper per byte only in isolation, and a whole transfer costs
 * more with it (`npm run bench -- vpn --suites chacha20-poly1305,aes-256-gcm`, see AeadKey).
 */
export const CIPHER_SUITES = ['chacha20-poly1305', 'aes-256-gcm'] as const
export type CipherSuite = (typeof CIPHER_SUITES)[number]

export function isCipherSuite(s: unknown): s is CipherSuite {
  return typeof s === 'string' && (CIPHER_SUITES as readonly string[]).includes(s)
}

/** Decryption failed: wrong key, tampered bytes or a wrong nonce. */
export class DecryptError extends ZeoneError {
  override readonly name = 'DecryptError'
  constructor(options?: { cause?: unknown }) { super('bad_mac', 'authentication tag mismatch', options) }
}

/**
 * node:crypto is fed 64 KiB at a time: each output piece stays in L2 and comes from the malloc heap, not mmap.
 * Other sizes were no better (bench/aead.ts `cpuTime`, 1 MiB frames, MB per CPU-second at load 7: 16 KiB 1,841,
 * 64 KiB 1,582, 256 KiB 1,066, 1 MiB 1,281, every size 13k-41k page faults per GiB; in the vpn bench 5.1-7.5 s of CPU
 * per GiB at every size against 3.9 s with libsodium's ChaCha20-Poly1305).
 */
const PIECE_BYTES = 64 * 1024

/**
 * One direction's v2 key. Both suites are the RFC constructions node:crypto implements.
 *  - ChaCha20-Poly1305 runs through libsodium (crypto_aead_chacha20poly1305_ietf), which seals and opens in the
 *    caller's buffer: no per-frame cipher object and no allocation. In isolation OpenSSL's AVX-512 code is faster on
 *    bulk frames (`npm run bench -- aead`: 2.0 vs 1.4 GB/s at 1 MiB), but node:crypto returns every output in a new
 *    buffer, and in a 1 GiB download that allocation alone started a major GC every ~100 ms: the client and
 *    providers used 20-30% more CPU than with libsodium (bench/content-download.ts, measured both ways).
 *  - AES-256-GCM runs through node:crypto (AES-NI), fed in 64 KiB pieces whose output is copied into place. On
 *    this AMD EPYC (AES-NI, VAES, VPCLMULQDQ; Node's OpenSSL 3.0.19) it seals 1.2x faster per CPU-second than
 *    libsodium's ChaCha20-Poly1305 in isolation, but each update's fresh output buffer costs page faults and GC in
 *    a real transfer: the vpn bench with each suite forced, interleaved, measured both nodes at 5.8-7.8 s of CPU per
 *    GiB (100-131k page faults) against 3.5-3.9 s (11-14k) with ChaCha20-Poly1305. So ChaCha20-Poly1305 stays first.
 */
export class AeadKey {
  readonly #key: KeyObject
  readonly #raw: Buffer
  constructor(readonly suite: CipherSuite, key: Uint8Array) {
    if (key.byteLength !== KEY_BYTES) throw new RangeError('AEAD key must be 32 bytes')
    this.#raw = Buffer.from(key)
    this.#key = createSecretKey(this.#raw)
  }

  /** Encrypts `plaintext` into `out` (exactly plaintext + 16 bytes: ciphertext || tag). `out` may start at `plaintext`. */
  sealInto(out: Buffer, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): void {
    const n = plaintext.byteLength
    if (this.suite === 'chacha20-poly1305') {
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out, asBuffer(plaintext), asBuffer(aad), null, asBuffer(nonce), this.#raw)
      return
    }
    const c = createCipheriv(this.suite as 'aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES })
    c.setAAD(aad, { plaintextLength: n })
    inPieces((p) => c.update(p), plaintext, out)
    c.final()
    c.getAuthTag().copy(out, n)
  }

  /**
   * Encrypts in place: `region` holds the plaintext in its first `region.length - 16` bytes and receives
   * ciphertext || tag.
   */
  sealInPlace(region: Buffer, nonce: Uint8Array, aad: Uint8Array): void {
    this.sealInto(region, nonce, aad, region.subarray(0, region.length - TAG_BYTES))
  }

  /**
   * Decrypts `ciphertextAndTag` (tag last); throws DecryptError if it does not authenticate. With `inPlace` the
   * plaintext overwrites the ciphertext and a view of it is returned (the caller must own the bytes; after a failure
   * they hold garbage).
   */
  open(nonce: Uint8Array, aad: Uint8Array, ciphertextAndTag: Uint8Array, inPlace = false): Buffer {
    if (ciphertextAndTag.byteLength < TAG_BYTES) throw new DecryptError()
    const split = ciphertextAndTag.byteLength - TAG_BYTES
    const out = inPlace ? asBuffer(ciphertextAndTag).subarray(0, split) : Buffer.allocUnsafe(split)
    if (this.suite === 'chacha20-poly1305') {
      try {
        sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, asBuffer(ciphertextAndTag), asBuffer(aad), asBuffer(nonce), this.#raw)
      } catch (err) {
        throw new DecryptError({ cause: err })
      }
      return out
    }
    const d = createDecipheriv(this.suite as 'aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES })
    d.setAAD(aad, { plaintextLength: split })
    d.setAuthTag(ciphertextAndTag.subarray(split))
    inPieces((p) => d.update(p), ciphertextAndTag.subarray(0, split), out)
    try {
      d.final()
    } catch (err) {
      throw new DecryptError({ cause: err })
    }
    return out
  }
}

/** Runs a stream cipher's update over `input` in PIECE_BYTES steps, copying each output to the same offset of `out`. */
function inPieces(update: (piece: Uint8Array) => Buffer, input: Uint8Array, out: Buffer): void {
  for (let o = 0; o < input.byteLength; o += PIECE_BYTES) {
    const piece = update(input.subarray(o, Math.min(o + PIECE_BYTES, input.byteLength)))
    piece.copy(out, o)
  }
}

/** XSalsa20-Poly1305 into `out` (exactly plaintext + 16 bytes: MAC || ciphertext). */
export function secretboxSealInto(out: Buffer, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): void {
  if (key.byteLength !== KEY_BYTES || nonce.byteLength !== SECRETBOX_NONCE_BYTES) throw new RangeError('bad secretbox key or nonce size')
  sodium.crypto_secretbox_easy(out, asBuffer(plaintext), asBuffer(nonce), asBuffer(key))
}

/**
 * Opens MAC(16) || ciphertext; throws DecryptError on failure. With `inPlace` the plaintext overwrites the box's
 * first bytes (libsodium allows the overlap) and a view of them is returned: the caller must own the bytes.
 */
export function secretboxOpen(key: Uint8Array, nonce: Uint8Array, boxed: Uint8Array, inPlace = false): Buffer {
  if (boxed.byteLength < TAG_BYTES || nonce.byteLength !== SECRETBOX_NONCE_BYTES || key.byteLength !== KEY_BYTES) throw new DecryptError()
  const box = asBuffer(boxed)
  const out = inPlace ? box.subarray(0, box.length - TAG_BYTES) : Buffer.allocUnsafe(box.length - TAG_BYTES)
  if (!sodium.crypto_secretbox_open_easy(out, box, asBuffer(nonce), asBuffer(key))) throw new DecryptError()
  return out
}
