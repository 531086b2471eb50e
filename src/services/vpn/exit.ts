/**
 * The exit side of the VPN service: answers VPN_CONNECT by resolving the destination itself, checking every resolved
 * address against the exit policy (and the node's own public addresses), connecting from the node to the checked
 * literal, and bridging the socket to the client's link through a Pipe. Limits: streams per client and in total,
 * bytes/s per client and in total, connect and idle timeouts. Every refusal is a SOCKS reply code with a reason,
 * logged. Carried bytes are metered with the usage meter as service `vpn` ('served'), the same count the client
 * records as 'consumed'. Nothing carried is stored.
 * Why this file is long: admission, limits, metering and the stream table all work on the one per-client table.
 */
import { safeErrorText } from '../../wire/error-codes.js'
import { lookup } from 'node:dns/promises'
import { connect as netConnect, type Socket } from 'node:net'
import type { Inbound, Link } from '../../interfaces/link.js'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import type { Logger } from '../../interfaces/logger.js'
import type { NodeTracer } from '../../interfaces/tracing.js'
import { silentLogger } from '../../interfaces/logger.js'
import type { UsageMeter } from '../../interfaces/services.js'
import { toB64 } from '../../util/bytes.js'
import { ZeoneError } from '../../util/errors.js'
import { MessageType } from '../../wire/message-types.js'
import { formatIp, parseIp, type Ip16 } from './ip.js'
import { decodeConnect, encodeConnectResult, Rep, Role, type VpnClose, type VpnData } from './messages.js'
import { SlabPool } from '../../transport/slab-pool.js'
import { Pipe, READ_POOL_BYTES, WindowBudget, type SetTimer } from './pipe.js'
import type { ExitPolicy } from './policy.js'
import { Pacer } from './rate.js'

export const VPN_SERVICE = 'vpn'
/** Usage is recorded (and the debt limit re-checked) every this many carried bytes, and when a stream ends. */
const METER_STEP = 1 << 20
const MAX_TOTALS = 4096

export interface ExitLimits {
  /** @default 1024 */
  maxStreams: number
  /** @default 128 */
  maxStreamsPerClient: number
  /** Total bytes/s over all clients (0 = unlimited). @default 0 */
  bytesPerSec: number
  /** Bytes/s per client (0 = unlimited). @default 0 */
  bytesPerSecPerClient: number
  /** @default 10000 */
  connectTimeoutMs: number
  /** @default 300000 */
  idleTimeoutMs: number
  /** Window granted to a client per stream. @default 524288 */
  window: number
  /** Growth bound per stream. @default window */
  maxWindow?: number
  /** Growth bound of all streams together. @default 64 MiB */
  windowBudget?: number
}

export interface VpnExitInit {
  policy: ExitPolicy
  limits: ExitLimits
  /** Resolves a name to addresses (all of them). @default dns.lookup(all) */
  resolve?: (host: string) => Promise<string[]>
  /** Opens the outgoing TCP connection. @default net.connect */
  connect?: (host: string, port: number) => Socket
  /** The node's own public addresses (refused as destinations: they reach the node's own services). */
  selfAddresses?: () => Iterable<string>
  usage?: () => UsageMeter | undefined
  logger?: Logger
  /** Clock of the bandwidth limits (ms). @default Date.now */
  now?: () => number
  /** Timer of the bandwidth limits' waits. @default setTimeout */
  setTimer?: SetTimer
  tracer?: NodeTracer
}

interface Client { key: string; nodeId: Uint8Array; streams: number; pacer: Pacer; unmetered: number }

export class ExitRefusal extends ZeoneError {
  override readonly name = 'ExitRefusal'
  constructor(readonly rep: number, code: string, message: string) { super(code, message) }
}

const defaultResolve = async (host: string): Promise<string[]> => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address)

export class VpnExit {
  readonly init: VpnExitInit
  #log: Logger
  #now: () => number
  #streams = new Map<Link, Map<number, Pipe>>()
  readonly #watched = new WeakSet<Link>()
  #clients = new Map<string, Client>()
  #total = 0
  /** Bytes metered per client (for the operator view and tests), at most MAX_TOTALS clients. */
  #carriedTotals = new Map<string, bigint>()
  #pacer: Pacer
  #budget: WindowBudget
  /** Read slabs of this service's pipes (freed on stop; not shared with other nodes of the process). */
  readonly #readPool = new SlabPool(READ_POOL_BYTES)
  #stopped = false
  readonly counts = { opened: 0, refused: new Map<string, number>() }

  constructor(init: VpnExitInit) {
    this.init = init
    this.#log = init.logger ?? silentLogger
    this.#now = init.now ?? Date.now
    this.#budget = new WindowBudget(init.limits.windowBudget ?? 64 << 20)
    this.#pacer = new Pacer(init.limits.bytesPerSec, Math.max(init.limits.bytesPerSec, 256 * 1024), this.#now())
  }

  get streams(): number { return this.#total }
  /** The resolver the exit uses (shared with UDP associations). */
  get resolve(): (host: string) => Promise<string[]> {
    const r = this.init.resolve ?? defaultResolve
    const ms = this.init.limits.connectTimeoutMs
    return (host) => withTimeout(r(host), ms)
  }
  /** Bytes metered as served to a client so far (recorded + not yet recorded). */
  carriedFor(nodeId: Uint8Array): bigint {
    const k = toB64(nodeId)
    return (this.#carriedTotals.get(k) ?? 0n) + BigInt(this.#clients.get(k)?.unmetered ?? 0)
  }

  /** The VPN_CONNECT handler. */
  handleConnect = async (msg: Inbound): Promise<void> => {
    const req = decodeConnect(msg.body)
    const link = msg.link
    const answer = (rep: number, window: number, reason?: string): void => {
      const body = encodeConnectResult({ stream: req.stream, rep, window, ...(reason !== undefined ? { reason } : {}) })
      if (msg.reply) msg.reply(MessageType.VPN_CONNECT, body)
    }
    // a traced VPN_CONNECT gets a server span (never the destination's name: only the port) and a stream span
    const span = this.init.tracer && msg.trace ? this.init.tracer.start('vpn.exit.connect', {
      parent: msg.trace, kind: SpanKind.SERVER, attributes: { 'zeone.peer.id': link.peer.nodeIdB64, 'zeone.vpn.stream': req.stream, 'net.peer.port': req.port },
    }) : undefined
    const client = this.#client(link)
    let socket: Socket
    try {
      this.#admit(link, client, req.stream)
      client.streams++
      this.#total++
      try {
        socket = await this.#open(req.host, req.port)
      } catch (err) {
        client.streams--
        this.#total--
        this.#forget(client)
        throw err
      }
    } catch (err) {
      const r = err instanceof ExitRefusal ? err : new ExitRefusal(Rep.general, 'exit_error', (err as Error).message)
      this.counts.refused.set(r.code, (this.counts.refused.get(r.code) ?? 0) + 1)
      this.#log.info({ peer: link.peer.nodeIdB64, port: req.port, code: r.code, rep: r.rep, reason: r.message }, 'vpn exit refused a connect')
      answer(r.rep, 0, `${r.code}: ${safeErrorText(r.message)}`)
      span?.setAttributes({ 'zeone.vpn.rep': r.rep, 'zeone.error.code': r.code })
      span?.setStatus({ code: SpanStatusCode.ERROR, message: r.message.slice(0, 256) })
      span?.end()
      return
    }
    if (link.closed || this.#stopped) { socket.destroy(); client.streams--; this.#total--; this.#forget(client); span?.end(); return }
    span?.setAttribute('zeone.vpn.rep', Rep.succeeded)
    span?.end()
    const streamSpan = span ? this.init.tracer!.start('vpn.exit.stream', { parent: span, attributes: { 'zeone.vpn.stream': req.stream } }) : undefined
    let table = this.#streams.get(link)
    if (!table) { table = new Map(); this.#streams.set(link, table) }
    // one close listener per link, however often its stream table empties (and is dropped) and comes back
    if (!this.#watched.has(link)) {
      this.#watched.add(link)
      link.onClose(() => { for (const p of [...(this.#streams.get(link)?.values() ?? [])]) p.reset('link_closed', false); this.#streams.delete(link) })
    }
    const t = table
    const lim = this.init.limits
    const pipe = new Pipe({
      link, role: Role.exit, stream: req.stream, socket, sendWindow: req.window, recvWindow: lim.window, idleMs: lim.idleTimeoutMs,
      maxRecvWindow: lim.maxWindow ?? lim.window, budget: this.#budget, readPool: this.#readPool,
      onBytes: (n) => this.#carried(client, n, pipe),
      throttle: (n) => Math.max(this.#pacer.take(n, this.#now()), client.pacer.take(n, this.#now())),
      ...(this.init.setTimer ? { setTimer: this.init.setTimer } : {}),
      onDone: (reason) => {
        streamSpan?.setAttributes({ 'zeone.vpn.bytes_out': pipe.bytesOut, 'zeone.vpn.bytes_in': pipe.bytesIn, 'zeone.vpn.end': reason })
        streamSpan?.end()
        t.delete(req.stream)
        if (t.size === 0) this.#streams.delete(link)
        client.streams--
        this.#total--
        this.#meter(client)
        this.#forget(client)
      },
    })
    t.set(req.stream, pipe)
    this.counts.opened++
    answer(Rep.succeeded, lim.window)
  }

  #client(link: Link): Client {
    const key = link.peer.nodeIdB64
    let c = this.#clients.get(key)
    if (!c) {
      const l = this.init.limits
      c = { key, nodeId: link.peer.nodeId, streams: 0, pacer: new Pacer(l.bytesPerSecPerClient, Math.max(l.bytesPerSecPerClient, 256 * 1024), this.#now()), unmetered: 0 }
      this.#clients.set(key, c)
    }
    return c
  }

  /** Drops a client's entry once it has no streams and nothing left to meter (the map stays bounded by streams). */
  #forget(c: Client): void {
    if (c.streams === 0 && c.unmetered === 0) this.#clients.delete(c.key)
  }

  #admit(link: Link, c: Client, stream: number): void {
    if (this.#stopped) throw new ExitRefusal(Rep.general, 'stopping', 'exit is stopping')
    const usage = this.init.usage?.()
    try { usage?.authorize(link.peer.nodeId, VPN_SERVICE) } catch (err) {
      throw new ExitRefusal(Rep.notAllowed, err instanceof ZeoneError ? err.code : 'refused', (err as Error).message)
    }
    if (this.#streams.get(link)?.has(stream)) throw new ExitRefusal(Rep.general, 'stream_in_use', `stream ${stream} is already open`)
    if (c.streams >= this.init.limits.maxStreamsPerClient) throw new ExitRefusal(Rep.general, 'client_streams', `client has ${c.streams} streams open (limit ${this.init.limits.maxStreamsPerClient})`)
    if (this.#total >= this.init.limits.maxStreams) throw new ExitRefusal(Rep.general, 'exit_streams', `exit has ${this.#total} streams open (limit ${this.init.limits.maxStreams})`)
  }

  /** Resolves (names only), checks every address, connects to the first allowed one that answers. */
  async #open(host: string, port: number): Promise<Socket> {
    const deadline = this.#now() + this.init.limits.connectTimeoutMs
    let addrs: string[]
    if (parseIp(host)) addrs = [host]
    else {
      try {
        addrs = await withTimeout((this.init.resolve ?? defaultResolve)(host), this.init.limits.connectTimeoutMs)
      } catch (err) {
        throw new ExitRefusal(Rep.hostUnreachable, 'resolve_failed', `cannot resolve ${host}: ${(err as Error).message}`)
      }
    }
    const self = new Set<string>()
    for (const a of this.init.selfAddresses?.() ?? []) { const ip = parseIp(a); if (ip) self.add(formatIp(ip)) }
    const allowed: Ip16[] = []
    const refusals: string[] = []
    for (const a of addrs.slice(0, 16)) {
      const ip = parseIp(a)
      if (!ip) { refusals.push(`${a.slice(0, 64)}: not an address`); continue }
      if (self.has(formatIp(ip))) { refusals.push(`${formatIp(ip)} is this node's own address`); continue }
      const v = this.init.policy.checkIp(ip, port)
      if (v.ok) allowed.push(ip)
      else refusals.push(v.reason)
    }
    if (allowed.length === 0) {
      throw new ExitRefusal(Rep.notAllowed, addrs.length === 0 ? 'resolve_failed' : 'policy', `${host}:${port} refused by the exit policy: ${refusals.join('; ') || 'no address'}`)
    }
    let last: ExitRefusal | undefined
    for (const ip of allowed) {
      const left = deadline - this.#now()
      if (left <= 0) break
      try { return await this.#connectOne(formatIp(ip), port, left) } catch (err) { last = err as ExitRefusal }
    }
    throw last ?? new ExitRefusal(Rep.hostUnreachable, 'connect_timeout', `connect to ${host}:${port} timed out`)
  }

  #connectOne(ip: string, port: number, ms: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = this.init.connect ? this.init.connect(ip, port) : netConnect({ host: ip, port, allowHalfOpen: true })
      const timer = setTimeout(() => { s.destroy(); reject(new ExitRefusal(Rep.hostUnreachable, 'connect_timeout', `connect to ${ip}:${port} timed out`)) }, ms)
      timer.unref()
      s.once('connect', () => { clearTimeout(timer); s.removeAllListeners('error'); resolve(s) })
      s.once('error', (err: NodeJS.ErrnoException) => { clearTimeout(timer); s.destroy(); reject(new ExitRefusal(repOf(err.code), err.code?.toLowerCase() ?? 'connect_failed', `connect to ${ip}:${port}: ${err.message}`)) })
    })
  }

  #carried(c: Client, n: number, pipe: Pipe): void {
    c.unmetered += n
    if (c.unmetered < METER_STEP) return
    this.#meter(c)
    try { this.init.usage?.()?.authorize(c.nodeId, VPN_SERVICE) } catch (err) {
      queueMicrotask(() => pipe.reset(`${err instanceof ZeoneError ? err.code : 'refused'}: ${(err as Error).message}`, true))
    }
  }

  #meter(c: Client): void {
    if (c.unmetered === 0) return
    const n = c.unmetered
    c.unmetered = 0
    const prev = this.#carriedTotals.get(c.key) ?? 0n
    this.#carriedTotals.delete(c.key)
    if (this.#carriedTotals.size >= MAX_TOTALS) this.#carriedTotals.delete(this.#carriedTotals.keys().next().value!)
    this.#carriedTotals.set(c.key, prev + BigInt(n))
    try { this.init.usage?.()?.record(c.nodeId, VPN_SERVICE, BigInt(n), 'served') } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'vpn usage record failed')
    }
  }

  /** Routed VPN_DATA from a client. Data for a stream we do not have is dropped (it may be in flight after a reset). */
  onData(link: Link, m: VpnData, release?: () => void): void {
    const p = this.#streams.get(link)?.get(m.stream)
    if (p) p.onData(m, release)
    else release?.()
  }
  onClose(link: Link, m: VpnClose): void { this.#streams.get(link)?.get(m.stream)?.onClose(m) }

  stop(): void {
    this.#stopped = true
    for (const t of [...this.#streams.values()]) for (const p of [...t.values()]) p.reset('exit_stopping', true)
    this.#streams.clear()
    this.#readPool.close()
  }
}

/** SOCKS reply code for a connect error (RFC 1928 §6). */
export function repOf(code: string | undefined): number {
  switch (code) {
    case 'ECONNREFUSED': return Rep.refused
    case 'ENETUNREACH': return Rep.netUnreachable
    case 'EHOSTUNREACH': case 'ETIMEDOUT': return Rep.hostUnreachable
    default: return Rep.general
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
    t.unref()
    p.then((v) => { clearTimeout(t); resolve(v) }, (e: unknown) => { clearTimeout(t); reject(e) })
  })
}
