/** S/Kademlia dynamic puzzle: an X such that SHA-1(dhtId XOR X) has at least `bits` leading zero bits. */
import { leadingZeroBits, sha1 } from '../crypto/hash.js'
import { ID_BYTES, xorBytes } from './id.js'

export function checkDynamicPuzzle(dhtId: Uint8Array, x: Uint8Array, bits: number): boolean {
  if (bits === 0) return true
  if (x.byteLength !== ID_BYTES) return false
  return leadingZeroBits(sha1(xorBytes(dhtId, x))) >= bits
}

/** Finds an X for `dhtId` by counting upwards from zero (deterministic; ~2^bits SHA-1 calls). */
export function solveDynamicPuzzle(dhtId: Uint8Array, bits: number, maxTries = 1 << 28): Uint8Array {
  const x = new Uint8Array(ID_BYTES)
  for (let i = 0; i < maxTries; i++) {
    if (checkDynamicPuzzle(dhtId, x, bits)) return x
    for (let j = ID_BYTES - 1; j >= 0; j--) { x[j] = (x[j]! + 1) & 0xff; if (x[j] !== 0) break }
  }
  throw new RangeError(`no dynamic puzzle solution with ${bits} bits in ${maxTries} tries`)
}
