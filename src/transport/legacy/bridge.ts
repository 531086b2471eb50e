/**
 * The legacy v0 bridge: accepts v0 streams handed over by the listener, dials v0 nodes, keeps the v0 links, and
 * routes their messages (LegacyRouter). v0 peers are low privilege: PING, DISCOVER, DHT-in-DATA and the services
 * listed in `legacy.services` (default: echo); VPN, IOU, contracts, streams and cache requests are refused.
 */
import { connect, type Socket } from 'node:net'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Identity } from '../../crypto/identity.js'
import type { Clock } from '../../interfaces/clock.js'
import { systemClock } from '../../interfaces/clock.js'
import type { Endpoint, LegacyHandler, LegacyLink, LegacyRouter } from '../../interfaces/link.js'
import type { Logger } from '../../interfaces/logger.js'
import { silentLogger } from '../../interfaces/logger.js'
import { AbortedError, TimeoutError, ZeoneError } from '../../util/errors.js'
import { pyFloat } from '../../wire/legacy-json.js'
import type { LegacyEnvelope } from '../../wire/legacy.js'
import type { LegacyConfig } from './config.js'
import { LegacyConnection } from './connection.js'
import { NonceCache } from './nonce-cache.js'

/** Message types v0 peers may never use with us. */
export const LEGACY_FORBIDDEN = new Set(['VPN_CONNECT', 'VPN_CONNECT_RESULT', 'VPN_DATA', 'VPN_CLOSE', 'IOU', 'IOU_ACK',
  'CONTRACT', 'CONTRACT_RESULT', 'STREAM', 'CACHE_REQUEST', 'CACHE_RESPONSE'])
/** Most peers put in one PEER_LIST, and most untrusted candidates remembered from others' PEER_LISTs. */
const MAX_PEER_LIST = 50
const MAX_CANDIDATES = 256

export interface AdvertisedPeer { nodeId: string; host: string; port: number; version: number }

export interface LegacyBridgeInit {
  identity: Identity
  config: LegacyConfig
  logger?: Logger
  metrics?: Registry
  clock?: Clock
  /** Peers with verified listening addresses (never ephemeral source ports) to put in PEER_LIST. */
  knownPeers?: () => AdvertisedPeer[]
}

type DhtHandler = (request: Record<string, unknown>, link: LegacyLink) => Promise<Record<string, unknown>>

export class LegacyBridge implements LegacyRouter {
  #init: LegacyBridgeInit
  #clock: Clock
  #logger: Logger
  #conns = new Set<LegacyConnection>()
  #byId = new Map<string, LegacyConnection>()
  #handlers = new Map<string, LegacyHandler>()
  #dht: DhtHandler | undefined
  #nonces: NonceCache
  #stopped = false
  #self: Endpoint | undefined
  /** Peers others told us about: unverified candidates, never re-advertised. */
  readonly candidates = new Map<string, { host: string; port: number; seen: number }>()
  #mMsgs: Counter<'direction' | 'type'> | undefined
  #mRefused: Counter<'reason'> | undefined

  constructor(init: LegacyBridgeInit) {
    this.#init = init
    this.#clock = init.clock ?? systemClock
    this.#logger = init.logger ?? silentLogger
    this.#nonces = new NonceCache(2 * init.config.maxSkewMs + 5000)
    if (init.metrics) {
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

  /** Ready v0 links. */
  links(): LegacyConnection[] { return [...this.#byId.values()] }
  get(nodeIdB64: string): LegacyConnection | undefined { return this.#byId.get(nodeIdB64) }

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
    return this.#byId.get(conn.peer.nodeIdB64) ?? conn
  }

  #create(socket: Socket, outbound: boolean, remoteAddr: Endpoint, dialedAddr?: Endpoint): LegacyConnection {
    const conn = new LegacyConnection({
      socket, identity: this.#init.identity, outbound, remoteAddr, ...(dialedAddr ? { dialedAddr } : {}),
      config: this.#init.config, clock: this.#clock, nonces: this.#nonces,
      onMessage: (env, c) => this.#dispatch(env, c),
      onRefusal: (reason) => this.#refused(reason),
      onTraffic: (direction, type) => this.#mMsgs?.inc({ direction, type }),
    })
    this.#conns.add(conn)
    conn.ready.then(() => {
      const id = conn.peer.nodeIdB64
      const existing = this.#byId.get(id)
      if (existing && !existing.closed) { conn.close('duplicate connection'); return }
      this.#byId.set(id, conn)
      this.#logger.info({ peer: id, outbound, addr: `${remoteAddr.host}:${remoteAddr.port}` }, 'legacy peer connected')
    }, () => {})
    conn.onClose((reason) => {
      this.#conns.delete(conn)
      if (conn.isReady || this.#byId.get(conn.peer?.nodeIdB64 ?? '') === conn) this.#byId.delete(conn.peer.nodeIdB64)
      this.#logger.debug({ reason }, 'legacy connection closed')
    })
    return conn
  }

  #refused(reason: string): void {
    this.#mRefused?.inc({ reason })
    this.#logger.debug({ reason }, 'legacy message refused')
  }

  #dispatch(env: LegacyEnvelope, conn: LegacyConnection): void {
    if (LEGACY_FORBIDDEN.has(env.type)) { this.#refused('not_permitted'); return }
    if (env.type === 'DISCOVER') { this.#peerList(env, conn); return }
    if (env.type === 'PEER_LIST') { this.#rememberCandidates(env); return }
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
    if (!this.#dht || typeof req !== 'object' || req === null || Array.isArray(req)) { this.#refused('unhandled_dht'); return }
    this.#dht(req as Record<string, unknown>, conn).then((resp) => {
      if (!conn.closed) conn.send('DATA', { dht: true, dht_response: resp, nonce })
    }, (err: unknown) => this.#refused(err instanceof ZeoneError ? err.code : 'dht_handler_error'))
  }

  #peerList(env: LegacyEnvelope, conn: LegacyConnection): void {
    const asked = Number(env.payload.max_peers)
    const max = Number.isInteger(asked) && asked > 0 ? Math.min(asked, MAX_PEER_LIST) : 20
    const nowS = this.#clock.now() / 1000
    const known = (this.#init.knownPeers?.() ?? []).filter((p) => p.nodeId !== conn.peer.nodeIdB64)
    const peers = known.slice(0, max).map((p) => ({ node_id: p.nodeId, host: p.host, port: p.port, trust_score: pyFloat(0.5), last_seen: pyFloat(nowS) }))
    conn.send('PEER_LIST', { peers, total_known: known.length })
  }

  #rememberCandidates(env: LegacyEnvelope): void {
    const peers = env.payload.peers
    if (!Array.isArray(peers)) { this.#refused('bad_peer_list'); return }
    for (const p of peers.slice(0, MAX_PEER_LIST)) {
      if (!p || typeof p !== 'object') continue
      const { node_id: id, host, port } = p as Record<string, unknown>
      if (typeof id !== 'string' || typeof host !== 'string' || host.length > 255 || !Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) continue
      if (id === this.#init.identity.nodeIdB64) continue
      if (this.candidates.size >= MAX_CANDIDATES && !this.candidates.has(id)) {
        const oldest = this.candidates.keys().next().value
        if (oldest !== undefined) this.candidates.delete(oldest)
      }
      this.candidates.delete(id)
      this.candidates.set(id, { host, port: port as number, seen: this.#clock.now() })
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
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
