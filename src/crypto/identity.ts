import { closeSync, constants, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { ZeoneError } from '../util/errors.js'
import { toB64, toHex } from '../util/bytes.js'
import { leadingZeroBits, sha1 } from './hash.js'
import { hash } from 'node:crypto'
import { keyPairFromSeed, publicKeyInto, PUBLIC_KEY_BYTES, randomBytes, randomFill, SECRET_KEY_BYTES, SEED_BYTES, sign, verify, wipe, type SignKeyPair } from './sign.js'

export const IDENTITY_FILE = 'identity.key'
/** File format: magic "ZEID1\n" then the 32-byte Ed25519 seed. */
const FILE_MAGIC = Buffer.from('ZEID1\n')

export class IdentityError extends ZeoneError {
  override readonly name = 'IdentityError'
}

/** A node's long-term identity: node id = Ed25519 public key, DHT id = SHA-1(public key). */
export class Identity {
  readonly publicKey: Uint8Array
  readonly dhtId: Uint8Array
  readonly #secretKey: Uint8Array

  constructor(keys: SignKeyPair) {
    this.publicKey = keys.publicKey
    this.#secretKey = keys.secretKey
    this.dhtId = dhtIdOf(keys.publicKey)
  }

  static fromSeed(seed: Uint8Array): Identity {
    return new Identity(keyPairFromSeed(seed))
  }

  /** Node id as printed and sent on the legacy wire: base64 of the raw public key. */
  get nodeIdB64(): string { return toB64(this.publicKey) }
  get dhtIdHex(): string { return toHex(this.dhtId) }

  sign(...parts: Uint8Array[]): Uint8Array { return sign(this.#secretKey, ...parts) }
  verify(signature: Uint8Array, ...parts: Uint8Array[]): boolean { return verify(this.publicKey, signature, ...parts) }

  /** The raw secret key, for the few places that must hand it to a native primitive (X25519 conversion). */
  exportSecretKey(): Uint8Array { return this.#secretKey }

  /** Never let a secret reach a log line through JSON.stringify or util.inspect. */
  toJSON(): unknown { return { nodeId: this.nodeIdB64, dhtId: this.dhtIdHex } }
  [Symbol.for('nodejs.util.inspect.custom')](): string { return `Identity(${this.nodeIdB64})` }
}

export function dhtIdOf(publicKey: Uint8Array): Uint8Array {
  return sha1(publicKey)
}

/** S/Kademlia static puzzle: SHA-1(SHA-1(pubkey)) must have `bits` leading zero bits. */
export function staticPuzzleBits(publicKey: Uint8Array): number {
  return leadingZeroBits(sha1(sha1(publicKey)))
}

/**
 * Mints seeds until the public key solves the static puzzle with `puzzleBits` (0 = any key). The default 15 bits
 * take 2^15 tries on average, so the loop reuses its buffers and hashes with one-shot crypto.hash: per try that is
 * one Ed25519 key derivation and two SHA-1s, nothing allocated but the digests (this is most of a first start).
 */
export function mintSeed(puzzleBits = 0, maxTries = 1 << 30): Uint8Array {
  if (puzzleBits === 0) return randomBytes(SEED_BYTES)
  const seed = Buffer.alloc(SEED_BYTES)
  const pk = Buffer.alloc(PUBLIC_KEY_BYTES)
  const sk = Buffer.alloc(SECRET_KEY_BYTES)
  try {
    for (let i = 0; i < maxTries; i++) {
      randomFill(seed)
      publicKeyInto(seed, pk, sk)
      if (leadingZeroBits(hash('sha1', hash('sha1', pk, 'buffer'), 'buffer')) >= puzzleBits) return new Uint8Array(seed)
    }
  } finally {
    wipe(seed)
    wipe(sk)
  }
  throw new IdentityError('puzzle', `no key with ${puzzleBits} puzzle bits found in ${maxTries} tries`)
}

export interface LoadIdentityOptions {
  /** Leading zero bits a freshly minted key must have (S/Kademlia c1). @default 0 */
  puzzleBits?: number
}

/**
 * Loads the identity from `dataDir/identity.key`, creating it (mode 0600, written atomically) on first start.
 * Refuses to start if the file is readable or writable by group or others.
 */
export function loadOrCreateIdentity(dataDir: string, opts: LoadIdentityOptions = {}): { identity: Identity; created: boolean } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const file = join(dataDir, IDENTITY_FILE)
  let st
  try {
    st = statSync(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (st) {
    if ((st.mode & 0o077) !== 0) {
      throw new IdentityError('key_permissions',
        `refusing to start: ${file} has mode ${(st.mode & 0o777).toString(8)}; it must not be accessible by group or others (chmod 600 ${file})`)
    }
    const raw = readFileSync(file)
    if (raw.length !== FILE_MAGIC.length + SEED_BYTES || !raw.subarray(0, FILE_MAGIC.length).equals(FILE_MAGIC)) {
      throw new IdentityError('key_format', `${file} is not a ZEONE identity file`)
    }
    return { identity: Identity.fromSeed(new Uint8Array(raw.subarray(FILE_MAGIC.length))), created: false }
  }
  const seed = mintSeed(opts.puzzleBits ?? 0)
  writeFileAtomic(file, Buffer.concat([FILE_MAGIC, seed]), 0o600)
  return { identity: Identity.fromSeed(seed), created: true }
}

/** Writes `data` to a temp file with `mode`, fsyncs it and renames it over `file`: never a half-written file. */
export function writeFileAtomic(file: string, data: Uint8Array, mode = 0o600): void {
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode)
  try {
    let off = 0
    while (off < data.byteLength) off += writeSync(fd, data, off)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
}
