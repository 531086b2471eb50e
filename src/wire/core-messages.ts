/**
 * Core message bodies (docs/protocol.md §5): PING 0x01, PONG 0x02, DISCOVER 0x03, PEER_LIST 0x04. Deterministic CBOR,
 * strict decoding with bounded sizes, declared once on src/wire/schema.ts.
 */
import { bytes, decodeWith, list, message, struct, text, uint, type SchemaError } from './schema.js'
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

const ping = message('PING', struct({ timestamp: uint() }))
const pong = message('PONG', struct({ timestamp: uint() }))
const discover = message('DISCOVER', struct({ max: uint(MAX_PEER_LIST) }))
const peerEntry = struct({ node_id: bytes(32), host: text(1, MAX_HOST), port: uint(65535) })
const peerList = message('PEER_LIST', struct({ peers: list(peerEntry, MAX_PEER_LIST) }))

const sendable = (p: PeerEntry): boolean => { try { peerEntry.write(p, 'peer'); return true } catch { return false } }

const toCore = (e: SchemaError): CoreMessageError => new CoreMessageError(e.message, { cause: e })

export const encodePing = (p: Ping): Uint8Array => ping.encode({ timestamp: p.timestamp })
export const decodePing = (b: Uint8Array): Ping => decodeWith(ping, b, toCore)
export const encodePong = (p: Pong): Uint8Array => pong.encode({ timestamp: p.timestamp })
export const decodePong = (b: Uint8Array): Pong => decodeWith(pong, b, toCore)
export const encodeDiscover = (d: Discover): Uint8Array => discover.encode({ max: d.max })
export const decodeDiscover = (b: Uint8Array): Discover => decodeWith(discover, b, toCore)

/** Entries a peer would refuse (an overlong host name, say) are left out rather than failing the whole answer. */
export function encodePeerList(l: PeerList): Uint8Array {
  return peerList.encode({ peers: l.peers.filter(sendable).slice(0, MAX_PEER_LIST).map((p) => ({ node_id: p.node_id, host: p.host, port: p.port })) })
}

export const decodePeerList = (b: Uint8Array): PeerList => decodeWith(peerList, b, toCore)
