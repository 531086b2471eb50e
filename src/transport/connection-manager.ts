/**
 * The connection manager: the one place every stream kind goes through. A StreamTransport (TCP by default, or the
 * in-memory pipes) listens and dials; streams opened elsewhere (punched UDX paths, relay circuits, TURN) come in
 * through adoptStream. Over each the manager runs the secure handshake, keeps one stable link per peer (the
 * simultaneous-dial tie-break moves the link, never closes it), enforces admission, limits and bans, answers PING and
 * DISCOVER and keeps links alive. Frames flow through FramePath into the Router. Implements LinkProvider and WireTap.
 *
 * Why this file is long: it is the one owner of the per-connection records, and the lifecycle, admission and ban rules read
 * and write them together; the frame path, tie-break, TCP and signal helpers are split out already.
 */
import { parseHostPort } from '../util/host-port.js'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import type { NodeTracer } from '../interfaces/tracing.js'
import { mkdirSync, renameSync } from 'node:fs'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import type { Registry } from 'prom-client'
import type { Identity } from '../crypto/identity.js'
import type { Clock } from '../interfaces/clock.js'
import { systemClock } from '../interfaces/clock.js'
import type { DialOptions, Endpoint, Inbound, Link, LinkProvider } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import type { StreamTransport } from '../interfaces/transport.js'
import type { FrameEvent, WireTap } from '../interfaces/node-context.js'
import { equalBytes, toB64 } from '../util/bytes.js'
import { AbortedError, ZeoneError } from '../util/errors.js'
import { V1_HEADER_BYTES } from '../wire/frame.js'
import { FrameBudget } from './frame-budget.js'
import { FramePath, type FrameState } from './frame-path.js'
import { Counter, pickEviction, strangerSlots, subnetOf, type PeerValue, type Slot } from './admission.js'
import type { TransportConfig } from './config.js'
import { transportBuffers } from './slab-pool.js'
import { Connection, type ConnectionEvents } from './connection.js'
import { CoreProtocol } from './core-protocol.js'
import { LinkClosedError } from './errors.js'
import { keepFresh, listenAddrOf, livePeer, type Carrier } from './live-peer.js'
import { BanList, KeyedBuckets } from './limits.js'
import { TransportMetrics } from './metrics.js'
import { normalizeHost, PeerBook, type KnownPeer } from './peer-book.js'
import { ReplayGuard } from './replay-guard.js'
import { RpcLink } from './rpc-link.js'
import { abandonable, opSignal } from './signals.js'
import { TcpTransport } from './tcp-transport.js'

export const REPLAY_FILE = 'replay.bloom'
/** How long a connection that lost the tie-break may still deliver what the peer sent on it before switching. */
const RETIRE_GRACE_MS = 5000

export interface ConnectionManagerInit {
  identity: Identity
  config: TransportConfig
  dataDir: string
  /** Where application messages go; `has` (the Router has it) lets unhandled types be counted as refusals. */
  router: { dispatch(msg: Inbound): void; has?(type: number): boolean }
  logger?: Logger
  metrics?: Registry
  clock?: Clock
  /** What listens and dials. @default TCP on config.host:config.port */
  transport?: StreamTransport
  /** Capabilities announced in the handshake. @default ['DHT'] */
  capabilities?: string[]
  /** Records a span per handshake when tracing is on. */
  tracer?: NodeTracer
  /** Receives inbound sockets that do not start with the magic, when config.legacy is on. */
  legacyAcceptor?: (socket: Socket, firstBytes: Buffer) => void
  /** What a peer is worth (trust, stake): peers above 0 may use the reserved slots (see admission.ts). */
  peerValue?: PeerValue
}

interface Pending { resolve(l: Link): void; reject(e: Error): void }
/** Per-connection state; `registered`: this connection carries its peer's link now. */
interface Rec extends Slot, FrameState {
  conn: Connection; registered: boolean; pending?: Pending
  /** Inbound only: the IP and subnet it is counted under. */
  ipKey?: string; netKey?: string
}
/** The one link of a peer and the connection that carries it. */
interface PeerEntry { link: RpcLink; carrier: Carrier }

const ip = (e: Endpoint): string => `ip:${e.host}`

export class ConnectionManager implements LinkProvider, WireTap {
  readonly metrics: TransportMetrics
  readonly #init: ConnectionManagerInit
  readonly #cfg: TransportConfig
  readonly #clock: Clock
  readonly #log: Logger
  readonly #transport: StreamTransport
  readonly #peers = new Map<string, PeerEntry>()
  readonly #recs = new Map<Connection, Rec>()
  readonly #dialing = new Map<string, Promise<Link>>()
  readonly #linkListeners = new Set<(l: Link) => void>()
  readonly #taps = new Set<(ev: FrameEvent) => void>()
  readonly #book = new PeerBook()
  /** Bans of node ids (abuse after the handshake). */
  readonly #bans: BanList
  /** Bans of IPs, only for pre-handshake garbage: shorter, since honest identities may share the IP. */
  readonly #ipBans: BanList
  readonly #connectRate: KeyedBuckets
  readonly #frameBudget: FrameBudget<Connection>
  readonly #perIp = new Counter()
  readonly #perSubnet = new Counter()
  readonly #frames: FramePath
  #peerValue: PeerValue | undefined
  readonly #core: CoreProtocol
  readonly #stop = new AbortController()
  #replay: ReplayGuard
  #timers: Array<{ cancel(): void }> = []
  #stopping: Promise<void> | undefined
  #starting: Promise<void> | undefined
  #listen: Endpoint | undefined
  /** This node's send slabs and large-frame read buffers: shared by its connections only, emptied on stop. */
  readonly buffers = transportBuffers()

  constructor(init: ConnectionManagerInit) {
    this.#init = init
    this.#cfg = init.config
    this.#clock = init.clock ?? systemClock
    this.#log = (init.logger ?? silentLogger).child({ layer: 'transport' })
    this.#transport = init.transport ?? new TcpTransport({ host: this.#cfg.host, port: this.#cfg.port, clock: this.#clock, logger: this.#log })
    this.metrics = new TransportMetrics(init.metrics)
    const l = this.#cfg.limits
    this.#bans = new BanList({ strikes: l.strikes, windowMs: l.strikeWindowMs, banBaseMs: l.banBaseMs, banMaxMs: l.banMaxMs })
    this.#ipBans = new BanList({ strikes: l.strikes, windowMs: l.strikeWindowMs, banBaseMs: l.ipBanBaseMs, banMaxMs: l.ipBanMaxMs })
    this.#connectRate = new KeyedBuckets(l.connectsPerSecPerIp, l.connectBurstPerIp)
    this.#peerValue = init.peerValue
    this.#frameBudget = new FrameBudget(l.maxBufferedFrameBytes)
    this.#replay = new ReplayGuard({ bits: this.#cfg.replayFilterBits })
    this.#frames = new FramePath({
      clock: this.#clock, limits: l, metrics: this.metrics, taps: this.#taps,
      stateOf: (conn) => this.#recs.get(conn), refuse: (link, reason) => this.#refuseFromPeer(link, reason),
    })
    this.#core = new CoreProtocol({
      identity: init.identity, clock: this.#clock, book: this.#book, maxSkewMs: this.#cfg.maxClockSkewMs,
      peerListSize: this.#cfg.peerListSize, links: () => this.links(), refuse: (link, reason) => this.#refuseFromPeer(link, reason),
      count: (reason) => this.metrics.refuse(reason),
    })
  }

  get listenAddress(): Endpoint | undefined { return this.#listen }

  /** Sets where peer values (trust, stake) come from; the composition root wires it once the layers exist. */
  setPeerValue(fn: PeerValue | undefined): void { this.#peerValue = fn }

  /** Idempotent: a second call returns the first start (it must not bind a second listener). */
  start(): Promise<void> {
    if (this.#stopping) return Promise.reject(new ZeoneError('stopped', 'connection manager stopped'))
    this.#starting ??= this.#start()
    return this.#starting
  }

  async #start(): Promise<void> {
    const file = join(this.#init.dataDir, REPLAY_FILE)
    mkdirSync(this.#init.dataDir, { recursive: true, mode: 0o700 })
    try {
      this.#replay = new ReplayGuard({ file, bits: this.#cfg.replayFilterBits })
    } catch (err) {
      // unreadable or from another filter size: keep it for inspection, start a fresh one
      this.#log.warn({ err: (err as Error).message }, 'replay filter unreadable; moved aside, starting a fresh one')
      renameSync(file, `${file}.bad-${this.#clock.now()}`)
      this.#replay = new ReplayGuard({ file, bits: this.#cfg.replayFilterBits })
    }
    this.#listen = await this.#transport.listen((s, remote) => this.#onInbound(s, remote))
    this.#every(this.#cfg.replayFilterSaveMs, () => this.#saveReplay())
    this.#every(Math.max(50, Math.min(this.#cfg.keepAliveMs, this.#cfg.idleTimeoutMs) / 3), () => this.#sweep())
    for (const b of this.#cfg.bootstrap) {
      let at: { host: string; port: number }
      try { at = parseHostPort(b, { what: 'node.bootstrap entry' }) } catch (err) { this.#log.warn({ bootstrap: b, err: (err as Error).message }, 'bootstrap entry ignored'); continue }
      this.dial(at).catch((err) => this.#log.warn({ bootstrap: b, err: (err as Error).message }, 'bootstrap dial failed'))
    }
  }

  /** Runs `fn` every `ms` on the injected clock until stop(). */
  #every(ms: number, fn: () => void): void {
    const slot = this.#timers.length
    const arm = (): void => {
      if (this.#stop.signal.aborted) return
      this.#timers[slot] = this.#clock.setTimeout(() => {
        try { fn() } catch (err) { this.#log.warn({ err: (err as Error).message }, 'periodic task failed') }
        arm()
      }, ms)
    }
    arm()
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#doStop()
    return this.#stopping
  }

  async #doStop(): Promise<void> {
    this.#stop.abort()
    for (const t of this.#timers) t.cancel()
    this.#timers = []
    const closing = this.#transport.close()
    for (const rec of [...this.#recs.values()]) rec.conn.destroy('node stopped')
    try { this.#replay.close() } catch (err) { this.#log.warn({ err: (err as Error).message }, 'could not save the replay filter') }
    await closing
    this.buffers.send.close()
    this.buffers.frames.close()
  }

  dial(addr: Endpoint, opts: DialOptions = {}): Promise<Link> {
    if (this.#stopping) return Promise.reject(new LinkClosedError('node stopped'))
    if (opts.signal?.aborted) return Promise.reject(new AbortedError())
    const want = opts.expectNodeId
    if (want) { const l = this.get(want); if (l) return Promise.resolve(l) }
    const key = `${addr.host}:${addr.port}`
    // an open link at the address stands in for a dial only when it is the node expected: a port now served by
    // another node must go through the handshake's identity check, never hand back that other node's link
    for (const { link: l } of this.#peers.values()) {
      const la = l.peer.listenAddr
      if (la && la.host === addr.host && la.port === addr.port && (!want || equalBytes(l.peer.nodeId, want))) return Promise.resolve(l)
    }
    const inflight = this.#dialing.get(key)
    if (inflight) {
      if (!want) return inflight
      return inflight.then((l) => {
        if (!equalBytes(l.peer.nodeId, want)) throw new ZeoneError('identity_mismatch', `peer at ${key} is not the expected node`)
        return l
      })
    }
    // the dial in flight is shared by later callers: only the manager's shutdown aborts it, a caller's signal
    // abandons that caller's wait
    const p = this.#dial(addr, opts.expectNodeId).finally(() => this.#dialing.delete(key))
    this.#dialing.set(key, p)
    return opts.signal ? abandonable(p, opts.signal) : p
  }

  async #dial(addr: Endpoint, expectNodeId: Uint8Array | undefined): Promise<Link> {
    const signal = this.#stop.signal
    const stream = await this.#transport.dial(addr, { signal, timeoutMs: this.#cfg.handshakeTimeoutMs })
    return this.adoptStream(stream, { outbound: true, remoteAddr: addr, expectNodeId })
  }

  /**
   * Runs the handshake and framing over any Duplex (a punched UDX path, a relay circuit, a TURN stream); resolves
   * with the peer's authenticated link. `signal` (combined with the manager's shutdown) aborts the handshake.
   */
  adoptStream(stream: Duplex, opts: { outbound: boolean; remoteAddr: Endpoint; expectNodeId?: Uint8Array; signal?: AbortSignal }): Promise<Link> {
    if (this.#stopping) { stream.destroy(); return Promise.reject(new LinkClosedError('node stopped')) }
    if (opts.signal?.aborted) { stream.destroy(); return Promise.reject(opts.signal.reason instanceof Error ? opts.signal.reason : new LinkClosedError('aborted')) }
    if (!opts.outbound) {
      const why = this.#admitInbound(normalizeHost(opts.remoteAddr.host))
      if (why) { this.metrics.refuse(why); stream.destroy(); return Promise.reject(new ZeoneError(why, `inbound stream refused: ${why}`)) }
    }
    const op = opSignal(this.#stop.signal, opts.signal)
    let onAbort = (): void => {}
    return new Promise<Link>((resolve, reject) => {
      const conn = this.#newConnection(stream, { outbound: opts.outbound, remoteAddr: { host: normalizeHost(opts.remoteAddr.host), port: opts.remoteAddr.port }, expectNodeId: opts.expectNodeId })
      this.#recs.get(conn)!.pending = { resolve, reject }
      onAbort = () => conn.destroy('aborted')
      op.signal.addEventListener('abort', onAbort, { once: true })
      conn.start()
    }).finally(() => { op.signal.removeEventListener('abort', onAbort); op.detach() })
  }

  get(nodeId: Uint8Array | string): Link | undefined {
    return this.#peers.get(typeof nodeId === 'string' ? nodeId : toB64(nodeId))?.link
  }

  links(): Link[] { return [...this.#peers.values()].map((e) => e.link) }

  onLink(cb: (link: Link) => void): () => void {
    this.#linkListeners.add(cb)
    return () => this.#linkListeners.delete(cb)
  }

  observe(cb: (ev: FrameEvent) => void): () => void {
    this.#taps.add(cb)
    return () => this.#taps.delete(cb)
  }

  /** Round-trip time of a PING/PONG on `link`, in ms. */
  ping(link: Link, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<number> { return this.#core.ping(link, opts) }

  knownPeers(): KnownPeer[] { return this.#book.list() }

  /** Bytes held in unfinished frames by all connections together (capped by limits.maxBufferedFrameBytes). */
  get bufferedFrameBytes(): number { return this.#frameBudget.bytes }

  /** Connections open now, including those still handshaking and those retiring after a tie-break. */
  get connectionCount(): number { return this.#recs.size }

  /** An inbound stream from the transport: bans, connect rate and admission before any byte is read. */
  #onInbound(stream: Duplex, remote: Endpoint): void {
    const now = this.#clock.now()
    const refuse = (reason: string): void => { this.metrics.refuse(reason); stream.destroy() }
    if (this.#stopping) return refuse('stopping')
    if (this.#ipBans.isBanned(ip(remote), now)) return refuse('banned')
    if (!this.#connectRate.take(remote.host, 1, now)) return refuse('connect_rate')
    const why = this.#admitInbound(remote.host)
    if (why) return refuse(why)
    const legacy = this.#cfg.legacy ? this.#init.legacyAcceptor : undefined
    this.#newConnection(stream, { outbound: false, remoteAddr: remote, legacyAcceptor: legacy }).start()
  }
  #newConnection(stream: Duplex, opts: ConstructorParameters<typeof Connection>[1]): Connection {
    const c = this.#cfg
    const maxBuffered = c.limits.maxBufferedPerConnection ?? c.maxFrameBytes + V1_HEADER_BYTES
    const conn = new Connection(stream, opts, {
      identity: this.#init.identity,
      clock: this.#clock,
      handshakeTimeoutMs: c.handshakeTimeoutMs,
      highWaterMark: c.sendHighWaterMark,
      isReplay: (n) => this.#replay.checkAndAdd(n),
      maxBuffered,
      onBuffered: (cn, bytes) => this.#buffered(cn, bytes),
      buffers: this.buffers,
      handshake: {
        versions: c.wireVersions, preferredVersion: c.preferredVersion, capabilities: this.#init.capabilities ?? ['DHT'],
        // a frame we announce must fit in what one connection may buffer
        suites: c.cipherSuites, listenPort: this.#listen?.port ?? 0, maxFrame: Math.max(1024, Math.min(c.maxFrameBytes, maxBuffered - V1_HEADER_BYTES)),
        maxSkewMs: c.maxClockSkewMs,
      },
    }, this.#events)
    const rec: Rec = { conn, registered: false, inbound: !opts.outbound, established: false, value: 0, lastActive: this.#clock.now() }
    if (rec.inbound) {
      rec.ipKey = opts.remoteAddr.host
      rec.netKey = subnetOf(opts.remoteAddr.host)
      this.#perIp.add(rec.ipKey)
      this.#perSubnet.add(rec.netKey)
    }
    this.#recs.set(conn, rec)
    return conn
  }

  /** A connection's unfinished frame grew or shrank: past the total cap, the slowest holders are closed. */
  #buffered(conn: Connection, bytes: number): void {
    for (const victim of this.#frameBudget.update(conn, bytes, this.#clock.now())) {
      this.#frameBudget.release(victim)
      this.metrics.refuse('frame_memory')
      this.#log.debug({ remote: victim.opts.remoteAddr, held: victim.bufferedBytes }, 'unfinished frame dropped: frame memory full')
      victim.destroy('frame_memory')
    }
  }

  /**
   * Per-IP and per-subnet caps for a new inbound connection, then a free slot: when full, the idle stranger
   * session of lowest value is evicted. Returns the refusal reason, or undefined when admitted.
   */
  #admitInbound(host: string): string | undefined {
    const l = this.#cfg.limits
    if (this.#perIp.get(host) >= l.maxSessionsPerIp) return 'ip_limit'
    if (this.#perSubnet.get(subnetOf(host)) >= l.maxSessionsPerSubnet) return 'subnet_limit'
    if (this.#recs.size < l.maxConnections) return undefined
    // the newcomer's identity is unknown yet: only strangers make room for it
    return this.#evict(0) ? undefined : 'max_connections'
  }

  /** Closes the idle session of lowest value (at most `maxValue`), if one is idle long enough. */
  #evict(maxValue: number, skip?: Rec): boolean {
    const victim = pickEviction(this.#recs.values(), this.#clock.now(), this.#cfg.limits.evictIdleMs, maxValue, skip)
    if (!victim) return false
    this.metrics.refuse('evicted')
    this.#log.debug({ remote: victim.conn.opts.remoteAddr, value: victim.value }, 'idle session evicted for a newcomer')
    victim.conn.close('evicted')
    return true
  }

  #valueOf(nodeId: Uint8Array): number {
    try {
      const v = this.#peerValue?.(nodeId) ?? 0
      return Number.isFinite(v) && v > 0 ? v : 0
    } catch { return 0 }
  }

  readonly #events: ConnectionEvents = {
    established: (conn) => this.#established(conn),
    frame: (conn, type, pt, release) => this.#frames.frame(conn, type, pt, release),
    refused: (conn, reason, err) => {
      const rec = this.#recs.get(conn)
      this.metrics.refuse(reason)
      if (!conn.session) {
        this.metrics.handshakes.inc({ outcome: reason })
        this.metrics.handshakeSeconds.observe({ outcome: 'failed' }, (this.#clock.now() - conn.startedAt) / 1000)
        this.#traceHandshake(conn, reason)
      }
      this.#log.debug({ reason, remote: conn.opts.remoteAddr, err: err instanceof Error ? err.message : undefined }, 'refused')
      if (!conn.opts.outbound || conn.session) this.#strike(conn.session ? `id:${toB64(conn.session.remoteNodeId)}` : ip(conn.opts.remoteAddr))
      rec?.pending?.reject(err instanceof ZeoneError ? err : new ZeoneError(reason, `connection refused: ${reason}`, { cause: err }))
      if (rec) rec.pending = undefined
    },
    closed: (conn, reason) => {
      this.#frameBudget.release(conn)
      const rec = this.#recs.get(conn)
      this.#recs.delete(conn)
      if (!rec) return
      if (rec.ipKey !== undefined) this.#perIp.remove(rec.ipKey)
      if (rec.netKey !== undefined) this.#perSubnet.remove(rec.netKey)
      rec.pending?.reject(new LinkClosedError(reason))
      rec.pending = undefined
      // only the carrier's close ends the link; a connection retired by the tie-break leaves it to the survivor
      if (rec.link && rec.registered) {
        this.metrics.peers.dec()
        const id = rec.link.peer.nodeIdB64
        if (this.#peers.get(id)?.link === rec.link) this.#peers.delete(id)
        rec.link.handleClosed(reason)
      }
    },
  }

  /** One span per handshake, from the connection's start to its session (or refusal). */
  #traceHandshake(conn: Connection, outcome: string): void {
    const tracer = this.#init.tracer
    if (!tracer?.sampleRoot()) return
    const end = Date.now()
    const span = tracer.start('zeone.handshake', {
      kind: conn.opts.outbound ? SpanKind.CLIENT : SpanKind.SERVER, sample: true,
      attributes: { 'zeone.outcome': outcome, 'network.peer.address': conn.opts.remoteAddr.host, 'network.peer.port': conn.opts.remoteAddr.port, ...(conn.session ? { 'zeone.peer.id': toB64(conn.session.remoteNodeId), 'zeone.wire.version': conn.session.version } : {}) },
      startTime: end - Math.max(0, this.#clock.now() - conn.startedAt),
    })
    if (outcome !== 'ok') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome })
    span.end(end)
  }

  #established(conn: Connection): void {
    const rec = this.#recs.get(conn)!
    const p = conn.session!
    const now = this.#clock.now()
    const id = toB64(p.remoteNodeId)
    this.metrics.handshakes.inc({ outcome: 'ok' })
    this.metrics.handshakeSeconds.observe({ outcome: 'ok' }, (now - conn.startedAt) / 1000)
    this.#traceHandshake(conn, 'ok')
    if (this.#bans.isBanned(`id:${id}`, now)) { this.metrics.refuse('banned'); conn.destroy('banned'); return }
    // sessions we dialed are our choice: never evicted, never counted as strangers
    rec.value = conn.opts.outbound ? Infinity : this.#valueOf(p.remoteNodeId)
    rec.lastActive = now
    if (rec.inbound && rec.value === 0 && !this.#strangerRoom(rec)) {
      this.metrics.refuse('stranger_quota')
      rec.pending?.reject(new ZeoneError('stranger_quota', 'no session slot left for peers without trust or stake'))
      rec.pending = undefined
      conn.destroy('stranger_quota')
      return
    }
    rec.established = true
    const entry = this.#peers.get(id)
    if (entry && !entry.link.closed) return this.#duplicate(entry, rec)
    const carrier: Carrier = { conn }
    const peer = livePeer(carrier)
    const link = new RpcLink(peer, this.#frames.sink(conn, peer), (m) => this.#core.dispatch(m, this.#init.router), { clock: this.#clock })
    rec.link = link
    rec.registered = true
    this.#peers.set(id, { link, carrier })
    this.metrics.peers.inc()
    this.#seen(conn, now)
    rec.pending?.resolve(link)
    rec.pending = undefined
    for (const cb of [...this.#linkListeners]) {
      try { cb(link) } catch (err) { this.#log.warn({ err: (err as Error).message }, 'onLink listener failed') }
    }
    if (this.#cfg.discover) this.#core.discover(link)
  }

  /**
   * A second connection to a peer that has a link (both sides dialed at once, or the peer reconnected): the
   * tie-break picks the connection that carries the link from now on, the other retires. The link object stays, so
   * every dial() and every holder of the link ends up with the survivor; onLink fired once, for the link.
   */
  #duplicate(entry: PeerEntry, rec: Rec): void {
    const { link, carrier } = entry
    const conn = rec.conn
    rec.link = link
    const current = carrier.conn
    if (keepFresh(this.#init.identity.publicKey, link.peer.nodeId, current.opts.outbound, conn.opts.outbound)) {
      const old = this.#recs.get(current)
      if (old) old.registered = false
      carrier.conn = conn
      rec.registered = true
      link.rebind(this.#frames.sink(conn, link.peer))
      this.#seen(conn, this.#clock.now())
      current.retire('duplicate', RETIRE_GRACE_MS)
    } else {
      conn.retire('duplicate', RETIRE_GRACE_MS)
    }
    rec.pending?.resolve(link)
    rec.pending = undefined
  }

  #seen(conn: Connection, now: number): void {
    const at = listenAddrOf(conn)
    if (at) this.#book.seen(conn.session!.remoteNodeId, at.host, at.port, now)
  }

  /**
   * Room for one more stranger (value 0) session, `rec` itself not counted: strangers may fill all but the reserved
   * share; past that an idle stranger is evicted.
   */
  #strangerRoom(rec: Rec): boolean {
    let strangers = 0
    for (const r of this.#recs.values()) if (r !== rec && r.inbound && r.established && r.value === 0) strangers++
    const l = this.#cfg.limits
    return strangers < strangerSlots(l.maxConnections, l.reservedShare) || this.#evict(0, rec)
  }

  #refuseFromPeer(link: Link, reason: string): void {
    this.metrics.refuse(reason)
    this.#strike(`id:${link.peer.nodeIdB64}`)
  }

  #strike(key: string): void {
    const dur = (key.startsWith('ip:') ? this.#ipBans : this.#bans).strike(key, this.#clock.now())
    if (dur === 0) return
    this.metrics.refuse('banned')
    this.#log.info({ key, ms: dur }, 'peer banned')
    for (const rec of [...this.#recs.values()]) {
      const c = rec.conn
      const k = c.session ? `id:${toB64(c.session.remoteNodeId)}` : ip(c.opts.remoteAddr)
      if (k === key || (key.startsWith('ip:') && ip(c.opts.remoteAddr) === key && !c.session)) c.destroy('banned')
    }
  }

  #sweep(): void {
    const now = this.#clock.now()
    for (const rec of [...this.#recs.values()]) {
      if (!rec.link || !rec.registered) continue
      const idle = now - rec.conn.lastReceived
      if (idle >= this.#cfg.idleTimeoutMs) {
        this.metrics.refuse('idle_timeout')
        rec.conn.destroy('idle_timeout')
      } else if (idle >= this.#cfg.keepAliveMs) {
        this.#core.keepAlive(rec.link)
      }
    }
  }

  #saveReplay(): void {
    try { this.#replay.save() } catch (err) { this.#log.warn({ err: (err as Error).message }, 'could not save the replay filter') }
  }
}
