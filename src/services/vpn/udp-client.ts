/**
 * The client node's end of one UDP association on an exit (VPN_UDP_ASSOCIATE accepted): sends the SOCKS client's
 * datagrams as VPN_UDP_DATA (r 0) and hands the exit's (r 1) to `onDatagram`. Datagrams are dropped, never queued
 * without bound: while the link is over its high-water mark new ones are dropped and counted (UDP may drop). Each
 * datagram's bytes are metered through `onBytes`, as the exit meters them.
 */
import type { Link } from '../../interfaces/link.js'
import { MessageType } from '../../wire/message-types.js'
import { Role } from './messages.js'
import { encodeUdpClose, encodeUdpData, MAX_DATAGRAM, type UdpData } from './udp-messages.js'

export interface UdpAssociationInit {
  link: Link
  assoc: number
  exit: string
  onDatagram: (host: string, port: number, data: Uint8Array) => void
  /** Called once when the association is gone (either side closed it, or the link did). */
  onClosed: (reason: string) => void
  onBytes: (n: number) => void
  onDone: () => void
}

export class UdpAssociation {
  readonly init: UdpAssociationInit
  #blocked = false
  #closed = false
  readonly counts = { sent: 0, received: 0, dropped: 0 }

  constructor(init: UdpAssociationInit) { this.init = init }

  get closed(): boolean { return this.#closed }

  /** Sends one datagram to `host:port` through the exit; false when it was dropped. */
  send(host: string, port: number, data: Uint8Array): boolean {
    const l = this.init.link
    if (this.#closed || l.closed || this.#blocked || data.length > MAX_DATAGRAM) { this.counts.dropped++; return false }
    this.counts.sent++
    this.init.onBytes(data.length)
    let ok: boolean
    try { ok = l.send(MessageType.VPN_UDP_DATA, encodeUdpData({ role: Role.client, assoc: this.init.assoc, host, port, data })) } catch { this.#end('send_failed', false); return false }
    if (!ok && !l.closed) {
      this.#blocked = true
      void l.whenWritable().then(() => { this.#blocked = false }, () => {})
    }
    return true
  }

  /** A VPN_UDP_DATA from the exit for this association. */
  deliver(m: UdpData): void {
    if (this.#closed) return
    this.counts.received++
    this.init.onBytes(m.data.length)
    this.init.onDatagram(m.host, m.port, m.data)
  }

  /** Ends the association; tells the exit unless it told us (or the link is gone). */
  close(reason: string): void { this.#end(reason, true) }
  /** The exit closed it (VPN_UDP_CLOSE r 1) or the link closed. */
  closedRemotely(reason: string): void { this.#end(reason, false) }

  #end(reason: string, tell: boolean): void {
    if (this.#closed) return
    this.#closed = true
    const l = this.init.link
    if (tell && !l.closed) {
      try { l.send(MessageType.VPN_UDP_CLOSE, encodeUdpClose({ role: Role.client, assoc: this.init.assoc, reason: reason.slice(0, 64) })) } catch { /* link gone */ }
    }
    this.init.onDone()
    this.init.onClosed(reason)
  }
}
