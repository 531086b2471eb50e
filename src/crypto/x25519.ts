/** Ephemeral X25519 key agreement (libsodium crypto_scalarmult) for the handshake's forward secrecy. */
import sodium from 'sodium-native'
import { asBuffer } from '../util/bytes.js'
import { ZeoneError } from '../util/errors.js'

export const X25519_BYTES = 32

export interface X25519KeyPair { publicKey: Uint8Array; secretKey: Uint8Array }

export function x25519KeyPair(seed?: Uint8Array): X25519KeyPair {
  const pk = Buffer.alloc(X25519_BYTES)
  const sk = Buffer.alloc(X25519_BYTES)
  if (seed) {
    if (seed.byteLength !== X25519_BYTES) throw new RangeError('X25519 seed must be 32 bytes')
    sodium.crypto_box_seed_keypair(pk, sk, asBuffer(seed))
  } else {
    sodium.crypto_box_keypair(pk, sk)
  }
  return { publicKey: new Uint8Array(pk), secretKey: new Uint8Array(sk) }
}

/**
 * X25519(secret, peerPublic). Refuses a peer key of the wrong size and an all-zero result (a low-order point),
 * which would make the session key predictable.
 */
export function x25519(secretKey: Uint8Array, peerPublic: Uint8Array): Uint8Array {
  if (secretKey.byteLength !== X25519_BYTES || peerPublic.byteLength !== X25519_BYTES) {
    throw new ZeoneError('bad_key', 'X25519 keys must be 32 bytes')
  }
  const out = Buffer.alloc(X25519_BYTES)
  try {
    sodium.crypto_scalarmult(out, asBuffer(secretKey), asBuffer(peerPublic))
  } catch (err) {
    throw new ZeoneError('bad_key', 'X25519 rejected the peer key', { cause: err })
  }
  let acc = 0
  for (const b of out) acc |= b
  if (acc === 0) throw new ZeoneError('bad_key', 'X25519 produced an all-zero secret (low-order peer key)')
  return new Uint8Array(out)
}
