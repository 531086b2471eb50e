/**
 * VPN_UDP_ASSOCIATE (0x33) / VPN_UDP_DATA (0x34) / VPN_UDP_CLOSE (0x35) bodies: SOCKS5 UDP ASSOCIATE (RFC 1928 §7)
 * carried over the session. Deterministic CBOR maps, decoded strictly like messages.ts (VpnWireError). Spec and
 * vectors: docs/protocol/vpn.md §UDP. Pure: no sockets, no timers.
 */
import { isIP } from 'node:net'
import { encode } from '../../wire/cbor.js'
import { MAX_REASON, MAX_STREAM_ID, validHost, VPN_WIRE_VERSION, VpnWireError, vpnMap as map, vpnRole, vpnText, vpnUint as uint, type RoleValue } from './messages.js'

/**
 * Largest datagram payload carried: the most one IPv4 UDP datagram holds (65535 - 20 IP - 8 UDP). The SOCKS side
 * adds its header (<= 262 bytes) on loopback, where datagrams up to 65535 bytes pass.
 */
export const MAX_DATAGRAM = 65_507

export interface UdpAssociate { assoc: number }
export interface UdpAssociateResult { assoc: number; rep: number; reason?: string }
/**
 * One datagram. From the client (r 0): `host`/`port` are the destination (an IP literal or a DNS name the exit
 * resolves). From the exit (r 1): the source the reply came from (always an IP literal).
 */
export interface UdpData { role: RoleValue; assoc: number; host: string; port: number; data: Uint8Array }
export interface UdpClose { role: RoleValue; assoc: number; reason?: string }

export function encodeUdpAssociate(m: UdpAssociate): Uint8Array {
  return encode({ v: VPN_WIRE_VERSION, a: m.assoc })
}

export function decodeUdpAssociate(body: Uint8Array): UdpAssociate {
  const o = map(body, ['v', 'a'], 16)
  return { assoc: uint(o, 'a', 1, MAX_STREAM_ID) }
}

export function encodeUdpAssociateResult(m: UdpAssociateResult): Uint8Array {
  return encode({ v: VPN_WIRE_VERSION, a: m.assoc, rep: m.rep, ...(m.reason !== undefined ? { why: m.reason.slice(0, MAX_REASON) } : {}) })
}

export function decodeUdpAssociateResult(body: Uint8Array): UdpAssociateResult {
  const o = map(body, ['v', 'a', 'rep', 'why'], MAX_REASON)
  const reason = vpnText(o, 'why')
  return { assoc: uint(o, 'a', 1, MAX_STREAM_ID), rep: uint(o, 'rep', 0, 8), ...(reason !== undefined ? { reason } : {}) }
}

export function encodeUdpData(m: UdpData): Uint8Array {
  return encode({ v: VPN_WIRE_VERSION, r: m.role, a: m.assoc, host: m.host, port: m.port, d: m.data })
}

export function decodeUdpData(body: Uint8Array): UdpData {
  const o = map(body, ['v', 'r', 'a', 'host', 'port', 'd'], MAX_DATAGRAM)
  const role = vpnRole(o)
  const host = o.host
  // a reply's source is what the exit's socket reported: an address, never a name
  if (typeof host !== 'string' || !validHost(host) || (role === 1 && isIP(host) === 0)) {
    throw new VpnWireError('vpn_host', role === 1 ? 'a reply source must be an IP literal' : 'host must be an IP literal or a DNS name of <= 253 chars')
  }
  const d = o.d
  if (!(d instanceof Uint8Array)) throw new VpnWireError('vpn_shape', `d must be 0..${MAX_DATAGRAM} bytes`)
  return { role, assoc: uint(o, 'a', 1, MAX_STREAM_ID), host, port: uint(o, 'port', 1, 65535), data: d }
}

export function encodeUdpClose(m: UdpClose): Uint8Array {
  return encode({ v: VPN_WIRE_VERSION, r: m.role, a: m.assoc, ...(m.reason !== undefined ? { why: m.reason.slice(0, MAX_REASON) } : {}) })
}

export function decodeUdpClose(body: Uint8Array): UdpClose {
  const o = map(body, ['v', 'r', 'a', 'why'], MAX_REASON)
  const reason = vpnText(o, 'why')
  return { role: vpnRole(o), assoc: uint(o, 'a', 1, MAX_STREAM_ID), ...(reason !== undefined ? { reason } : {}) }
}
