/**
 * One link per peer: the RemotePeer of a link reads its address, direction and route from whichever connection
 * carries the link now, and the simultaneous-dial tie-break decides which connection that is.
 */
import { dhtIdOf } from '../crypto/identity.js'
import type { RemotePeer } from '../interfaces/link.js'
import { compareBytes, toB64 } from '../util/bytes.js'
import type { Connection } from './connection.js'

/** The connection that carries a link now; replaced when a fresh connection wins the tie-break. */
export interface Carrier { conn: Connection }

/** A peer view that follows `carrier`: after a switch it names the surviving connection's address and direction. */
export function livePeer(carrier: Carrier): RemotePeer {
  const first = carrier.conn.session!
  const nodeId = first.remoteNodeId
  const capabilities = new Set(first.remoteCapabilities)
  return {
    nodeId, nodeIdB64: toB64(nodeId), dhtId: dhtIdOf(nodeId), version: first.version, capabilities,
    get remoteAddr() { return carrier.conn.opts.remoteAddr },
    get outbound() { return carrier.conn.opts.outbound },
    get listenAddr() { return listenAddrOf(carrier.conn) },
    get route() { return carrier.conn.adapter.route }, // live: a relayed link that moved to a direct path says so
  }
}

/** Where the peer of `conn` can be dialed: the address we dialed, or its advertised port at the source IP. */
export function listenAddrOf(conn: Connection): RemotePeer['listenAddr'] {
  const remote = conn.opts.remoteAddr
  if (conn.opts.outbound) return remote
  const port = conn.session?.remoteListenPort ?? 0
  return port > 0 ? { host: remote.host, port } : undefined
}

/**
 * Whether a fresh connection to a peer replaces the one carrying its link. Opposite directions (both sides dialed
 * at once): both ends keep the connection dialed by the smaller node id, so they agree without a message. Same
 * direction (the peer reconnected, e.g. after its old connection went half-dead): the fresh one.
 */
export function keepFresh(self: Uint8Array, peer: Uint8Array, currentOutbound: boolean, freshOutbound: boolean): boolean {
  if (currentOutbound === freshOutbound) return true
  const weAreSmaller = compareBytes(self, peer) < 0
  return weAreSmaller ? freshOutbound : !freshOutbound
}
