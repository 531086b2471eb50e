/**
 * SOCKS5 UDP ASSOCIATE on the client node (RFC 1928 §7): a UDP relay socket on the SOCKS listener's address,
 * tied to the TCP control connection that asked for it. Datagrams are taken only from the control connection's
 * address (and the port it named, or else the port of the first datagram: then that port only); each is parsed
 * (socks-udp.ts; FRAG != 0, short or oversized ones dropped) and sent over the session to the exit, whose replies
 * come back with a SOCKS header naming their source. The association ends when the control connection closes, the
 * exit ends it, or the session closes; then the relay socket is closed.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { isIPv6, type Socket } from 'node:net'
import type { Logger } from '../../interfaces/logger.js'
import type { VpnClient } from './client.js'
import { formatIp, parseIp } from './ip.js'
import { Rep } from './messages.js'
import { replyBound, type SocksRequest } from './socks.js'
import { buildUdpReply, parseUdpRequest, UdpHeaderError } from './socks-udp.js'
import type { UdpAssociation } from './udp-client.js'

/** Counts of what every relay dropped, by reason (one object shared by a SOCKS server's relays). */
export type RelayDrops = Map<string, number>

const norm = (a: string | undefined): string => { const p = a ? parseIp(a) : undefined; return p ? formatIp(p) : '' }
const unspecified = (h: string): boolean => { const p = parseIp(h); return !!p && formatIp(p) === formatIp(parseIp(isIPv6(h) ? '::' : '0.0.0.0')!) }

/**
 * Serves one UDP ASSOCIATE on `control` (the handshake done, no reply written yet). Resolves with the SOCKS reply
 * code written; the relay then lives until the control connection closes.
 */
export async function serveUdpAssociate(control: Socket, req: SocksRequest, client: VpnClient, drops: RelayDrops, log: Logger): Promise<number> {
  const drop = (why: string): void => { drops.set(why, (drops.get(why) ?? 0) + 1) }
  const bindHost = control.localAddress ?? '127.0.0.1'
  // a dual-stack listener ('::') gets a dual-stack relay: IPv4 clients then send from ::ffff:a.b.c.d
  const relay: UdpSocket = createSocket({ type: isIPv6(bindHost) ? 'udp6' : 'udp4', ipv6Only: false })
  relay.on('error', (err) => log.debug({ err: err.message }, 'socks UDP relay error'))
  await new Promise<void>((resolve, reject) => { relay.once('error', reject); relay.bind(0, bindHost, () => { relay.off('error', reject); resolve() }) })
  // the client's address: its control connection's; the port it named (0 = learnt from its first datagram)
  const clientIp = norm(control.remoteAddress)
  const namedIp = req.host && !unspecified(req.host) ? norm(req.host) : ''
  let clientPort = req.port
  /** Where replies go: the address the client's datagrams came from (as the relay socket saw it). */
  let clientAddr: string | undefined
  let closed = false
  let assoc: UdpAssociation | undefined
  const end = (why: string, closeControl = true): void => {
    if (closed) return
    closed = true
    try { relay.close() } catch { /* closed */ }
    assoc?.close(why)
    if (closeControl && !control.destroyed) control.destroy()
  }
  control.on('close', () => end('control_closed'))
  control.on('end', () => end('control_closed'))
  // RFC 1928 §7: nothing more travels on the control connection; bytes there are read and ignored
  control.on('data', () => {})
  const out = await client.openUdp((host, port, data) => {
    if (closed || clientAddr === undefined) { drop('no_client_yet'); return }
    relay.send(buildUdpReply(host, port, data), clientPort, clientAddr, (err) => { if (err) drop('send_failed') })
  }, (why) => { log.debug({ why }, 'socks UDP association ended'); end(why) })
  if (out.rep !== Rep.succeeded || !out.assoc) {
    log.info({ rep: out.rep, exit: out.exit, reason: out.reason }, 'vpn UDP association refused')
    end('refused', false)
    return out.rep
  }
  assoc = out.assoc
  if (closed || control.destroyed) { assoc.close('control_closed'); end('control_closed'); return Rep.general }
  relay.on('message', (msg, rinfo) => {
    if (closed) return
    if (norm(rinfo.address) !== clientIp || (namedIp && norm(rinfo.address) !== namedIp)) { drop('wrong_source'); return }
    if (clientPort === 0) clientPort = rinfo.port
    else if (rinfo.port !== clientPort) { drop('wrong_source'); return }
    clientAddr ??= rinfo.address
    let d
    try { d = parseUdpRequest(msg) } catch (err) { drop(err instanceof UdpHeaderError ? err.drop : 'bad_header'); return }
    if (!assoc!.send(d.host, d.port, d.data)) drop('link_busy')
  })
  const a = relay.address()
  control.write(replyBound(Rep.succeeded, a.address, a.port))
  control.resume()
  return Rep.succeeded
}
