/**
 * The connection manager: listens on TCP, dials, runs the secure handshake over any Duplex (adoptStream), keeps
 * one link per peer pair, enforces limits and bans, answers PING and DISCOVER, keeps links alive, and dispatches
 * application frames into the Router through RpcLink. Implements LinkProvider and WireTap.
 */
import { mkdirSync, renameSync } from 'node:fs'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import type { Registry } from 'prom-client'
import type { Identity } from '../crypto/identity.js'
import type { Clock } from '../interfaces/clock.js'
import { systemClock } from '../interfaces/clock.js'
import type { DialOptions, Endpoint, Inbound, Link, LinkProvider, RemotePeer } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import type { FrameEvent, WireTap } from '../interfaces/node-context.js'
import { dhtIdOf } from '../crypto/identity.js'
import { compareBytes, toB64 } from '../util/bytes.js'
import { AbortedError, TimeoutError, ZeoneError } from '../util/errors.js'
import { forEachBatchItem, SessionType } from '../wire/batch.js'
import { V1_HEADER_BYTES } from '../wire/frame.js'
import { MessageType } from '../wire/message-types.js'
import { FrameBudget } from './frame-budget.js'
import { Counter, pickEviction, strangerSlots, subnetOf, type PeerValue, type Slot } from './admission.js'
import type { TransportConfig } from './config.js'
import { Connection, type ConnectionEvents } from './connection.js'
import { CoreProtocol } from './core-protocol.js'
import { LinkClosedError } from './errors.js'
import { BanList, KeyedBuckets, TokenBucket } from './limits.js'
import { TransportMetrics } from './metrics.js'
import { normalizeHost, PeerBook, type KnownPeer } from './peer-book.js'
import { ReplayGuard } from './replay-guard.js'
import { RpcLink, type FrameSink } from './rpc-link.js'
import { listen } from '../util/listen.js'

export const REPLAY_FILE = 'replay.bloom'
/** How long stop() waits for the listener to close (legacy sockets handed off may outlive it). */
const STOP_GRACE_MS = 2000

export interface ConnectionManagerInit {
  identity: Identity
  config: TransportConfig
  dataDir: string
  /** Where application messages go; `has` (the Router has it) lets unhandled types be counted as refusals. */
  router: { dispatch(msg: Inbound): void; has?(type: number): boolean }
  logger?: Logger
  metrics?: Registry
  clock?: Clock
  /** Capabilities announced in the handshake. @default ['DHT'] */
  capabilities?: string[]
  /** Receives inbound sockets that do not start with the magic, when config.legacy is on. */
  legacyAcceptor?: (socket: Socket, firstBytes: Buffer) => void
  /** What a peer is worth (trust, stake): peers above 0 may use the reserved slots (see admission.ts). */
  peerValue?: PeerValue
}

interface Pending { resolve(l: Link): void; reject(e: Error): void }
/** Per-connection state; the message and byte buckets are per peer because there is one link per peer. */
interface Rec extends Slot {
  conn: Connection; link?: RpcLink; registered: boolean; pending?: Pending; msgs?: TokenBucket; bytes?: TokenBucket
  /** Inbound only: the IP and subnet it is counted under. */
  ipKey?: string; netKey?: string
}

/** Messages that keep a link alive but do not make it active (they cost an idle attacker nothing). */
const CORE_TYPES = new Set<number>([MessageType.PING, MessageType.PONG, MessageType.DISCOVER, MessageType.PEER_LIST])

const ip = (e: Endpoint): string => `ip:${e.host}`

export class ConnectionManager implements LinkProvider, WireTap {
  readonly metrics: TransportMetrics
  readonly #init: ConnectionManagerInit
  readonly #cfg: TransportConfig
  readonly #clock: Clock
  readonly #log: Logger
  readonly #links = new Map<string, RpcLink>()
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
  #peerValue: PeerValue | undefined
  readonly #core: CoreProtocol
  readonly #stop = new AbortController()
  #replay: ReplayGuard
  #server: Server | undefined
  #timers: Array<ReturnType<typeof setInterval>> = []
  #stopping: Promise<void> | undefined
  #listen: Endpoint | undefined

  constructor(init: ConnectionManagerInit) {
    this.#init = init
    this.#cfg = init.config
    this.#clock = init.clock ?? systemClock
    this.#log = (init.logger ?? silentLogger).child({ layer: 'transport' })
    this.metrics = new TransportMetrics(init.metrics)
    const l = this.#cfg.limits
    this.#bans = new BanList({ strikes: l.strikes, windowMs: l.strikeWindowMs, banBaseMs: l.banBaseMs, banMaxMs: l.banMaxMs })
    this.#ipBans = new BanList({ strikes: l.strikes, windowMs: l.strikeWindowMs, banBaseMs: l.ipBanBaseMs, banMaxMs: l.ipBanMaxMs })
    this.#connectRate = new KeyedBuckets(l.connectsPerSecPerIp, l.connectBurstPerIp)
    this.#peerValue = init.peerValue
    this.#frameBudget = new FrameBudget(l.maxBufferedFrameBytes)
    this.#replay = new ReplayGuard({ bits: this.#cfg.replayFilterBits })
    this.#core = new CoreProtocol({
      identity: init.identity, clock: this.#clock, book: this.#book, maxSkewMs: this.#cfg.maxClockSkewMs,
      peerListSize: this.#cfg.peerListSize, links: () => this.links(), refuse: (link, reason) => this.#refuseFromPeer(link, reason),
      count: (reason) => this.metrics.refuse(reason),
    })
  }

  get listenAddress(): Endpoint | undefined { return this.#listen }

  /** Sets where peer values (trust, stake) come from; the composition root wires it once the layers exist. */
  setPeerValue(fn: PeerValue | undefined): void { this.#peerValue = fn }

  async start(): Promise<void> {
    if (this.#stopping) throw new ZeoneError('stopped', 'connection manager stopped')
    const file = join(this.#init.dataDir, REPLAY_FILE)
    mkdirSync(this.#init.dataDir, { recursive: true, mode: 0o700 })
    try {
      this.#replay = new ReplayGuard({ file, bits: this.#cfg.replayFilterBits })
    } catch (err) {
      // unreadable or from another filter size: keep it for inspection, start a fresh one
      this.#log.warn({ err: (err as Error).message }, 'replay filter unreadable; moved aside, starting a fresh one')
      renameSync(file, `${file}.bad-${Date.now()}`)
      this.#replay = new ReplayGuard({ file, bits: this.#cfg.replayFilterBits })
    }
    const server = createServer({ noDelay: true }, (s) => this.#onInbound(s))
    this.#server = server
    await listen(server, this.#cfg.port, this.#cfg.host, { what: 'P2P listener', fix: 'use --port N (config node.port) or stop the other node' })
    server.on('error', (err) => this.#log.error({ err: err.message }, 'listener error'))
    const a = server.address()
    if (a && typeof a === 'object') this.#listen = { host: normalizeHost(a.address), port: a.port }
    const every = (ms: number, fn: () => void): void => { const t = setInterval(fn, ms); t.unref(); this.#timers.push(t) }
    every(this.#cfg.replayFilterSaveMs, () => this.#saveReplay())
    every(Math.max(50, Math.min(this.#cfg.keepAliveMs, this.#cfg.idleTimeoutMs) / 3), () => this.#sweep())
    for (const b of this.#cfg.bootstrap) {
      const i = b.lastIndexOf(':')
      const host = b.slice(0, i).replace(/^\[|\]$/g, '')
      this.dial({ host, port: Number(b.slice(i + 1)) }).catch((err) => this.#log.warn({ bootstrap: b, err: (err as Error).message }, 'bootstrap dial failed'))
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#doStop()
    return this.#stopping
  }

  async #doStop(): Promise<void> {
    this.#stop.abort()
    for (const t of this.#timers) clearInterval(t)
    this.#timers = []
    const closing = this.#server ? new Promise<void>((r) => this.#server!.close(() => r())) : Promise.resolve()
    for (const rec of [...this.#recs.values()]) rec.conn.destroy('node stopped')
    try { this.#replay.close() } catch (err) { this.#log.warn({ err: (err as Error).message }, 'could not save the replay filter') }
    // sockets handed to the legacy bridge belong to it: do not wait for them forever
    await Promise.race([closing, new Promise<void>((r) => { setTimeout(r, STOP_GRACE_MS).unref() })])
  }

  dial(addr: Endpoint, opts: DialOptions = {}): Promise<Link> {
    if (this.#stopping) return Promise.reject(new LinkClosedError('node stopped'))
    if (opts.expectNodeId) { const l = this.get(opts.expectNodeId); if (l) return Promise.resolve(l) }
    const key = `${addr.host}:${addr.port}`
    for (const l of this.#links.values()) {
      const la = l.peer.listenAddr
      if (la && la.host === addr.host && la.port === addr.port) return Promise.resolve(l)
    }
    const inflight = this.#dialing.get(key)
    if (inflight) return inflight
    const p = this.#dial(addr, opts).finally(() => this.#dialing.delete(key))
    this.#dialing.set(key, p)
    return p
  }

  async #dial(addr: Endpoint, opts: DialOptions): Promise<Link> {
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.#stop.signal]) : this.#stop.signal
    signal.throwIfAborted()
    const sock = connect({ host: addr.host, port: addr.port, noDelay: true })
    await new Promise<void>((resolve, reject) => {
      const t = this.#clock.setTimeout(() => { done(); sock.destroy(); reject(new TimeoutError(`connect to ${addr.host}:${addr.port} timed out`)) }, this.#cfg.handshakeTimeoutMs)
      const onErr = (err: Error): void => { done(); reject(new ZeoneError('connect_failed', `connect to ${addr.host}:${addr.port} failed: ${err.message}`, { cause: err })) }
      const onAbort = (): void => { done(); sock.destroy(); reject(new AbortedError()) }
      const onOk = (): void => { done(); resolve() }
      const done = (): void => { t.cancel(); sock.off('error', onErr); sock.off('connect', onOk); signal.removeEventListener('abort', onAbort) }
      sock.once('error', onErr)
      sock.once('connect', onOk)
      signal.addEventListener('abort', onAbort, { once: true })
    })
    return this.adoptStream(sock, { outbound: true, remoteAddr: addr, expectNodeId: opts.expectNodeId, signal })
  }

  /** Runs the handshake and framing over any Duplex; resolves with the authenticated link. */
  adoptStream(stream: Duplex, opts: { outbound: boolean; remoteAddr: Endpoint; expectNodeId?: Uint8Array; signal?: AbortSignal }): Promise<Link> {
    if (this.#stopping) { stream.destroy(); return Promise.reject(new LinkClosedError('node stopped')) }
    if (!opts.outbound) {
      const why = this.#admitInbound(normalizeHost(opts.remoteAddr.host))
      if (why) { this.metrics.refuse(why); stream.destroy(); return Promise.reject(new ZeoneError(why, `inbound stream refused: ${why}`)) }
    }
    return new Promise<Link>((resolve, reject) => {
      const signal = opts.signal
      const onAbort = (): void => conn.destroy('aborted')
      const settle = (): void => signal?.removeEventListener('abort', onAbort)
      const conn = this.#newConnection(stream, { outbound: opts.outbound, remoteAddr: { host: normalizeHost(opts.remoteAddr.host), port: opts.remoteAddr.port }, expectNodeId: opts.expectNodeId })
      this.#recs.get(conn)!.pending = {
        resolve: (l) => { settle(); resolve(l) },
        reject: (e) => { settle(); reject(e) },
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      conn.start()
    })
  }

  get(nodeId: Uint8Array | string): Link | undefined {
    return this.#links.get(typeof nodeId === 'string' ? nodeId : toB64(nodeId))
  }

  links(): Link[] { return [...this.#links.values()] }

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

  /** Connections open now, including those still handshaking. */
  get connectionCount(): number { return this.#recs.size }

  #onInbound(sock: Socket): void {
    const remote = { host: normalizeHost(sock.remoteAddress), port: sock.remotePort ?? 0 }
    sock.on('error', () => {})
    const now = this.#clock.now()
    const refuse = (reason: string): void => { this.metrics.refuse(reason); sock.destroy() }
    if (this.#stopping) return refuse('stopping')
    if (this.#ipBans.isBanned(ip(remote), now)) return refuse('banned')
    if (!this.#connectRate.take(remote.host, 1, now)) return refuse('connect_rate')
    const why = this.#admitInbound(remote.host)
    if (why) return refuse(why)
    const legacy = this.#cfg.legacy ? this.#init.legacyAcceptor : undefined
    this.#newConnection(sock, { outbound: false, remoteAddr: remote, legacyAcceptor: legacy }).start()
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
    frame: (conn, type, pt, release) => this.#frame(conn, type, pt, release),
    refused: (conn, reason, err) => {
      const rec = this.#recs.get(conn)
      this.metrics.refuse(reason)
      if (!conn.session) {
        this.metrics.handshakes.inc({ outcome: reason })
        this.metrics.handshakeSeconds.observe({ outcome: 'failed' }, (this.#clock.now() - conn.startedAt) / 1000)
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
      if (rec.link) {
        if (rec.registered) {
          this.metrics.peers.dec()
          const id = rec.link.peer.nodeIdB64
          if (this.#links.get(id) === rec.link) this.#links.delete(id)
        }
        rec.link.handleClosed(reason)
      }
    },
  }

  #established(conn: Connection): void {
    const rec = this.#recs.get(conn)!
    const p = conn.session!
    const now = this.#clock.now()
    const id = toB64(p.remoteNodeId)
    this.metrics.handshakes.inc({ outcome: 'ok' })
    this.metrics.handshakeSeconds.observe({ outcome: 'ok' }, (now - conn.startedAt) / 1000)
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
    const remote = conn.opts.remoteAddr
    const listenAddr = conn.opts.outbound ? remote : p.remoteListenPort > 0 ? { host: remote.host, port: p.remoteListenPort } : undefined
    const peer: RemotePeer = {
      nodeId: p.remoteNodeId, nodeIdB64: id, dhtId: dhtIdOf(p.remoteNodeId), remoteAddr: remote, listenAddr,
      version: p.version, capabilities: new Set(p.remoteCapabilities), outbound: conn.opts.outbound,
    }
    const link = new RpcLink(peer, this.#sink(conn, peer), (m) => this.#core.dispatch(m, this.#init.router), { clock: this.#clock })
    rec.link = link
    const existing = this.#links.get(id)
    if (existing && !existing.closed) {
      if (!this.#keepNew(existing.peer, peer)) {
        rec.pending?.resolve(existing)
        rec.pending = undefined
        conn.close('duplicate')
        return
      }
      existing.close('duplicate')
    }
    this.#links.set(id, link)
    rec.registered = true
    this.metrics.peers.inc()
    if (listenAddr) this.#book.seen(p.remoteNodeId, listenAddr.host, listenAddr.port, now)
    rec.pending?.resolve(link)
    rec.pending = undefined
    for (const cb of [...this.#linkListeners]) {
      try { cb(link) } catch (err) { this.#log.warn({ err: (err as Error).message }, 'onLink listener failed') }
    }
    if (this.#cfg.discover) this.#core.discover(link)
  }

  /**
   * Simultaneous dials: keep the connection dialed by the smaller node id. Same direction (the peer reconnected, e.g.
   * after its old connection went half-dead): keep the fresh one.
   */
  #keepNew(existing: RemotePeer, fresh: RemotePeer): boolean {
    if (existing.outbound === fresh.outbound) return true
    const weAreSmaller = compareBytes(this.#init.identity.publicKey, fresh.nodeId) < 0
    return weAreSmaller ? fresh.outbound : !fresh.outbound
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

  #active(conn: Connection, type: number): void {
    if (CORE_TYPES.has(type)) return
    const rec = this.#recs.get(conn)
    if (rec) rec.lastActive = this.#clock.now()
  }

  #sink(conn: Connection, peer: RemotePeer): FrameSink {
    return {
      sendFrame: (type, pt) => {
        this.#active(conn, type)
        const body = pt.byteLength - (pt[0] === 0 ? 1 : 5)
        this.metrics.frame(type, 'out', body)
        if (this.#taps.size) this.#tap({ peer, direction: 'out', type, bytes: body })
        return conn.sendFrame(type, pt)
      },
      sendFrameParts: (type, parts) => {
        this.#active(conn, type)
        let n = -(parts[0]![0] === 0 ? 1 : 5)
        for (const p of parts) n += p.byteLength
        this.metrics.frame(type, 'out', n)
        if (this.#taps.size) this.#tap({ peer, direction: 'out', type, bytes: n })
        return conn.sendFrameParts(type, parts)
      },
      whenWritable: () => conn.whenWritable(),
      close: (reason) => conn.close(reason),
    }
  }

  #frame(conn: Connection, type: number, pt: Buffer, release?: () => void): void {
    const rec = this.#recs.get(conn)
    const link = rec?.link
    if (!rec || !link || link.closed) return
    if (type !== SessionType.BATCH) return this.#deliver(rec, link, type, pt, release)
    try {
      forEachBatchItem(pt, (t, envelope) => { if (!link.closed) this.#deliver(rec, link, t, envelope) })
    } catch (err) {
      this.#refuseFromPeer(link, err instanceof ZeoneError ? err.code : 'bad_batch')
    }
  }

  #deliver(rec: Rec, link: RpcLink, type: number, pt: Uint8Array, release?: () => void): void {
    const now = this.#clock.now()
    const l = this.#cfg.limits
    rec.msgs ??= new TokenBucket(l.messagesPerSec, l.messageBurst, now)
    rec.bytes ??= new TokenBucket(l.bytesPerSec, l.byteBurst, now)
    if (!rec.msgs.take(1, now) || !rec.bytes.take(pt.byteLength, now)) return this.#refuseFromPeer(link, 'rate_limited')
    if (type === 0 || type >= 0x80 || (type >= MessageType.HELLO && type <= MessageType.VERIFY) || type === SessionType.BATCH) {
      return this.#refuseFromPeer(link, 'unknown_type')
    }
    const body = pt.byteLength - (pt[0] === 0 ? 1 : 5)
    if (!CORE_TYPES.has(type)) rec.lastActive = now
    this.metrics.frame(type, 'in', body)
    if (this.#taps.size) this.#tap({ peer: link.peer, direction: 'in', type, bytes: body })
    try {
      link.receiveFrame(type, pt, release)
    } catch (err) {
      this.#refuseFromPeer(link, err instanceof ZeoneError ? err.code : 'bad_envelope')
    }
  }

  #tap(ev: FrameEvent): void {
    for (const cb of this.#taps) { try { cb(ev) } catch { /* an observer must not break the wire */ } }
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
