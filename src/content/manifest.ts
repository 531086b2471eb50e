/**
 * Signed content manifests (docs/protocol/content.md §"Manifest"). Canonical deterministic CBOR; the publisher's
 * Ed25519 signature covers the domain tag and the encoding of every field but `sig`; the manifest id is SHA-256 of
 * the full signed encoding.
 */
import { sha256 } from '../crypto/hash.js'
import { verify } from '../crypto/sign.js'
import type { Identity } from '../crypto/identity.js'
import { decode, encode, type CborValue } from '../wire/cbor.js'
import { ManifestError } from './errors.js'
import { HASH_BYTES } from './merkle.js'
import { validatePathSet } from './paths.js'

export const MANIFEST_VERSION = 1
export const MIN_CHUNK_SIZE = 16 * 1024
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024
export const DEFAULT_CHUNK_SIZE = 1024 * 1024
/** Largest encoded manifest we accept from the network. */
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024
export const MAX_FILES = 65536
/** Bound on leaves per file (so a peer cannot make us hold an unbounded hash layer): 2^22 leaves = 128 MiB of hashes. */
export const MAX_LEAVES = 1 << 22
const SIGN_DOMAIN = new TextEncoder().encode('zeone-manifest-v1\0')

export interface ManifestFile {
  path: string
  size: number
  chunkSize: number
  root: Uint8Array
  sha256: Uint8Array
}

export interface ManifestBody {
  contentId: string
  version: number
  files: ManifestFile[]
  publisher: Uint8Array
  created: number
}

export interface Manifest extends ManifestBody {
  sig: Uint8Array
}

export function isValidChunkSize(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_CHUNK_SIZE && n <= MAX_CHUNK_SIZE && (n & (n - 1)) === 0
}

export function leafCountOf(f: { size: number; chunkSize: number }): number {
  return Math.ceil(f.size / f.chunkSize)
}

function bodyValue(m: ManifestBody): Record<string, CborValue> {
  return {
    v: MANIFEST_VERSION,
    content_id: m.contentId,
    version: m.version,
    files: m.files.map((f) => ({ path: f.path, size: f.size, chunk_size: f.chunkSize, merkle_root: f.root, sha256: f.sha256 })),
    publisher: m.publisher,
    created: m.created,
  }
}

function validateBody(m: ManifestBody): void {
  if (typeof m.contentId !== 'string' || m.contentId.length === 0 || Buffer.byteLength(m.contentId) > 256) throw new ManifestError('bad_manifest', 'content_id must be 1..256 bytes of text')
  if (!Number.isSafeInteger(m.version) || m.version < 0) throw new ManifestError('bad_manifest', 'version must be an unsigned integer')
  if (!Number.isSafeInteger(m.created) || m.created < 0) throw new ManifestError('bad_manifest', 'created must be Unix milliseconds')
  if (!(m.publisher instanceof Uint8Array) || m.publisher.byteLength !== 32) throw new ManifestError('bad_manifest', 'publisher must be a 32-byte Ed25519 key')
  if (!Array.isArray(m.files) || m.files.length === 0 || m.files.length > MAX_FILES) throw new ManifestError('bad_manifest', `files must list 1..${MAX_FILES} entries`)
  for (const f of m.files) {
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw new ManifestError('bad_manifest', `bad size for ${f.path}`)
    if (!isValidChunkSize(f.chunkSize)) throw new ManifestError('bad_chunk_size', `chunk_size ${f.chunkSize} is not a power of two in 16 KiB..16 MiB`)
    if (leafCountOf(f) > MAX_LEAVES) throw new ManifestError('too_many_chunks', `${f.path} has more than ${MAX_LEAVES} chunks`)
    if (!(f.root instanceof Uint8Array) || f.root.byteLength !== HASH_BYTES) throw new ManifestError('bad_manifest', 'merkle_root must be 32 bytes')
    if (!(f.sha256 instanceof Uint8Array) || f.sha256.byteLength !== HASH_BYTES) throw new ManifestError('bad_manifest', 'sha256 must be 32 bytes')
  }
  validatePathSet(m.files.map((f) => f.path))
}

/** Signs a manifest body with the publisher identity (which must match `publisher`). */
export function signManifest(body: Omit<ManifestBody, 'publisher'>, identity: Identity): Manifest {
  const full: ManifestBody = { ...body, publisher: identity.publicKey }
  validateBody(full)
  const sig = identity.sign(SIGN_DOMAIN, encode(bodyValue(full)))
  return { ...full, sig }
}

export function encodeManifest(m: Manifest): Uint8Array {
  return encode({ ...bodyValue(m), sig: m.sig })
}

export function manifestId(m: Manifest | Uint8Array): Uint8Array {
  return sha256(m instanceof Uint8Array ? m : encodeManifest(m))
}

/** Decodes, validates and verifies the signature of an encoded manifest. Throws ManifestError. */
export function decodeManifest(bytes: Uint8Array): Manifest {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) throw new ManifestError('manifest_too_large', `manifest larger than ${MAX_MANIFEST_BYTES} bytes`)
  let v: CborValue
  try {
    v = decode(bytes, { maxDepth: 4, maxItems: MAX_FILES, maxStringBytes: 64 * 1024 })
  } catch (err) {
    throw new ManifestError('bad_manifest', 'manifest is not canonical CBOR', { cause: err })
  }
  const o = asObject(v, 'manifest')
  const keys = Object.keys(o).sort().join(',')
  if (keys !== 'content_id,created,files,publisher,sig,v,version') throw new ManifestError('bad_manifest', `unexpected manifest fields: ${keys}`)
  if (o.v !== MANIFEST_VERSION) throw new ManifestError('bad_manifest_version', `unsupported manifest version ${String(o.v)}`)
  if (!Array.isArray(o.files)) throw new ManifestError('bad_manifest', 'files must be an array')
  const files = o.files.map((fv): ManifestFile => {
    const f = asObject(fv, 'file')
    const fk = Object.keys(f).sort().join(',')
    if (fk !== 'chunk_size,merkle_root,path,sha256,size') throw new ManifestError('bad_manifest', `unexpected file fields: ${fk}`)
    return { path: f.path as string, size: f.size as number, chunkSize: f.chunk_size as number, root: f.merkle_root as Uint8Array, sha256: f.sha256 as Uint8Array }
  })
  for (const f of files) if (typeof f.path !== 'string') throw new ManifestError('bad_manifest', 'path must be text')
  const m: Manifest = {
    contentId: o.content_id as string, version: o.version as number, files,
    publisher: o.publisher as Uint8Array, created: o.created as number, sig: o.sig as Uint8Array,
  }
  validateBody(m)
  if (!(m.sig instanceof Uint8Array) || m.sig.byteLength !== 64) throw new ManifestError('bad_signature', 'sig must be 64 bytes')
  if (!verify(m.publisher, m.sig, SIGN_DOMAIN, encode(bodyValue(m)))) throw new ManifestError('bad_signature', 'manifest signature does not verify')
  return m
}

function asObject(v: CborValue, what: string): Record<string, CborValue> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || v instanceof Map) throw new ManifestError('bad_manifest', `${what} must be a map`)
  return v as Record<string, CborValue>
}
