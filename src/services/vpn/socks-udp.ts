/**
 * The SOCKS5 UDP request header (RFC 1928 §7): RSV(2) = 0, FRAG(1), ATYP(1), DST.ADDR, DST.PORT(2), DATA.
 * Pure parser and builder. Fragmentation is not implemented (the RFC allows that): FRAG != 0 is refused, and so is
 * anything short, a non-zero RSV, an unknown ATYP, an empty or invalid name, port 0, or data over MAX_DATAGRAM.
 */
import { isIP } from 'node:net'
import { formatIp, parseIp } from './ip.js'
import { validHost } from './messages.js'
import { MAX_DATAGRAM } from './udp-messages.js'

export interface SocksDatagram { host: string; port: number; data: Uint8Array }

/** Why a datagram from the SOCKS client was dropped (the relay counts these). */
export type UdpDrop = 'short' | 'rsv' | 'frag' | 'atyp' | 'host' | 'port' | 'oversize'

export class UdpHeaderError extends Error {
  override readonly name = 'UdpHeaderError'
  constructor(readonly drop: UdpDrop, message: string) { super(message) }
}

export function parseUdpRequest(b: Uint8Array): SocksDatagram {
  if (b.length < 4) throw new UdpHeaderError('short', `datagram of ${b.length} bytes is shorter than a SOCKS UDP header`)
  if (b[0] !== 0 || b[1] !== 0) throw new UdpHeaderError('rsv', 'RSV must be 0')
  if (b[2] !== 0) throw new UdpHeaderError('frag', `FRAG ${b[2]}: fragmented datagrams are not supported`)
  const atyp = b[3]!
  let host: string
  let at: number
  if (atyp === 1) {
    if (b.length < 10) throw new UdpHeaderError('short', 'IPv4 header cut short')
    host = `${b[4]}.${b[5]}.${b[6]}.${b[7]}`
    at = 8
  } else if (atyp === 4) {
    if (b.length < 22) throw new UdpHeaderError('short', 'IPv6 header cut short')
    host = formatIp(b.slice(4, 20))
    at = 20
  } else if (atyp === 3) {
    if (b.length < 5) throw new UdpHeaderError('short', 'domain header cut short')
    const n = b[4]!
    if (b.length < 5 + n + 2) throw new UdpHeaderError('short', 'domain header cut short')
    host = Buffer.from(b.subarray(5, 5 + n)).toString('latin1')
    if (n === 0 || !validHost(host)) throw new UdpHeaderError('host', 'empty or invalid domain name')
    at = 5 + n
  } else {
    throw new UdpHeaderError('atyp', `address type ${atyp} not supported`)
  }
  const port = (b[at]! << 8) | b[at + 1]!
  if (port === 0) throw new UdpHeaderError('port', 'destination port 0')
  const data = b.subarray(at + 2)
  if (data.length > MAX_DATAGRAM) throw new UdpHeaderError('oversize', `datagram data of ${data.length} bytes is over ${MAX_DATAGRAM}`)
  return { host, port, data }
}

/** The header for a reply from `ip:port` (an IP literal) followed by `data`, as one buffer to send. */
export function buildUdpReply(ip: string, port: number, data: Uint8Array): Buffer {
  const v4 = isIP(ip) === 4
  const addr = v4 ? Buffer.from(ip.split('.').map(Number)) : Buffer.from(parseIp(ip) ?? new Uint8Array(16))
  const out = Buffer.allocUnsafe(4 + addr.length + 2 + data.length)
  out[0] = 0; out[1] = 0; out[2] = 0; out[3] = v4 ? 1 : 4
  addr.copy(out, 4)
  out.writeUInt16BE(port, 4 + addr.length)
  out.set(data, 6 + addr.length)
  return out
}
