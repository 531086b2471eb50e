import { createHash } from 'node:crypto'
import sodium from 'sodium-native'
import { asBuffer } from '../util/bytes.js'

/** SHA-256 through node:crypto (uses SHA-NI; much faster than a JS or libsodium implementation here). */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

/** SHA-1, used only where the seed protocol fixes it (160-bit DHT ids, puzzle), never for integrity. */
export function sha1(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha1')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

/** BLAKE2b (libsodium generichash) with an output length of 16..64 bytes and an optional key. */
export function blake2b(data: Uint8Array, outLen = 32, key?: Uint8Array): Uint8Array {
  const out = Buffer.alloc(outLen)
  if (key) sodium.crypto_generichash(out, asBuffer(data), asBuffer(key))
  else sodium.crypto_generichash(out, asBuffer(data))
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}

/** Number of leading zero bits of a byte string (S/Kademlia puzzles). */
export function leadingZeroBits(b: Uint8Array): number {
  let n = 0
  for (const byte of b) {
    if (byte === 0) { n += 8; continue }
    return n + Math.clz32(byte) - 24
  }
  return n
}
