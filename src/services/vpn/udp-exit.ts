/**
 * The exit side of UDP ASSOCIATE: one association per VPN_UDP_ASSOCIATE, each with its own UDP sockets (IPv4 and
 * IPv6, bound to an ephemeral port on the node, opened on first use). A client datagram goes to its destination
 * only when the exit policy allows it: every datagram's destination is checked, a name is resolved by the exit and
 * the literal it resolved to is checked and used (a short per-association cache holds the verdict, never an
 * unchecked address). Replies are relayed only from addresses this association sent to (address-and-port
 * filtering, as a NAT does), so the socket is no open receiver. Bounded: associations per client and in total,
 * names cached, peers remembered, resolutions pending; a datagram that would exceed a bound, or arrives while the
 * link is over its high-water mark, is dropped (UDP may drop) and counted. Bytes are metered per datagram.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { isIP } from 'node:net'
import type { Inbound, Link } from '../../interfaces/link.js'
import type { Logger } from '../../interfaces/logger.js'
import { silentLogger } from '../../interfaces/logger.js'
import type { UsageMeter } from '../../interfaces/services.js'
import { ZeoneError } from '../../util/errors.js'
import { safeErrorText } from '../../wire/error-codes.js'
import { MessageType } from '../../wire/message-types.js'
import { formatIp, parseIp } from './ip.js'
import { Rep, Role } from './messages.js'
import type { ExitPolicy } from './policy.js'
import { decodeUdpAssociate, encodeUdpAssociateResult, encodeUdpClose, encodeUdpData, MAX_DATAGRAM, type UdpClose, type UdpData } from './udp-messages.js'

const METER_STEP = 1 << 20
const MAX_NAMES = 64
const NAME_TTL_MS = 30_000
const MAX_PEERS = 1024
const MAX_RESOLVING = 8

export interface UdpExitLimits {
  /** @default 256 */
  maxAssociations: number
  /** @default 8 */
  maxAssociationsPerClient: number
  /** An association with no datagram either way for this long is closed. @default 120000 */
  idleTimeoutMs: number
}

export interface UdpExitInit {
  policy: ExitPolicy
  limits: UdpExitLimits
  resolve: (host: string) => Promise<string[]>
  selfAddresses?: () => Iterable<string>
  usage?: () => UsageMeter | undefined
  logger?: Logger
  /** Opens a UDP socket. @default dgram.createSocket */
  socket?: (type: 'udp4' | 'udp6') => UdpSocket
  now?: () => number
}

/** A name's resolved addresses (normalised literals), not yet checked: every datagram checks the one it uses. */
interface Resolved { addrs: string[]; at: number }

interface Assoc {
  id: number
  link: Link
  client: string
  socks: Partial<Record<'udp4' | 'udp6', UdpSocket>>
  peers: Set<string>
  names: Map<string, Resolved>
  resolving: number
  unmetered: number
  idle: NodeJS.Timeout | undefined
  last: number
  blocked: boolean
}

export class UdpExit {
  readonly init: UdpExitInit
  #log: Logger
  #now: () => number
  #assocs = new Map<Link, Map<number, Assoc>>()
  #watched = new WeakSet<Link>()
  #perClient = new Map<string, number>()
  #total = 0
  #served = new Map<string, bigint>()
  #stopped = false
  readonly counts = { opened: 0, sent: 0, received: 0, dropped: new Map<string, number>(), refused: new Map<string, number>() }

  constructor(init: UdpExitInit) {
    this.init = init
    this.#log = init.logger ?? silentLogger
    this.#now = init.now ?? Date.now
  }

  get associations(): number { return this.#total }
  /** Datagram bytes metered as served to a client (recorded + not yet recorded). */
  carriedFor(clientB64: string): bigint {
    let n = this.#served.get(clientB64) ?? 0n
    for (const t of this.#assocs.values()) for (const a of t.values()) if (a.client === clientB64) n += BigInt(a.unmetered)
    return n
  }

  /** The VPN_UDP_ASSOCIATE handler. */
  handleAssociate = (msg: Inbound): void => {
    const req = decodeUdpAssociate(msg.body)
    const link = msg.link
    const key = link.peer.nodeIdB64
    const answer = (rep: number, reason?: string): void => {
      msg.reply?.(MessageType.VPN_UDP_ASSOCIATE, encodeUdpAssociateResult({ assoc: req.assoc, rep, ...(reason !== undefined ? { reason } : {}) }))
    }
    const refuse = (rep: number, code: string, why: string): void => {
      this.counts.refused.set(code, (this.counts.refused.get(code) ?? 0) + 1)
      this.#log.info({ peer: key, code, reason: why }, 'vpn exit refused a UDP association')
      answer(rep, `${code}: ${safeErrorText(why)}`)
    }
    if (this.#stopped) return refuse(Rep.general, 'stopping', 'exit is stopping')
    try { this.init.usage?.()?.authorize(link.peer.nodeId, 'vpn') } catch (err) {
      return refuse(Rep.notAllowed, err instanceof ZeoneError ? err.code : 'refused', (err as Error).message)
    }
    if (this.#assocs.get(link)?.has(req.assoc)) return refuse(Rep.general, 'stream_in_use', `association ${req.assoc} is already open`)
    const mine = this.#perClient.get(key) ?? 0
    if (mine >= this.init.limits.maxAssociationsPerClient) return refuse(Rep.general, 'client_udp', `client has ${mine} UDP associations (limit ${this.init.limits.maxAssociationsPerClient})`)
    if (this.#total >= this.init.limits.maxAssociations) return refuse(Rep.general, 'exit_udp', `exit has ${this.#total} UDP associations (limit ${this.init.limits.maxAssociations})`)
    let table = this.#assocs.get(link)
    if (!table) { table = new Map(); this.#assocs.set(link, table) }
    // one close listener per link, however often its table empties and comes back
    if (!this.#watched.has(link)) {
      this.#watched.add(link)
      link.onClose(() => { for (const a of [...(this.#assocs.get(link)?.values() ?? [])]) this.#close(a, 'link_closed', false) })
    }
    const a: Assoc = { id: req.assoc, link, client: key, socks: {}, peers: new Set(), names: new Map(), resolving: 0, unmetered: 0, idle: undefined, last: this.#now(), blocked: false }
    table.set(a.id, a)
    this.#perClient.set(key, mine + 1)
    this.#total++
    this.counts.opened++
    this.#touch(a)
    answer(Rep.succeeded)
  }

  #drop(why: string): void { this.counts.dropped.set(why, (this.counts.dropped.get(why) ?? 0) + 1) }

  #touch(a: Assoc): void {
    a.last = this.#now()
    if (a.idle) return
    const arm = (ms: number): void => {
      a.idle = setTimeout(() => {
        a.idle = undefined
        const left = a.last + this.init.limits.idleTimeoutMs - this.#now()
        if (left > 0) arm(left)
        else this.#close(a, 'idle_timeout', true)
      }, ms)
      a.idle.unref()
    }
    arm(this.init.limits.idleTimeoutMs)
  }

  /** A client datagram (VPN_UDP_DATA r 0). */
  onData(link: Link, m: UdpData): void {
    const a = this.#assocs.get(link)?.get(m.assoc)
    if (!a) { this.#drop('unknown_association'); return }
    this.#carried(a, m.data.length)
    this.#touch(a)
    const ip = parseIp(m.host)
    if (ip) { this.#sendFirst(a, [formatIp(ip)], m.port, m.data); return }
    const name = m.host.toLowerCase()
    const cached = a.names.get(name)
    if (cached && this.#now() - cached.at < NAME_TTL_MS) { this.#sendFirst(a, cached.addrs, m.port, m.data); return }
    if (a.resolving >= MAX_RESOLVING) { this.#drop('resolving'); return }
    a.resolving++
    this.init.resolve(m.host).then((addrs) => {
      a.resolving--
      const list: string[] = []
      for (const s of addrs.slice(0, 16)) { const p = parseIp(s); if (p) list.push(formatIp(p)) }
      if (a.names.size >= MAX_NAMES) a.names.delete(a.names.keys().next().value!)
      a.names.set(name, { addrs: list, at: this.#now() })
      this.#sendFirst(a, list, m.port, m.data)
    }, () => { a.resolving--; this.#drop('resolve_failed') })
  }

  /** Sends to the first of a name's addresses the policy allows for this port (each checked now). */
  #sendFirst(a: Assoc, addrs: readonly string[], port: number, data: Uint8Array): void {
    const why: string[] = []
    for (const ip of addrs) {
      const r = this.#check(ip, port)
      if (r === undefined) { this.#sendChecked(a, ip, port, data); return }
      why.push(r)
    }
    this.#refused(why.join('; ') || 'no address')
  }

  #refused(why: string): void {
    this.#drop('policy')
    this.#log.debug({ reason: why }, 'vpn exit dropped a UDP datagram')
  }

  /** Why `ip:port` may not be sent to, or undefined when it may. */
  #check(ip: string, port: number): string | undefined {
    for (const s of this.init.selfAddresses?.() ?? []) {
      const p = parseIp(s)
      if (p && formatIp(p) === ip) return `${ip} is this node's own address`
    }
    const v = this.init.policy.checkIp(parseIp(ip)!, port)
    return v.ok ? undefined : v.reason
  }

  /** Sends to a literal; every path here checked it against the policy first. */
  #sendChecked(a: Assoc, ip: string, port: number, data: Uint8Array): void {
    if (this.#closedAssoc(a)) return
    const type = isIP(ip) === 4 ? 'udp4' : 'udp6'
    const sock = a.socks[type] ?? this.#open(a, type)
    const peer = `${ip}|${port}`
    a.peers.delete(peer)
    if (a.peers.size >= MAX_PEERS) a.peers.delete(a.peers.values().next().value!)
    a.peers.add(peer)
    this.counts.sent++
    sock.send(data, port, ip, (err) => { if (err) this.#drop('send_failed') })
  }

  #closedAssoc(a: Assoc): boolean { return this.#assocs.get(a.link)?.get(a.id) !== a }

  #open(a: Assoc, type: 'udp4' | 'udp6'): UdpSocket {
    const s = this.init.socket ? this.init.socket(type) : createSocket({ type, ipv6Only: type === 'udp6' })
    a.socks[type] = s
    s.on('error', (err) => { this.#log.debug({ err: err.message }, 'vpn exit UDP socket error') })
    s.on('message', (msg, rinfo) => this.#onReply(a, msg, rinfo.address, rinfo.port))
    return s
  }

  #onReply(a: Assoc, msg: Buffer, from: string, port: number): void {
    if (this.#closedAssoc(a)) return
    const ip = parseIp(from)
    const src = ip ? formatIp(ip) : ''
    if (!a.peers.has(`${src}|${port}`)) { this.#drop('unsolicited'); return }
    if (msg.length > MAX_DATAGRAM || port === 0) { this.#drop('oversize'); return }
    if (a.link.closed) return
    if (a.blocked) { this.#drop('link_busy'); return }
    this.#touch(a)
    this.counts.received++
    this.#carried(a, msg.length)
    const ok = a.link.send(MessageType.VPN_UDP_DATA, encodeUdpData({ role: Role.exit, assoc: a.id, host: src, port, data: msg }))
    if (!ok) {
      a.blocked = true
      void a.link.whenWritable().then(() => { a.blocked = false }, () => {})
    }
  }

  #carried(a: Assoc, n: number): void {
    a.unmetered += n
    if (a.unmetered >= METER_STEP) this.#meter(a)
  }

  #meter(a: Assoc): void {
    const n = a.unmetered
    if (n === 0) return
    a.unmetered = 0
    const prev = this.#served.get(a.client) ?? 0n
    this.#served.delete(a.client)
    if (this.#served.size >= 4096) this.#served.delete(this.#served.keys().next().value!)
    this.#served.set(a.client, prev + BigInt(n))
    try { this.init.usage?.()?.record(a.link.peer.nodeId, 'vpn', BigInt(n), 'served') } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'vpn usage record failed')
    }
  }

  /** VPN_UDP_CLOSE from the client. */
  onClose(link: Link, m: UdpClose): void {
    const a = this.#assocs.get(link)?.get(m.assoc)
    if (a) this.#close(a, m.reason ?? 'client_closed', false)
  }

  #close(a: Assoc, reason: string, tell: boolean): void {
    const t = this.#assocs.get(a.link)
    if (t?.get(a.id) !== a) return
    t.delete(a.id)
    if (t.size === 0) this.#assocs.delete(a.link)
    const n = (this.#perClient.get(a.client) ?? 1) - 1
    if (n <= 0) this.#perClient.delete(a.client); else this.#perClient.set(a.client, n)
    this.#total--
    if (a.idle) clearTimeout(a.idle)
    for (const s of Object.values(a.socks)) { try { s.close() } catch { /* closed */ } }
    this.#meter(a)
    if (tell && !a.link.closed) {
      try { a.link.send(MessageType.VPN_UDP_CLOSE, encodeUdpClose({ role: Role.exit, assoc: a.id, reason })) } catch { /* link gone */ }
    }
  }

  stop(): void {
    this.#stopped = true
    for (const t of [...this.#assocs.values()]) for (const a of [...t.values()]) this.#close(a, 'exit_stopping', true)
  }
}
