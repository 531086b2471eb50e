/**
 * The legacy v0 bridge: accepts v0 streams handed over by the listener, dials v0 nodes, keeps the v0 links, and
 * routes their messages (LegacyRouter). v0 peers are low privilege: PING, DISCOVER, DHT-in-DATA and the services
 * listed in `legacy.services` (default: echo); VPN, IOU, contracts, streams and cache requests are refused.
 *
 * Membership, the way v1.2.4 nodes expect it: every connection of a peer is kept (a v1.2.4 node dials its bootstrap
 * twice and drops the peer when one of them closes), DISCOVER goes out on every link at connect and every
 * `legacy.discoverIntervalMs`, the first link of a peer carries a FIND_NODE of ourselves (v0 learns listening ports
 * only from DHT sender fields), learned addresses are dialled through LegacyDiscovery, and BALANCE_CLAIMs carry
 * and are judged against our real per-peer byte totals (balance.ts).
 *
 * Why this file is long: v0 membership (every link of a peer kept, DISCOVER and FIND_NODE timing, learned
 * addresses) is one behaviour v1.2.4 nodes depend on; discovery, balance claims and the connection are split out.
 */
import { toWireError } from '../../wire/error-codes.js'
import { connect, type Socket } from 'node:net'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Identity } from '../../crypto/identity.js'
import type { Clock } from '../../interfaces/clock.js'
import { systemClock } from '../../interfaces/clock.js'
import type { Endpoint, LegacyHandler, LegacyLink, LegacyRouter } from '../../interfaces/link.js'
import type { Logger } from '../../interfaces/logger.js'
import { silentLogger } from '../../interfaces/logger.js'
import type { TrustSink } from '../../interfaces/trust.js'
import type { ClaimEvidence } from '../../interfaces/services.js'
import { AddressPolicy, addressClass } from '../../util/address-class.js'
import { AbortedError, TimeoutError, ZeoneError } from '../../util/errors.js'
import { pyFloat } from '../../wire/legacy-json.js'
import type { LegacyEnvelope, OversizeFrame } from '../../wire/legacy.js'
import { CLAIM_AGREED, judgeClaim, LegacyMeter, parseClaim, type ByteTotals } from './balance.js'
import type { LegacyConfig } from './config.js'
import { LegacyConnection } from './connection.js'
import { LegacyDiscovery } from './discovery.js'
import { NonceCache } from './nonce-cache.js'
import { oversizeReply } from './oversize.js'

/** Message types v0 peers may never use with us. */
export const LEGACY_FORBIDDEN = new Set(['VPN_CONNECT', 'VPN_CONNECT_RESULT', 'VPN_DATA', 'VPN_CLOSE', 'IOU', 'IOU_ACK',
  'CONTRACT', 'CONTRACT_RESULT', 'STREAM', 'CACHE_REQUEST', 'CACHE_RESPONSE'])
/** Most peers put in one PEER_LIST, and most untrusted candidates remembered from others' PEER_LISTs. */
const MAX_PEER_LIST = 50

export interface AdvertisedPeer { nodeId: string; host: string; port: number; version: number }

export interface LegacyBridgeInit {
  identity: Identity
  config: LegacyConfig
  logger?: Logger
  metrics?: Registry
  clock?: Clock
  /** Peers with verified listening addresses (never ephemeral source ports) to put in PEER_LIST. */
  knownPeers?: () => AdvertisedPeer[]
  /** Which learned addresses may be dialled (node.privateAddresses). @default deny every non-public address */
  addressPolicy?: AddressPolicy
  /** Where balance disputes are reported (the economy's trust book, when it is attached). */
  trust?: () => TrustSink | undefined
  /** Where judged claims are filed in the ledger (the economy, when it is attached). */
  claimEvidence?: () => ClaimEvidence | undefined
}

type DhtHandler = (request: Record<string, unknown>, link: LegacyLink) => Promise<Record<string, unknown>>

export class LegacyBridge implements LegacyRouter {
  #init: LegacyBridgeInit
  #clock: Clock
  #logger: Logger
  #conns = new Set<LegacyConnection>()
  /** Ready connections by peer, oldest first: all are kept (see the class comment). */
  #byId = new Map<string, LegacyConnection[]>()
  #handlers = new Map<string, LegacyHandler>()
  #dht: DhtHandler | undefined
  #nonces: NonceCache
  #stopped = false
  #self: Endpoint | undefined
  readonly discovery: LegacyDiscovery
  readonly meter = new LegacyMeter()
  #lastClaim = new Map<string, number>()
  #timer: { cancel(): void } | undefined
  #mMsgs: Counter<'direction' | 'type'> | undefined
  #mRefused: Counter<'reason'> | undefined
  #mDisputes: Counter<'side'> | undefined

  constructor(init: LegacyBridgeInit) {
    this.#init = init
    this.#clock = init.clock ?? systemClock
    this.#logger = init.logger ?? silentLogger
    this.#nonces = new NonceCache(2 * init.config.maxSkewMs + 5000)
    this.discovery = new LegacyDiscovery({
      policy: init.addressPolicy ?? new AddressPolicy('deny'), clock: this.#clock, maxInFlight: init.config.maxDialsInFlight,
      backoffMs: init.config.redialBackoffMs, selfId: init.identity.nodeIdB64, selfAddress: () => this.#self,
      dial: async (addr) => (await this.dial(addr)).peer.nodeIdB64,
      connected: (id) => this.#byId.has(id),
      verified: (id) => (this.#byId.get(id) ?? []).some((c) => c.peer.listenAddr !== undefined),
      onRefused: (reason) => this.#refused(`learned_${reason}`),
    })
    if (init.metrics) {
      this.#mDisputes = new Counter({ name: 'zeone_legacy_balance_disputes_total', help: 'v0 balance claims that disagreed with the other side\'s meter (side=ours: we judged theirs; side=peer: they judged ours)', labelNames: ['side'], registers: [init.metrics] })
      this.#mMsgs = new Counter({ name: 'zeone_legacy_messages_total', help: 'v0 messages by direction and type', labelNames: ['direction', 'type'], registers: [init.metrics] })
      this.#mRefused = new Counter({ name: 'zeone_legacy_refusals_total', help: 'v0 messages or connections refused, by reason', labelNames: ['reason'], registers: [init.metrics] })
      const conns = this.#byId
      new Gauge({ name: 'zeone_legacy_peers', help: 'connected v0 peers', registers: [init.metrics], collect() { this.set(conns.size) } })
    }
  }

  setSelfAddress(addr: Endpoint | undefined): void { this.#self = addr }

  handleLegacy(type: string, handler: LegacyHandler): () => void {
    if (this.#handlers.has(type)) throw new Error(`a legacy handler for ${type} is already registered`)
    this.#handlers.set(type, handler)
    return () => { if (this.#handlers.get(type) === handler) this.#handlers.delete(type) }
  }

  handleLegacyDht(handler: DhtHandler): () => void {
    if (this.#dht) throw new Error('a legacy DHT handler is already registered')
    this.#dht = handler
    return () => { if (this.#dht === handler) this.#dht = undefined }
  }

  /** Open v0 connections, handshaking or ready. */
  get connectionCount(): number { return this.#conns.size }

  /** Untrusted (node id -> address) pairs learned from PEER_LISTs and DHT sender fields. */
  get candidates(): ReadonlyMap<string, { host: string; port: number; seen: number }> { return this.discovery.candidates }

  /** One ready link per v0 peer: the newest one whose listening address we verified by dialling it, else the newest. */
  links(): LegacyConnection[] {
    const out: LegacyConnection[] = []
    for (const id of this.#byId.keys()) { const c = this.get(id); if (c) out.push(c) }
    return out
  }
  get(nodeIdB64: string): LegacyConnection | undefined {
    const cs = this.#byId.get(nodeIdB64)
    if (!cs || cs.length === 0) return undefined
    for (let i = cs.length - 1; i >= 0; i--) if (cs[i]!.peer.listenAddr) return cs[i]
    return cs[cs.length - 1]
  }
  /** Every ready connection of a peer. */
  connectionsOf(nodeIdB64: string): readonly LegacyConnection[] { return this.#byId.get(nodeIdB64) ?? [] }

  /** Bytes of JSON sent to and received from a peer over all its connections (the v0 claim totals). */
  totals(nodeIdB64: string): ByteTotals {
    const t = { ...this.meter.closedTotals(nodeIdB64) }
    for (const c of this.#byId.get(nodeIdB64) ?? []) { t.sent += c.bytesOut; t.received += c.bytesIn }
    return t
  }

  /** Takes over a stream whose first bytes were not the ZE magic (the transport's legacyAcceptor). */
  accept = (socket: Socket, firstBytes: Buffer): void => {
    if (this.#stopped || this.#conns.size >= this.#init.config.maxPeers) {
      this.#refused('too_many_legacy_peers')
      socket.destroy()
      return
    }
    const conn = this.#create(socket, false, { host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 })
    conn.push(firstBytes)
    socket.resume()
  }

  /** Dials a v0 node and completes the PING/PONG handshake. */
  async dial(addr: Endpoint, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<LegacyConnection> {
    if (this.#stopped) throw new ZeoneError('stopped', 'legacy bridge stopped')
    if (this.#conns.size >= this.#init.config.maxPeers) throw new ZeoneError('too_many_legacy_peers', 'too many v0 connections')
    const socket = await openSocket(addr, opts.timeoutMs ?? this.#init.config.handshakeTimeoutMs, opts.signal)
    const conn = this.#create(socket, true, addr, addr)
    const onAbort = (): void => conn.close('aborted')
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await conn.ready
    } finally {
      opts.signal?.removeEventListener('abort', onAbort)
    }
    return conn
  }

  #create(socket: Socket, outbound: boolean, remoteAddr: Endpoint, dialedAddr?: Endpoint): LegacyConnection {
    const conn = new LegacyConnection({
      socket, identity: this.#init.identity, outbound, remoteAddr, ...(dialedAddr ? { dialedAddr } : {}),
      config: this.#init.config, clock: this.#clock, nonces: this.#nonces,
      onMessage: (env, c, bytes) => this.#dispatch(env, c, bytes),
      onRefusal: (reason) => this.#refused(reason),
      onTraffic: (direction, type) => this.#mMsgs?.inc({ direction, type }),
      onReady: (c) => this.#onReady(c, outbound, remoteAddr),
      onOversize: (f, c) => this.#onOversize(f, c),
      selfAddress: () => this.#self,
    })
    this.#conns.add(conn)
    this.#startTimer()
    conn.onClose((reason) => {
      this.#conns.delete(conn)
      const id = conn.isBound ? conn.peer.nodeIdB64 : undefined
      const cs = id ? this.#byId.get(id) : undefined
      const i = cs ? cs.indexOf(conn) : -1
      if (id && cs && i >= 0) {
        cs.splice(i, 1)
        if (cs.length === 0) { this.#byId.delete(id); this.#lastClaim.delete(id) }
        this.meter.addClosed(id, { sent: conn.bytesOut, received: conn.bytesIn })
      }
      this.#logger.debug({ reason }, 'legacy connection closed')
    })
    return conn
  }

  /** Synchronously at the end of a handshake, before the peer's next message is handled. */
  #onReady(conn: LegacyConnection, outbound: boolean, remoteAddr: Endpoint): void {
    const id = conn.peer.nodeIdB64
    const cs = this.#byId.get(id) ?? []
    // a v1.2.4 peer drops us if we close one of its connections: keep them all, up to a per-peer cap
    if (cs.length >= this.#init.config.maxConnectionsPerPeer) { this.#refused('too_many_connections_for_peer'); conn.close('too many connections for one peer'); return }
    const first = cs.length === 0
    cs.push(conn)
    this.#byId.set(id, cs)
    this.#logger.info({ peer: id, outbound, addr: `${remoteAddr.host}:${remoteAddr.port}`, connections: cs.length }, 'legacy peer connected')
    this.#sendClaim(conn)
    this.#discover(conn)
    // v0 learns a listening port only from DHT request sender fields: announce ours with a FIND_NODE of ourselves
    if (first) conn.dhtRequest({ type: 'FIND_NODE', target_id: this.#init.identity.dhtIdHex }, { timeoutMs: this.#init.config.handshakeTimeoutMs }).catch(() => {})
  }

  #discover(conn: LegacyConnection): void {
    if (conn.closed) return
    try { conn.send('DISCOVER', { max_peers: 20 }) } catch { /* closing */ }
  }

  #sendClaim(conn: LegacyConnection): void {
    if (conn.closed) return
    const id = conn.peer.nodeIdB64
    const t = this.totals(id)
    this.#lastClaim.set(id, this.#clock.now())
    try {
      conn.send('BALANCE_CLAIM', { claimed_balance: pyFloat(t.sent - t.received), total_sent: pyFloat(t.sent), total_received: pyFloat(t.received), timestamp: pyFloat(this.#clock.now() / 1000) })
    } catch { /* closing */ }
  }

  /** One timer for the whole bridge: DISCOVER on every link, BALANCE_CLAIM to peers whose last claim is old. */
  #startTimer(): void {
    if (this.#timer || this.#stopped) return
    const interval = this.#init.config.discoverIntervalMs
    const tick = (): void => {
      this.#timer = undefined
      if (this.#stopped || this.#conns.size === 0) return
      const now = this.#clock.now()
      for (const cs of this.#byId.values()) for (const c of cs) this.#discover(c)
      for (const [id] of this.#byId) {
        if (now - (this.#lastClaim.get(id) ?? 0) >= this.#init.config.claimIntervalMs) { const c = this.get(id); if (c) this.#sendClaim(c) }
      }
      this.discovery.pump()
      this.#timer = this.#clock.setTimeout(tick, interval)
    }
    this.#timer = this.#clock.setTimeout(tick, interval)
  }

  #onBalanceClaim(env: LegacyEnvelope, conn: LegacyConnection, frameBytes: number): void {
    const id = conn.peer.nodeIdB64
    const claim = parseClaim(env.payload)
    const raw = env.raw.payload as Record<string, unknown>
    if (!claim) {
      this.#refused('bad_balance_claim')
      conn.send('BALANCE_ACK', { acknowledged: false, our_balance: pyFloat(0), peer_claimed: raw.claimed_balance ?? null, status: 'invalid' })
      return
    }
    const t = this.totals(id)
    const ours = { sent: t.sent, received: t.received - frameBytes } // the claim's own frame was not in its totals
    const j = judgeClaim(claim, ours, this.#init.config.claimToleranceBytes)
    this.meter.record(id, { at: this.#clock.now(), status: j.status, claim, ours })
    if (j.status !== CLAIM_AGREED) {
      this.#mDisputes?.inc({ side: 'ours' })
      this.#logger.warn({ peer: id, claimedSent: claim.totalSent, received: ours.received, claimedReceived: claim.totalReceived, sent: ours.sent }, 'v0 balance dispute')
      this.#init.trust?.()?.report(conn.peer.nodeId, 'invalid_message', 'v0 balance claim disagrees with our meter')
    }
    // reconciled into the ledger as evidence: the peer's claimed balance (bytes it sent minus received) against ours
    this.#init.claimEvidence?.()?.recordClaim(conn.peer.nodeId, {
      claimed: BigInt(Math.max(0, Math.round(claim.totalSent - claim.totalReceived))),
      ours: BigInt(Math.max(0, ours.received - ours.sent)), agreed: j.status === CLAIM_AGREED, reason: 'v0_claim_bytes',
    })
    conn.send('BALANCE_ACK', { acknowledged: true, our_balance: pyFloat(ours.sent - ours.received), peer_claimed: raw.claimed_balance, status: j.status })
  }

  #onBalanceAck(env: LegacyEnvelope, conn: LegacyConnection): void {
    const status = env.payload.status
    if (status === CLAIM_AGREED) return
    this.#mDisputes?.inc({ side: 'peer' })
    this.#logger.info({ peer: conn.peer.nodeIdB64, status: typeof status === 'string' ? status.slice(0, 32) : null }, 'v0 peer disputes our balance claim')
  }

  /** A frame over the cap: answered with the error reply v0 has for it, when its head/tail name one. */
  #onOversize(f: OversizeFrame, conn: LegacyConnection): void {
    const reply = oversizeReply(f, this.#init.config.maxFrameBytes, this.#init.identity.nodeIdB64)
    if (!reply || conn.closed) return
    try { conn.send(reply.type, reply.payload, reply.nonce) } catch { /* closing */ }
  }

  #refused(reason: string): void {
    this.#mRefused?.inc({ reason })
    this.#logger.debug({ reason }, 'legacy message refused')
  }

  #dispatch(env: LegacyEnvelope, conn: LegacyConnection, frameBytes: number): void {
    if (LEGACY_FORBIDDEN.has(env.type)) { this.#refused('not_permitted'); return }
    if (env.type === 'DISCOVER') { this.#peerList(env, conn); return }
    if (env.type === 'PEER_LIST') { this.#learnPeerList(env); return }
    if (env.type === 'BALANCE_CLAIM') { this.#onBalanceClaim(env, conn, frameBytes); return }
    if (env.type === 'BALANCE_ACK') { this.#onBalanceAck(env, conn); return }
    if (env.type === 'DATA' && env.payload.dht === true && env.payload.dht_request && typeof env.payload.nonce === 'string') {
      this.#serveDht(env, conn)
      return
    }
    const h = this.#handlers.get(env.type)
    if (!h) {
      if (env.type === 'SERVICE_REQUEST') {
        conn.send('SERVICE_RESPONSE', { success: false, result: null, cost: pyFloat(0), execution_time: pyFloat(0),
          request_id: env.payload.request_id ?? null, error: 'service unavailable', provider_id: this.#init.identity.nodeIdB64 })
      } else this.#refused('unhandled_type')
      return
    }
    Promise.resolve().then(() => h(LegacyConnection.toMessage(env), conn)).catch((err: unknown) => {
      this.#refused(err instanceof ZeoneError ? err.code : 'handler_error')
    })
  }

  #serveDht(env: LegacyEnvelope, conn: LegacyConnection): void {
    const nonce = env.payload.nonce as string
    const req = env.payload.dht_request
    if (typeof req !== 'object' || req === null || Array.isArray(req)) { this.#refused('unhandled_dht'); return }
    this.#learnSender(req as Record<string, unknown>, conn)
    if (!this.#dht) { this.#refused('unhandled_dht'); return }
    const reply = (resp: Record<string, unknown>): void => {
      if (conn.closed) return
      try { conn.send('DATA', { dht: true, dht_response: resp, nonce }, nonce) } catch (err) {
        // e.g. a FIND_VALUE answer over the frame cap: say so instead of leaving the caller to time out
        this.#refused(err instanceof ZeoneError ? err.code : 'dht_reply_error')
        try { conn.send('DATA', { dht: true, dht_response: { type: 'ERROR', error: `reply not sent: ${toWireError(err).message}`.slice(0, 200) }, nonce }, nonce) } catch { /* closing */ }
      }
    }
    const type = typeof (req as Record<string, unknown>).type === 'string' ? String((req as Record<string, unknown>).type) : ''
    this.#dht(req as Record<string, unknown>, conn).then(reply, (err: unknown) => {
      this.#refused(err instanceof ZeoneError ? err.code : 'dht_handler_error')
      const error = `refused: ${toWireError(err, 'bad_request').message}`.slice(0, 200)
      reply(type === 'STORE' ? { type: 'STORE_RESPONSE', success: false, error } : { type: 'ERROR', error })
    })
  }

  /**
   * `sender_host`/`sender_port` of a v0 DHT request: a claimed listening port of the link's peer, to verify by
   * dialling it. Only the port is taken: the host is the one the connection comes from, so a peer cannot point our
   * dials at a third party (v0 sender fields are unsigned and unauthenticated).
   */
  #learnSender(req: Record<string, unknown>, conn: LegacyConnection): void {
    const port = req.sender_port
    if (typeof port !== 'number' || !Number.isInteger(port)) return
    const claimed = typeof req.sender_host === 'string' ? req.sender_host.replace(/^::ffff:/, '') : ''
    const host = conn.peer.remoteAddr.host.replace(/^::ffff:/, '')
    if (claimed !== host && addressClass(claimed) !== 'unspecified') this.#refused('sender_host_differs')
    this.discovery.learn(conn.peer.nodeIdB64, host, port, 'dht_sender')
  }

  #peerList(env: LegacyEnvelope, conn: LegacyConnection): void {
    const asked = Number(env.payload.max_peers)
    const max = Number.isInteger(asked) && asked > 0 ? Math.min(asked, MAX_PEER_LIST) : 20
    const nowS = this.#clock.now() / 1000
    const known = (this.#init.knownPeers?.() ?? []).filter((p) => p.nodeId !== conn.peer.nodeIdB64)
    const peers = known.slice(0, max).map((p) => ({ node_id: p.nodeId, host: p.host, port: p.port, trust_score: pyFloat(0.5), last_seen: pyFloat(nowS) }))
    conn.send('PEER_LIST', { peers, total_known: known.length })
  }

  #learnPeerList(env: LegacyEnvelope): void {
    const peers = env.payload.peers
    if (!Array.isArray(peers)) { this.#refused('bad_peer_list'); return }
    for (const p of peers.slice(0, MAX_PEER_LIST)) {
      if (!p || typeof p !== 'object') continue
      const { node_id: id, host, port } = p as Record<string, unknown>
      if (typeof id !== 'string' || id.length !== 44 || typeof host !== 'string' || typeof port !== 'number') { this.#refused('bad_peer_list_entry'); continue }
      this.discovery.learn(id, host, port, 'peer_list')
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#timer?.cancel()
    this.#timer = undefined
    this.discovery.stop()
    for (const c of [...this.#conns]) c.close('node stopping')
    this.#conns.clear()
    this.#byId.clear()
  }
}

function openSocket(addr: Endpoint, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(new AbortedError()); return }
    const s = connect({ host: addr.host, port: addr.port })
    const timer = setTimeout(() => fail(new TimeoutError(`connect to ${addr.host}:${addr.port} timed out`)), timeoutMs)
    const onAbort = (): void => fail(new AbortedError())
    const cleanup = (): void => { clearTimeout(timer); signal?.removeEventListener('abort', onAbort); s.off('error', fail); s.off('connect', ok) }
    function fail(err: Error): void { cleanup(); s.destroy(); reject(err instanceof ZeoneError ? err : new ZeoneError('connect_failed', err.message, { cause: err })) }
    function ok(): void { cleanup(); resolve(s) }
    signal?.addEventListener('abort', onAbort, { once: true })
    s.once('error', fail)
    s.once('connect', ok)
  })
}
