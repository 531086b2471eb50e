/**
 * The client side of the VPN service: knows the exits (DHT provider records under `service:vpn_exit`, configured
 * ones, or one pinned with `zeone vpn use`), ranks them (market.ts), opens each SOCKS stream on the best live exit
 * with VPN_CONNECT, and bridges it through a Pipe. When an exit's link dies or a connect to it fails at the link
 * level, the exit is marked dead for `deadMs` and new streams go to the next one at once (open streams on the dead
 * exit are reset: TCP cannot move). Carried bytes are recorded with the usage meter as `vpn` 'consumed'.
 * UDP associations (SOCKS UDP ASSOCIATE) are opened on the same ranked exits (udp-client.ts holds one's state).
 * Why this file is long: exit choice, streams, associations and metering share the exit table and the meter.
 */
import type { Socket } from 'node:net'
import type { Endpoint, Link, LinkProvider } from '../../interfaces/link.js'
import { SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api'
import type { Logger } from '../../interfaces/logger.js'
import type { NodeTracer } from '../../interfaces/tracing.js'
import { silentLogger } from '../../interfaces/logger.js'
import type { ProviderDirectory } from '../../interfaces/providers.js'
import type { StakeSource, UsageMeter } from '../../interfaces/services.js'
import { toB64 } from '../../util/bytes.js'
import { encodePing } from '../../wire/core-messages.js'
import { MessageType } from '../../wire/message-types.js'
import { VPN_SERVICE } from './exit.js'
import { decodeAnnouncement, ineligible, score, VPN_EXIT_KEY, type ExitAnnouncement } from './market.js'
import { decodeConnectResult, encodeClose, encodeConnect, MAX_STREAM_ID, Rep, Role, type VpnClose, type VpnData } from './messages.js'
import { SlabPool } from '../../transport/slab-pool.js'
import { Pipe, READ_POOL_BYTES, WindowBudget } from './pipe.js'
import { UdpAssociation } from './udp-client.js'
import { decodeUdpAssociateResult, encodeUdpAssociate, type UdpClose, type UdpData } from './udp-messages.js'

const METER_STEP = 1 << 20
const MAX_EXITS = 256

export interface ExitEntry {
  nodeId: Uint8Array
  addrs: Endpoint[]
  ann?: ExitAnnouncement
  rttMs?: number
  verifiedStake?: bigint
  deadUntil: number
  source: 'dht' | 'config' | 'pinned'
  lastError?: string
}

export interface VpnClientInit {
  links: LinkProvider
  /** When tracing is on: a client span per stream opened (carried to the exit) and a span for its life. */
  tracer?: NodeTracer
  providers?: () => ProviderDirectory | undefined
  usage?: () => UsageMeter | undefined
  stake?: () => StakeSource | undefined
  trustOf?: (nodeId: Uint8Array) => number | undefined
  logger?: Logger
  /** Window we grant an exit per stream. @default 524288 */
  window: number
  /** Growth bound per stream. @default window */
  maxWindow?: number
  /** Growth bound of all streams together. @default 64 MiB */
  windowBudget?: number
  connectTimeoutMs: number
  idleTimeoutMs: number
  /** Exits priced above this are never used. */
  maxPricePerMiB: bigint
  /** Leave out exits whose stake is under capacity * 100 ZEO. @default true */
  requireStake: boolean
  /** How long an exit that failed stays out of rotation. @default 60000 */
  deadMs: number
  now?: () => number
}

export interface ConnectOutcome { rep: number; exit?: string; reason?: string }
export interface UdpOutcome extends ConnectOutcome { assoc?: UdpAssociation }

export class VpnClient {
  readonly init: VpnClientInit
  #log: Logger
  #now: () => number
  #exits = new Map<string, ExitEntry>()
  #pinned: string | undefined
  #streams = new Map<Link, Map<number, Pipe>>()
  #udp = new Map<Link, Map<number, UdpAssociation>>()
  #nextId = 1
  #unmetered = new Map<string, number>()
  #consumed = new Map<string, bigint>()
  #stopped = false
  #budget: WindowBudget
  /** Read slabs of this service's pipes (freed on stop; not shared with other nodes of the process). */
  readonly #readPool = new SlabPool(READ_POOL_BYTES)

  constructor(init: VpnClientInit) {
    this.init = init
    this.#budget = new WindowBudget(init.windowBudget ?? 64 << 20)
    this.#log = init.logger ?? silentLogger
    this.#now = init.now ?? Date.now
  }

  /** Adds or updates an exit (from config, the DHT, or `use`). */
  addExit(e: Omit<ExitEntry, 'deadUntil'> & { deadUntil?: number }): ExitEntry {
    const k = toB64(e.nodeId)
    const prev = this.#exits.get(k)
    if (!prev && this.#exits.size >= MAX_EXITS) {
      // forget a DHT-found exit first (configured and pinned ones stay)
      for (const [key, v] of this.#exits) if (v.source === 'dht') { this.#exits.delete(key); break }
      if (this.#exits.size >= MAX_EXITS) return e as ExitEntry
    }
    const next: ExitEntry = { ...prev, ...e, deadUntil: e.deadUntil ?? prev?.deadUntil ?? 0, source: prev?.source === 'pinned' ? 'pinned' : e.source }
    this.#exits.set(k, next)
    return next
  }

  /** Pins an exit: every new stream goes there while it lives. `undefined` unpins. */
  use(nodeIdB64: string | undefined): void { this.#pinned = nodeIdB64 }
  get pinned(): string | undefined { return this.#pinned }

  /** Looks up exits in the DHT and measures the RTT to each (dialing it). */
  async refresh(signal?: AbortSignal): Promise<number> {
    const dir = this.init.providers?.()
    if (dir) {
      const recs = await dir.findProviders(VPN_EXIT_KEY, { limit: 64, ...(signal ? { signal } : {}) }).catch(() => [])
      for (const r of recs) {
        const ann = r.data ? decodeAnnouncement(r.data) : null
        if (ann) this.addExit({ nodeId: r.nodeId, addrs: r.addrs, ann, source: 'dht' })
      }
    }
    await Promise.all([...this.#exits.values()].map((e) => this.#probe(e)))
    return this.#exits.size
  }

  async #probe(e: ExitEntry): Promise<void> {
    try {
      const link = await this.#link(e)
      const t0 = performance.now()
      await link.request(MessageType.PING, encodePing({ timestamp: Date.now() }), { timeoutMs: this.init.connectTimeoutMs })
      e.rttMs = performance.now() - t0
      const st = this.init.stake?.()
      if (st) e.verifiedStake = await st.stakeOf(e.nodeId).catch(() => undefined as unknown as bigint)
    } catch (err) {
      this.#markDead(e, `probe: ${(err as Error).message}`)
    }
  }

  /** Exits with their standing, best first. */
  exits(): Array<ExitEntry & { score?: number; excluded?: string }> {
    const now = this.#now()
    const out = [...this.#exits.values()].map((e): ExitEntry & { score?: number; excluded?: string } => {
      const x = this.#rankInput(e, now)
      const excluded = x ? ineligible(x, this.init.maxPricePerMiB, this.init.requireStake) : 'no announcement'
      return { ...e, ...(excluded ? { excluded } : { score: score(x!, this.init.maxPricePerMiB) }) }
    })
    return out.sort((a, b) => (a.score ?? Infinity) - (b.score ?? Infinity))
  }

  #rankInput(e: ExitEntry, now: number) {
    // a configured or pinned exit without a record is taken at price 0 (the operator chose it)
    const ann = e.ann ?? (e.source !== 'dht' ? { pricePerMiB: 0n, capacityMbps: 0, region: '', policyDigest: '', stake: 0n } : undefined)
    if (!ann) return undefined
    const trust = this.init.trustOf?.(e.nodeId)
    return {
      ann, dead: e.deadUntil > now,
      ...(e.rttMs !== undefined ? { rttMs: e.rttMs } : {}), ...(trust !== undefined ? { trust } : {}),
      ...(e.verifiedStake !== undefined ? { verifiedStake: e.verifiedStake } : {}),
    }
  }

  /** The exits to try for a new stream, in order. */
  #candidates(): ExitEntry[] {
    const ranked = this.exits().filter((e) => e.score !== undefined)
    const pinned = this.#pinned ? this.#exits.get(this.#pinned) : undefined
    if (pinned && pinned.deadUntil <= this.#now()) return [pinned, ...ranked.filter((e) => e !== pinned && toB64(e.nodeId) !== this.#pinned)]
    return ranked.map((r) => this.#exits.get(toB64(r.nodeId))!)
  }

  #markDead(e: ExitEntry, why: string): void {
    e.deadUntil = this.#now() + this.init.deadMs
    e.lastError = why.slice(0, 200)
    this.#log.info({ exit: toB64(e.nodeId), why: e.lastError }, 'vpn exit out of rotation')
  }

  async #link(e: ExitEntry): Promise<Link> {
    const existing = this.init.links.get(e.nodeId)
    if (existing && !existing.closed) return existing
    let last: unknown = new Error('exit has no address')
    for (const a of e.addrs.slice(0, 4)) {
      try { return await this.init.links.dial(a, { expectNodeId: e.nodeId }) } catch (err) { last = err }
    }
    throw last
  }

  /**
   * Opens a stream to `host:port` through the best exit and, on success, calls `ready` (which writes the SOCKS
   * reply) and starts bridging `socket`. Returns the SOCKS reply code and the exit used.
   */
  async open(socket: Socket, host: string, port: number, ready: () => void): Promise<ConnectOutcome> {
    // the destination's port only, never its name or address: traces leave the node
    const tracer = this.init.tracer
    const span = tracer?.sampleRoot() ? tracer.start('vpn.open', { kind: SpanKind.CLIENT, sample: true, attributes: { 'net.peer.port': port } }) : undefined
    const out = await this.#open(socket, host, port, ready, span)
    if (span) {
      span.setAttributes({ 'zeone.vpn.rep': out.rep, ...(out.exit ? { 'zeone.vpn.exit': out.exit } : {}) })
      if (out.rep !== Rep.succeeded) span.setStatus({ code: SpanStatusCode.ERROR, message: (out.reason ?? `rep ${out.rep}`).slice(0, 256) })
      span.end()
    }
    return out
  }

  async #open(socket: Socket, host: string, port: number, ready: () => void, span: Span | undefined): Promise<ConnectOutcome> {
    if (this.#stopped) return { rep: Rep.general, reason: 'stopping' }
    const got = await this.#firstExit('connect', async (link) => {
      const stream = this.#allocId(link)
      const r = await link.request(MessageType.VPN_CONNECT, encodeConnect({ stream, host, port, window: this.init.window }), { timeoutMs: this.init.connectTimeoutMs + 2000, ...(span ? { trace: this.init.tracer!.contextOf(span) } : {}) })
      if (r.type !== MessageType.VPN_CONNECT) throw new Error(`exit answered type 0x${r.type.toString(16)}`)
      const res = decodeConnectResult(r.body)
      if (res.stream !== stream) throw new Error('exit answered another stream')
      return res
    })
    if (!('answer' in got)) return { rep: Rep.general, reason: got.reason }
    const { link, key, answer: { stream, rep, window, reason } } = got
    if (rep !== Rep.succeeded) return { rep, exit: key, ...(reason !== undefined ? { reason } : {}) }
    if (socket.destroyed || link.closed) {
      try { link.send(MessageType.VPN_CLOSE, encodeClose({ role: Role.client, stream, kind: 'reset', reason: 'client went away' })) } catch { /* link gone */ }
      return { rep: Rep.general, exit: key, reason: 'client went away' }
    }
    ready()
    this.#bridge(link, stream, socket, window, key, span)
    return { rep: Rep.succeeded, exit: key }
  }

  /**
   * Asks the exits in preference order until one answers `ask` properly; an exit that cannot be dialed, or answers
   * wrongly (`ask` throws), is taken out of rotation and the next one is tried. The reason is the last failure's.
   */
  async #firstExit<T>(what: string, ask: (link: Link) => Promise<T>): Promise<{ link: Link; key: string; answer: T } | { reason: string }> {
    const tried = new Set<string>()
    let lastReason = 'no exit available (zeone vpn exits)'
    for (const e of this.#candidates()) {
      const key = toB64(e.nodeId)
      if (tried.has(key)) continue
      tried.add(key)
      let link: Link
      try { link = await this.#link(e) } catch (err) { this.#markDead(e, `dial: ${(err as Error).message}`); lastReason = `exit unreachable: ${(err as Error).message}`; continue }
      this.#watch(link, e)
      try {
        return { link, key, answer: await ask(link) }
      } catch (err) {
        this.#markDead(e, `${what}: ${(err as Error).message}`)
        lastReason = `exit failed: ${(err as Error).message}`
      }
    }
    return { reason: lastReason }
  }

  #bridge(link: Link, stream: number, socket: Socket, window: number, exitKey: string, parent: Span | undefined): void {
    const span = parent ? this.init.tracer!.start('vpn.stream', { parent, attributes: { 'zeone.vpn.stream': stream, 'zeone.vpn.exit': exitKey } }) : undefined
    let t = this.#streams.get(link)
    if (!t) { t = new Map(); this.#streams.set(link, t) }
    const table = t
    const pipe = new Pipe({
      link, role: Role.client, stream, socket, sendWindow: window, recvWindow: this.init.window, idleMs: this.init.idleTimeoutMs,
      maxRecvWindow: this.init.maxWindow ?? this.init.window, budget: this.#budget, readPool: this.#readPool,
      onBytes: (n) => this.#carried(link.peer.nodeId, exitKey, n),
      onDone: (reason) => {
        span?.setAttributes({ 'zeone.vpn.bytes_out': pipe.bytesOut, 'zeone.vpn.bytes_in': pipe.bytesIn, 'zeone.vpn.end': reason })
        span?.end()
        table.delete(stream)
        if (table.size === 0 && this.#streams.get(link) === table) this.#streams.delete(link)
        this.#meter(link.peer.nodeId, exitKey)
      },
    })
    table.set(stream, pipe)
  }

  #watched = new WeakSet<Link>()
  #watch(link: Link, e: ExitEntry): void {
    if (this.#watched.has(link)) return
    this.#watched.add(link)
    link.onClose((reason) => {
      for (const p of [...(this.#streams.get(link)?.values() ?? [])]) p.reset('link_closed', false)
      this.#streams.delete(link)
      for (const a of [...(this.#udp.get(link)?.values() ?? [])]) a.closedRemotely('link_closed')
      if (!this.#stopped) this.#markDead(e, `link closed: ${reason}`)
    })
  }

  #allocId(link: Link): number {
    const t = this.#streams.get(link)
    const u = this.#udp.get(link)
    for (;;) {
      const id = this.#nextId
      this.#nextId = this.#nextId >= MAX_STREAM_ID ? 1 : this.#nextId + 1
      if (!t?.has(id) && !u?.has(id)) return id
    }
  }

  /**
   * Opens a UDP association on the best exit that accepts one (VPN_UDP_ASSOCIATE), failing over like a stream.
   * `onDatagram` gets every reply (source literal, port, data); `onClosed` once when it ends.
   */
  async openUdp(onDatagram: (host: string, port: number, data: Uint8Array) => void, onClosed: (reason: string) => void): Promise<UdpOutcome> {
    if (this.#stopped) return { rep: Rep.general, reason: 'stopping' }
    const got = await this.#firstExit('udp associate', async (link) => {
      const id = this.#allocId(link)
      const r = await link.request(MessageType.VPN_UDP_ASSOCIATE, encodeUdpAssociate({ assoc: id }), { timeoutMs: this.init.connectTimeoutMs })
      if (r.type !== MessageType.VPN_UDP_ASSOCIATE) throw new Error(`exit answered type 0x${r.type.toString(16)}`)
      const res = decodeUdpAssociateResult(r.body)
      if (res.assoc !== id) throw new Error('exit answered another association')
      return res
    })
    if (!('answer' in got)) return { rep: Rep.general, reason: got.reason }
    const { link, key, answer: res } = got
    const id = res.assoc
    if (res.rep !== Rep.succeeded) return { rep: res.rep, exit: key, ...(res.reason !== undefined ? { reason: res.reason } : {}) }
    let t = this.#udp.get(link)
    if (!t) { t = new Map(); this.#udp.set(link, t) }
    const table = t
    const assoc: UdpAssociation = new UdpAssociation({
      link, assoc: id, exit: key, onDatagram, onClosed,
      onBytes: (n) => this.#carried(link.peer.nodeId, key, n),
      onDone: () => {
        if (table.get(id) === assoc) table.delete(id)
        if (table.size === 0 && this.#udp.get(link) === table) this.#udp.delete(link)
        this.#meter(link.peer.nodeId, key)
      },
    })
    table.set(id, assoc)
    if (link.closed) assoc.closedRemotely('link_closed')
    return { rep: Rep.succeeded, exit: key, assoc }
  }

  onUdpData(link: Link, m: UdpData): void { this.#udp.get(link)?.get(m.assoc)?.deliver(m) }
  onUdpClose(link: Link, m: UdpClose): void { this.#udp.get(link)?.get(m.assoc)?.closedRemotely(m.reason ?? 'exit_closed') }
  get openAssociations(): number { let n = 0; for (const t of this.#udp.values()) n += t.size; return n }

  #carried(nodeId: Uint8Array, key: string, n: number): void {
    const u = (this.#unmetered.get(key) ?? 0) + n
    this.#unmetered.set(key, u)
    if (u >= METER_STEP) this.#meter(nodeId, key)
  }

  #meter(nodeId: Uint8Array, key: string): void {
    const n = this.#unmetered.get(key) ?? 0
    this.#unmetered.delete(key)
    if (n === 0) return
    this.#consumed.set(key, (this.#consumed.get(key) ?? 0n) + BigInt(n))
    if (this.#consumed.size > MAX_EXITS * 4) this.#consumed.delete(this.#consumed.keys().next().value!)
    try { this.init.usage?.()?.record(nodeId, VPN_SERVICE, BigInt(n), 'consumed') } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'vpn usage record failed')
    }
  }

  /** Bytes carried through an exit so far (recorded + not yet recorded). */
  carriedVia(nodeId: Uint8Array): bigint {
    const k = toB64(nodeId)
    return (this.#consumed.get(k) ?? 0n) + BigInt(this.#unmetered.get(k) ?? 0)
  }

  get openStreams(): number { let n = 0; for (const t of this.#streams.values()) n += t.size; return n }

  onData(link: Link, m: VpnData, release?: () => void): void {
    const p = this.#streams.get(link)?.get(m.stream)
    if (p) p.onData(m, release)
    else release?.()
  }
  onClose(link: Link, m: VpnClose): void { this.#streams.get(link)?.get(m.stream)?.onClose(m) }

  stop(): void {
    this.#stopped = true
    for (const t of [...this.#streams.values()]) for (const p of [...t.values()]) p.reset('client_stopping', true)
    this.#streams.clear()
    this.#readPool.close()
    for (const t of [...this.#udp.values()]) for (const a of [...t.values()]) a.close('client_stopping')
  }
}

