/**
 * Core message bodies (docs/protocol.md §5): PING 0x01, PONG 0x02, DISCOVER 0x03, PEER_LIST 0x04. Deterministic CBOR,
 * strict decoding with bounded sizes.
 */
import { decode, encode, type CborValue } from './cbor.js'
import { ProtocolErrorBase } from './errors.js'

export const MAX_PEER_LIST = 256
const MAX_HOST = 253

export class CoreMessageError extends ProtocolErrorBase {
  override readonly name = 'CoreMessageError'
  constructor(message: string, options?: { cause?: unknown }) { super('bad_message', message, options) }
}

export interface Ping { timestamp: number }
export interface Pong { timestamp: number }
export interface Discover { max: number }
export interface PeerEntry { node_id: Uint8Array; host: string; port: number }
export interface PeerList { peers: PeerEntry[] }

type Obj = Record<string, CborValue>

function map(b: Uint8Array, what: string, keys: readonly string[]): Obj {
  let v: CborValue
  try {
    v = decode(b, { maxDepth: 4, maxItems: MAX_PEER_LIST, maxStringBytes: MAX_HOST })
  } catch (err) {
    throw new CoreMessageError(`${what}: invalid CBOR`, { cause: err })
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || v instanceof Map) throw new CoreMessageError(`${what}: not a map`)
  const o = v as Obj
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw new CoreMessageError(`${what}: unknown field ${k}`)
  for (const k of keys) if (!(k in o)) throw new CoreMessageError(`${what}: missing field ${k}`)
  return o
}

function uint(v: CborValue, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw new CoreMessageError(`${what}: expected an unsigned integer`)
  return v
}

export const encodePing = (p: Ping): Uint8Array => encode({ timestamp: p.timestamp })
export const decodePing = (b: Uint8Array): Ping => ({ timestamp: uint(map(b, 'PING', ['timestamp']).timestamp!, 'PING.timestamp') })
export const encodePong = (p: Pong): Uint8Array => encode({ timestamp: p.timestamp })
export const decodePong = (b: Uint8Array): Pong => ({ timestamp: uint(map(b, 'PONG', ['timestamp']).timestamp!, 'PONG.timestamp') })
export const encodeDiscover = (d: Discover): Uint8Array => encode({ max: d.max })
export const decodeDiscover = (b: Uint8Array): Discover => ({ max: uint(map(b, 'DISCOVER', ['max']).max!, 'DISCOVER.max', MAX_PEER_LIST) })

export function encodePeerList(l: PeerList): Uint8Array {
  return encode({ peers: l.peers.slice(0, MAX_PEER_LIST).map((p) => ({ node_id: p.node_id, host: p.host, port: p.port })) })
}

export function decodePeerList(b: Uint8Array): PeerList {
  const o = map(b, 'PEER_LIST', ['peers'])
  const arr = o.peers
  if (!Array.isArray(arr) || arr.length > MAX_PEER_LIST) throw new CoreMessageError('PEER_LIST.peers: expected a list')
  return {
    peers: arr.map((e) => {
      if (e === null || typeof e !== 'object' || Array.isArray(e) || e instanceof Uint8Array || e instanceof Map) throw new CoreMessageError('PEER_LIST entry: not a map')
      const p = e as Obj
      const keys = Object.keys(p)
      if (keys.length !== 3 || !(p.node_id instanceof Uint8Array) || p.node_id.byteLength !== 32) throw new CoreMessageError('PEER_LIST entry: bad node_id')
      if (typeof p.host !== 'string' || p.host.length === 0 || p.host.length > MAX_HOST) throw new CoreMessageError('PEER_LIST entry: bad host')
      return { node_id: p.node_id, host: p.host, port: uint(p.port!, 'PEER_LIST.port', 65535) }
    }),
  }
}
