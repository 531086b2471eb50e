import sodium from 'sodium-native'
import { asBuffer } from '../util/bytes.js'

export const PUBLIC_KEY_BYTES = 32
export const SECRET_KEY_BYTES = 64
export const SEED_BYTES = 32
export const SIGNATURE_BYTES = 64

export interface SignKeyPair { publicKey: Uint8Array; secretKey: Uint8Array }

export function keyPairFromSeed(seed: Uint8Array): SignKeyPair {
  if (seed.byteLength !== SEED_BYTES) throw new RangeError('Ed25519 seed must be 32 bytes')
  const pk = Buffer.alloc(PUBLIC_KEY_BYTES)
  const sk = Buffer.alloc(SECRET_KEY_BYTES)
  sodium.crypto_sign_seed_keypair(pk, sk, asBuffer(seed))
  return { publicKey: new Uint8Array(pk), secretKey: new Uint8Array(sk) }
}

/**
 * Ed25519 public key of `seed` written into `pk` (and the secret key into `sk`), allocating nothing: for the
 * identity puzzle, which tries tens of thousands of seeds on a node's first start.
 */
export function publicKeyInto(seed: Buffer, pk: Buffer, sk: Buffer): void {
  sodium.crypto_sign_seed_keypair(pk, sk, seed)
}

/** Fills `b` with random bytes in place. */
export function randomFill(b: Buffer): void { sodium.randombytes_buf(b) }

/** Overwrites secret material in place. */
export function wipe(b: Buffer): void { sodium.sodium_memzero(b) }

/** Detached Ed25519 signature over the concatenation of `parts`. */
export function sign(secretKey: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const msg = parts.length === 1 ? asBuffer(parts[0]!) : Buffer.concat(parts)
  const sig = Buffer.alloc(SIGNATURE_BYTES)
  sodium.crypto_sign_detached(sig, msg, asBuffer(secretKey))
  return new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength)
}

/** Verifies a detached signature; returns false (never throws) for malformed keys or signatures. */
export function verify(publicKey: Uint8Array, signature: Uint8Array, ...parts: Uint8Array[]): boolean {
  if (publicKey.byteLength !== PUBLIC_KEY_BYTES || signature.byteLength !== SIGNATURE_BYTES) return false
  const msg = parts.length === 1 ? asBuffer(parts[0]!) : Buffer.concat(parts)
  try {
    return sodium.crypto_sign_verify_detached(asBuffer(signature), msg, asBuffer(publicKey))
  } catch {
    return false
  }
}

export function randomBytes(n: number): Uint8Array {
  const b = Buffer.alloc(n)
  sodium.randombytes_buf(b)
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}
