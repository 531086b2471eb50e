/**
 * Chunk protocol and CDN cache message codecs (docs/protocol/content.md). Every body is a deterministic CBOR map
 * with a version field `v`; decoders are strict and bounded, and refuse unknown fields.
 */
import { joinParts } from '../util/bytes.js'
import { decode, encode, type CborValue } from '../wire/cbor.js'
import { MessageType, registerMessageTypes } from '../wire/message-types.js'
import { ContentProtocolError } from './errors.js'
import { HASH_BYTES, MAX_PROOF_HASHES } from './merkle.js'
import { MAX_CHUNK_SIZE, MAX_MANIFEST_BYTES } from './manifest.js'

export const ContentMessageType = {
  CACHE_REQUEST: MessageType.CACHE_REQUEST,
  CACHE_RESPONSE: MessageType.CACHE_RESPONSE,
  CONTENT_GET_MANIFEST: 0x42,
  CONTENT_MANIFEST: 0x43,
  CONTENT_GET_HASHES: 0x44,
  CONTENT_HASHES: 0x45,
  CONTENT_GET_CHUNK: 0x46,
  CONTENT_CHUNK: 0x47,
} as const

registerMessageTypes('content', {
  CONTENT_GET_MANIFEST: 0x42,
  CONTENT_MANIFEST: 0x43,
  CONTENT_GET_HASHES: 0x44,
  CONTENT_HASHES: 0x45,
  CONTENT_GET_CHUNK: 0x46,
  CONTENT_CHUNK: 0x47,
})

export const WIRE_VERSION = 1
/** Most leaf hashes in one CONTENT_HASHES reply (256 KiB of hashes). */
export const MAX_HASH_BATCH = 8192

export interface GetManifest { id: Uint8Array }
export interface ManifestReply { manifest: Uint8Array }
export interface GetHashes { id: Uint8Array; file: number; start: number; count: number }
export interface HashesReply { start: number; hashes: Uint8Array }
export interface GetChunk { id: Uint8Array; file: number; index: number; proof: boolean }
export interface ChunkReply { index: number; data: Uint8Array; proof?: Uint8Array[] }
export interface CacheRequest { hash: Uint8Array }
export interface CacheResponse { hash: Uint8Array; data?: Uint8Array }

const LIMITS = { maxDepth: 3, maxItems: MAX_PROOF_HASHES + 8, maxStringBytes: Math.max(MAX_CHUNK_SIZE, MAX_MANIFEST_BYTES) }

function parse(body: Uint8Array, what: string, fields: string[], optional: string[] = []): Record<string, CborValue> {
  let v: CborValue
  try { v = decode(body, LIMITS) } catch (err) {
    throw new ContentProtocolError('bad_message', `${what}: not canonical CBOR`, { cause: err })
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || v instanceof Map) throw new ContentProtocolError('bad_message', `${what}: body must be a map`)
  const o = v as Record<string, CborValue>
  if (o.v !== WIRE_VERSION) throw new ContentProtocolError('bad_version', `${what}: unsupported version ${String(o.v)}`)
  for (const k of Object.keys(o)) if (k !== 'v' && !fields.includes(k) && !optional.includes(k)) throw new ContentProtocolError('bad_message', `${what}: unknown field ${k}`)
  for (const k of fields) if (!(k in o)) throw new ContentProtocolError('bad_message', `${what}: missing field ${k}`)
  return o
}

function hash32(v: CborValue, what: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.byteLength !== HASH_BYTES) throw new ContentProtocolError('bad_message', `${what} must be 32 bytes`)
  return v
}
function uint(v: CborValue, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw new ContentProtocolError('bad_message', `${what} must be an unsigned integer <= ${max}`)
  return v
}
function bytes(v: CborValue, what: string, max: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.byteLength > max) throw new ContentProtocolError('bad_message', `${what} must be at most ${max} bytes`)
  return v
}

export const encodeGetManifest = (m: GetManifest): Uint8Array => encode({ v: WIRE_VERSION, id: m.id })
export function decodeGetManifest(b: Uint8Array): GetManifest {
  const o = parse(b, 'GET_MANIFEST', ['id'])
  return { id: hash32(o.id!, 'id') }
}

export const encodeManifestReply = (m: ManifestReply): Uint8Array => encode({ v: WIRE_VERSION, manifest: m.manifest })
export function decodeManifestReply(b: Uint8Array): ManifestReply {
  const o = parse(b, 'MANIFEST', ['manifest'])
  return { manifest: bytes(o.manifest!, 'manifest', MAX_MANIFEST_BYTES) }
}

export const encodeGetHashes = (m: GetHashes): Uint8Array => encode({ v: WIRE_VERSION, id: m.id, file: m.file, start: m.start, count: m.count })
export function decodeGetHashes(b: Uint8Array): GetHashes {
  const o = parse(b, 'GET_HASHES', ['id', 'file', 'start', 'count'])
  return { id: hash32(o.id!, 'id'), file: uint(o.file!, 'file'), start: uint(o.start!, 'start'), count: uint(o.count!, 'count', MAX_HASH_BATCH) }
}

export const encodeHashesReply = (m: HashesReply): Uint8Array => encode({ v: WIRE_VERSION, start: m.start, hashes: m.hashes })
export function decodeHashesReply(b: Uint8Array): HashesReply {
  const o = parse(b, 'HASHES', ['start', 'hashes'])
  const hashes = bytes(o.hashes!, 'hashes', MAX_HASH_BATCH * HASH_BYTES)
  if (hashes.byteLength % HASH_BYTES !== 0) throw new ContentProtocolError('bad_message', 'hashes must be a multiple of 32 bytes')
  return { start: uint(o.start!, 'start'), hashes }
}

export const encodeGetChunk = (m: GetChunk): Uint8Array => encode({ v: WIRE_VERSION, id: m.id, file: m.file, index: m.index, proof: m.proof })
export function decodeGetChunk(b: Uint8Array): GetChunk {
  const o = parse(b, 'GET_CHUNK', ['id', 'file', 'index', 'proof'])
  if (typeof o.proof !== 'boolean') throw new ContentProtocolError('bad_message', 'proof must be a boolean')
  return { id: hash32(o.id!, 'id'), file: uint(o.file!, 'file'), index: uint(o.index!, 'index'), proof: o.proof }
}

/**
 * CHUNK is the bulk message, encoded as three parts around the data so the data is never copied here: the
 * transport copies head, data and tail straight into the frame (`Inbound.reply` takes parts). Canonical key order
 * (length first, then bytes): v, data, index, proof. Tests check the concatenation equals the generic deterministic
 * encoding.
 */
export function encodeChunkReplyParts(m: ChunkReply): [head: Uint8Array, data: Uint8Array, tail: Uint8Array] {
  const index = encode(m.index)
  const proof = m.proof ? encode(m.proof) : undefined
  const dataHead = byteStringHead(m.data.byteLength)
  const head = new Uint8Array(PRE_DATA.byteLength + dataHead.byteLength)
  head.set(PRE_DATA)
  head[0] = 0xa0 | (proof ? 4 : 3)
  head.set(dataHead, PRE_DATA.byteLength)
  const tail = new Uint8Array(INDEX_KEY.byteLength + index.byteLength + (proof ? PROOF_KEY.byteLength + proof.byteLength : 0))
  tail.set(INDEX_KEY)
  tail.set(index, INDEX_KEY.byteLength)
  if (proof) { tail.set(PROOF_KEY, INDEX_KEY.byteLength + index.byteLength); tail.set(proof, INDEX_KEY.byteLength + index.byteLength + PROOF_KEY.byteLength) }
  return [head, m.data, tail]
}

/** CHUNK as one buffer (the parts joined). */
export const encodeChunkReply = (m: ChunkReply): Uint8Array => joinParts(encodeChunkReplyParts(m))
// map head placeholder, "v": 1, "data"
const PRE_DATA = new Uint8Array([0xa0, 0x61, 0x76, WIRE_VERSION, 0x64, 0x64, 0x61, 0x74, 0x61])
const INDEX_KEY = new Uint8Array([0x65, 0x69, 0x6e, 0x64, 0x65, 0x78])
const PROOF_KEY = new Uint8Array([0x65, 0x70, 0x72, 0x6f, 0x6f, 0x66])
function byteStringHead(n: number): Uint8Array {
  if (n < 24) return new Uint8Array([0x40 | n])
  if (n < 0x100) return new Uint8Array([0x58, n])
  if (n < 0x10000) return new Uint8Array([0x59, n >> 8, n & 0xff])
  return new Uint8Array([0x5a, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff])
}
export function decodeChunkReply(b: Uint8Array): ChunkReply {
  const o = parse(b, 'CHUNK', ['index', 'data'], ['proof'])
  const out: ChunkReply = { index: uint(o.index!, 'index'), data: bytes(o.data!, 'data', MAX_CHUNK_SIZE) }
  if (o.proof !== undefined) {
    if (!Array.isArray(o.proof) || o.proof.length > MAX_PROOF_HASHES) throw new ContentProtocolError('bad_message', 'proof must be an array of at most 64 hashes')
    out.proof = o.proof.map((p) => hash32(p, 'proof hash'))
  }
  return out
}

export const encodeCacheRequest = (m: CacheRequest): Uint8Array => encode({ v: WIRE_VERSION, hash: m.hash })
export function decodeCacheRequest(b: Uint8Array): CacheRequest {
  const o = parse(b, 'CACHE_REQUEST', ['hash'])
  return { hash: hash32(o.hash!, 'hash') }
}

export function encodeCacheResponse(m: CacheResponse): Uint8Array {
  const v: Record<string, CborValue> = { v: WIRE_VERSION, hash: m.hash }
  if (m.data) v.data = m.data
  return encode(v)
}
export function decodeCacheResponse(b: Uint8Array): CacheResponse {
  const o = parse(b, 'CACHE_RESPONSE', ['hash'], ['data'])
  const out: CacheResponse = { hash: hash32(o.hash!, 'hash') }
  if (o.data !== undefined) out.data = bytes(o.data, 'data', MAX_CHUNK_SIZE)
  return out
}
