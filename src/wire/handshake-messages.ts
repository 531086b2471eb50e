/**
 * CBOR codecs of the handshake messages HELLO (0x08), HELLO_ACK (0x09) and VERIFY (0x0a), docs/protocol.md §4.4.
 * Decoders are strict: every field present with the right type and size, no unknown fields, bounded lists.
 */
import { decode, encode, type CborValue } from '../wire/cbor.js'
import { HandshakeError } from './handshake-errors.js'

export interface Hello {
  node_id: Uint8Array
  ephemeral: Uint8Array
  supported_versions: number[]
  preferred_version: number
  capabilities: string[]
  suites: string[]
  listen_port: number
  timestamp: number
  nonce: Uint8Array
  max_frame: number
}

export interface HelloAck {
  node_id: Uint8Array
  ephemeral: Uint8Array
  supported_versions: number[]
  version: number
  suite: string
  capabilities: string[]
  listen_port: number
  timestamp: number
  nonce: Uint8Array
  max_frame: number
  /** Absent in the signed core, present on the wire. */
  signature?: Uint8Array
}

export interface Verify { signature: Uint8Array }

const LIMITS = { maxDepth: 3, maxItems: 32, maxStringBytes: 256 }
const MAX_LIST = 16
const MAX_CAPS = 32
const MAX_NAME = 32

type Obj = Record<string, CborValue>

function asMap(bytes: Uint8Array, what: string, keys: readonly string[], optional: readonly string[] = []): Obj {
  let v: CborValue
  try {
    v = decode(bytes, LIMITS)
  } catch (err) {
    throw new HandshakeError('bad_handshake', `${what}: invalid CBOR`, { cause: err })
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || v instanceof Map) {
    throw new HandshakeError('bad_handshake', `${what}: not a map`)
  }
  const o = v as Obj
  for (const k of Object.keys(o)) {
    if (!keys.includes(k) && !optional.includes(k)) throw new HandshakeError('bad_handshake', `${what}: unknown field ${k}`)
  }
  for (const k of keys) if (!(k in o)) throw new HandshakeError('bad_handshake', `${what}: missing field ${k}`)
  return o
}

function bytes(o: Obj, k: string, len: number): Uint8Array {
  const v = o[k]
  if (!(v instanceof Uint8Array) || v.byteLength !== len) throw new HandshakeError('bad_handshake', `field ${k}: expected ${len} bytes`)
  return v
}

function uint(o: Obj, k: string, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[k]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw new HandshakeError('bad_handshake', `field ${k}: expected an unsigned integer <= ${max}`)
  return v
}

function text(o: Obj, k: string): string {
  const v = o[k]
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_NAME) throw new HandshakeError('bad_handshake', `field ${k}: expected a short text`)
  return v
}

function uintList(o: Obj, k: string): number[] {
  const v = o[k]
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_LIST) throw new HandshakeError('bad_handshake', `field ${k}: expected 1..${MAX_LIST} integers`)
  return v.map((x) => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 255) throw new HandshakeError('bad_handshake', `field ${k}: bad item`)
    return x
  })
}

function textList(o: Obj, k: string, maxLen: number, allowEmpty: boolean): string[] {
  const v = o[k]
  if (!Array.isArray(v) || v.length > maxLen || (!allowEmpty && v.length === 0)) throw new HandshakeError('bad_handshake', `field ${k}: expected up to ${maxLen} names`)
  return v.map((x) => {
    if (typeof x !== 'string' || x.length === 0 || x.length > MAX_NAME) throw new HandshakeError('bad_handshake', `field ${k}: bad item`)
    return x
  })
}

const HELLO_KEYS = ['node_id', 'ephemeral', 'supported_versions', 'preferred_version', 'capabilities', 'suites', 'listen_port', 'timestamp', 'nonce', 'max_frame'] as const
const ACK_KEYS = ['node_id', 'ephemeral', 'supported_versions', 'version', 'suite', 'capabilities', 'listen_port', 'timestamp', 'nonce', 'max_frame'] as const

export function encodeHello(h: Hello): Uint8Array {
  return encode({ ...h })
}

export function decodeHello(b: Uint8Array): Hello {
  const o = asMap(b, 'HELLO', HELLO_KEYS)
  return {
    node_id: bytes(o, 'node_id', 32),
    ephemeral: bytes(o, 'ephemeral', 32),
    supported_versions: uintList(o, 'supported_versions'),
    preferred_version: uint(o, 'preferred_version', 255),
    capabilities: textList(o, 'capabilities', MAX_CAPS, true),
    suites: textList(o, 'suites', MAX_LIST, false),
    listen_port: uint(o, 'listen_port', 65535),
    timestamp: uint(o, 'timestamp'),
    nonce: bytes(o, 'nonce', 32),
    max_frame: uint(o, 'max_frame', 0xffffffff),
  }
}

/** Encodes the ACK; without `signature` this is the signed core. */
export function encodeHelloAck(a: HelloAck): Uint8Array {
  const { signature, ...core } = a
  return encode(signature ? { ...core, signature } : { ...core })
}

export function decodeHelloAck(b: Uint8Array): HelloAck {
  const o = asMap(b, 'HELLO_ACK', [...ACK_KEYS, 'signature'])
  return {
    node_id: bytes(o, 'node_id', 32),
    ephemeral: bytes(o, 'ephemeral', 32),
    supported_versions: uintList(o, 'supported_versions'),
    version: uint(o, 'version', 255),
    suite: text(o, 'suite'),
    capabilities: textList(o, 'capabilities', MAX_CAPS, true),
    listen_port: uint(o, 'listen_port', 65535),
    timestamp: uint(o, 'timestamp'),
    nonce: bytes(o, 'nonce', 32),
    max_frame: uint(o, 'max_frame', 0xffffffff),
    signature: bytes(o, 'signature', 64),
  }
}

export function encodeVerify(v: Verify): Uint8Array { return encode({ signature: v.signature }) }

export function decodeVerify(b: Uint8Array): Verify {
  const o = asMap(b, 'VERIFY', ['signature'])
  return { signature: bytes(o, 'signature', 64) }
}
