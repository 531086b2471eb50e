/** A routing-table entry: an identity proven by a handshake plus the address it was reached at. */
import type { Endpoint, RemotePeer } from '../interfaces/link.js'
import { toHex } from '../util/bytes.js'

export interface Contact {
  /** 32-byte Ed25519 public key (proven). */
  readonly nodeId: Uint8Array
  /** SHA-1(nodeId). */
  readonly dhtId: Uint8Array
  /** hex of dhtId, the map key everywhere. */
  readonly idHex: string
  /** Where the node can be dialed. */
  readonly addr: Endpoint
  /** v0 peer reached through the legacy bridge. */
  readonly legacy?: boolean
  /** Last time the node answered or sent us a valid DHT message (ms). */
  lastSeen: number
}

export function makeContact(nodeId: Uint8Array, dhtId: Uint8Array, addr: Endpoint, lastSeen = 0, legacy = false): Contact {
  return legacy ? { nodeId, dhtId, idHex: toHex(dhtId), addr, lastSeen, legacy } : { nodeId, dhtId, idHex: toHex(dhtId), addr, lastSeen }
}

/**
 * The contact the handshake proved for a link: its identity and the address it can be dialed at (the dialed
 * address for outbound links, the verified advertised listen address for inbound ones). Undefined when the peer
 * does not listen: such a peer is served but never enters the routing table.
 */
export function contactFromPeer(peer: RemotePeer, now: number): Contact | undefined {
  const addr = peer.outbound ? peer.listenAddr ?? peer.remoteAddr : peer.listenAddr
  if (!addr || addr.port === 0) return undefined
  return makeContact(peer.nodeId, peer.dhtId, { host: addr.host, port: addr.port }, now, peer.version === 0)
}
