/** 160-bit DHT id arithmetic: XOR distance, bucket index, random ids inside a bucket. */
import { sha1 } from '../crypto/hash.js'

export const ID_BYTES = 20
export const ID_BITS = 160

/** DHT key of a string: SHA-1 of its UTF-8 bytes (seed rule). */
export function keyOfString(s: string): Uint8Array {
  return sha1(new TextEncoder().encode(s))
}

/** Number of leading bits `a` and `b` share (160 when equal). */
export function commonPrefixBits(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const x = a[i]! ^ b[i]!
    if (x !== 0) return i * 8 + Math.clz32(x) - 24
  }
  return ID_BITS
}

/** Compares the XOR distances of `a` and `b` to `target`: negative when `a` is closer. */
export function compareDistance(a: Uint8Array, b: Uint8Array, target: Uint8Array): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const da = a[i]! ^ target[i]!
    const db = b[i]! ^ target[i]!
    if (da !== db) return da - db
  }
  return 0
}

export function xorBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength)
  for (let i = 0; i < out.byteLength; i++) out[i] = a[i]! ^ b[i]!
  return out
}

/** A random id sharing exactly `prefix` leading bits with `self` (a refresh target for bucket `prefix`). */
export function randomIdInBucket(self: Uint8Array, prefix: number, random: (n: number) => Uint8Array): Uint8Array {
  const id = random(ID_BYTES)
  const full = prefix >> 3
  for (let i = 0; i < full; i++) id[i] = self[i]!
  if (prefix < ID_BITS) {
    const bit = prefix & 7
    const keep = bit === 0 ? 0 : (0xff << (8 - bit)) & 0xff
    const flip = 0x80 >> bit
    let b = (self[full]! & keep) | (id[full]! & ~keep & 0xff)
    b = (b & ~flip) | (~self[full]! & flip)
    id[full] = b & 0xff
  }
  return id
}
