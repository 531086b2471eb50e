/**
 * One v0 connection: framing, signature/age/replay checks, the PING/PONG handshake that binds the sender id to the
 * connection, BALANCE_CLAIM/ACK, keep-alive, and DHT-in-DATA requests. Implements LegacyLink.
 *
 * Why this file is long: one v0 connection's state (handshake binding, checks, keep-alive, pending requests) is shared
 * by every part of it; framing and JSON parsing live in src/wire.
 */
import type { Socket } from 'node:net'
import type { Identity } from '../../crypto/identity.js'
import { dhtIdOf } from '../../crypto/identity.js'
import { randomBytes, verify } from '../../crypto/sign.js'
import type { Clock } from '../../interfaces/clock.js'
import type { Endpoint, LegacyLink, LegacyMessage, RemotePeer, RequestOptions } from '../../interfaces/link.js'
import { AbortedError, TimeoutError, ZeoneError } from '../../util/errors.js'
import { decodeLegacyMessage, encodeLegacyFrame, encodeLegacyMessage, LegacyFrameDecoder, verifyLegacyMessage, type LegacyEnvelope, type OversizeFrame } from '../../wire/legacy.js'
import { LinkClosedError } from '../errors.js'
import { TokenBucket } from '../limits.js'
import type { LegacyConfig } from './config.js'
import type { NonceCache } from './nonce-cache.js'

/** Invalid messages tolerated before the connection is closed. */
const MAX_INVALID = 8
/** Pending DHT requests and pings per connection. */
const MAX_PENDING = 256
/** Close a peer that does not read: bytes queued in the socket. */
const MAX_WRITE_QUEUE = 8 << 20

export interface LegacyConnectionInit {
  socket: Socket
  identity: Identity
  outbound: boolean
  remoteAddr: Endpoint
  /** The address we dialed (outbound only): the peer's verified listening address. */
  dialedAddr?: Endpoint
  config: LegacyConfig
  clock: Clock
  nonces: NonceCache
  /** A verified, in-session message the connection does not handle itself. */
  onMessage: (env: LegacyEnvelope, conn: LegacyConnection, frameBytes: number) => void
  /** Every refused message or connection, with a reason label. */
  onRefusal: (reason: string, conn: LegacyConnection) => void
  onTraffic?: (direction: 'in' | 'out', type: string) => void
  /** Called synchronously when the handshake has bound the peer, before any later message is handled. */
  onReady?: (conn: LegacyConnection) => void
  /** A frame over the cap that was skipped (not buffered): the bridge answers it with an error where v0 has one. */
  onOversize?: (frame: OversizeFrame, conn: LegacyConnection) => void
  /**
   * Our listening address for the `sender_host`/`sender_port` fields v0 DHT requests must carry (a v1.2.4 handler
   * fails without them). A wildcard host is replaced by the local address of this connection.
   */
  selfAddress?: () => Endpoint | undefined
}

interface Pending { resolve(v: unknown): void; reject(e: Error): void }

export class LegacyConnection implements LegacyLink {
  #init: LegacyConnectionInit
  #decoder: LegacyFrameDecoder
  #peer: RemotePeer | undefined
  #closed = false
  #closeReason = ''
  #invalid = 0
  #lastRecv: number
  #lastSend: number
  #pingNonce = ''
  #pending = new Map<string, Pending>()
  #closeListeners = new Set<(reason: string) => void>()
  #ready: Promise<void>
  #readyResolve!: () => void
  #readyReject!: (e: Error) => void
  #timer: NodeJS.Timeout | undefined
  #handshakeTimer: { cancel(): void } | undefined
  #msgBucket: TokenBucket
  #byteBucket: TokenBucket
  /** Bytes of JSON (frame bodies) of verified messages received, and of all messages sent: the v0 claim totals. */
  bytesIn = 0
  bytesOut = 0

  constructor(init: LegacyConnectionInit) {
    this.#init = init
    this.#decoder = new LegacyFrameDecoder(init.config.maxFrameBytes, Math.max(init.config.maxFrameBytes, init.config.maxSkippedFrameBytes))
    this.#lastRecv = this.#lastSend = init.clock.now()
    this.#msgBucket = new TokenBucket(init.config.messagesPerSec, init.config.messageBurst, this.#lastRecv)
    this.#byteBucket = new TokenBucket(init.config.bytesPerSec, init.config.byteBurst, this.#lastRecv)
    this.#ready = new Promise((resolve, reject) => { this.#readyResolve = resolve; this.#readyReject = reject })
    this.#ready.catch(() => {})
    const s = init.socket
    s.setNoDelay(true)
    s.on('data', (c: Buffer) => this.push(c))
    s.on('error', (err) => this.close(`socket error: ${err.message}`))
    s.on('close', () => this.close('remote closed'))
    this.#handshakeTimer = init.clock.setTimeout(() => { if (!this.#peer) this.#refuse('handshake_timeout', true) }, init.config.handshakeTimeoutMs)
    this.#timer = setInterval(() => this.#tick(), Math.max(50, Math.min(init.config.keepAliveMs, init.config.idleTimeoutMs) / 3))
    this.#timer.unref()
    if (init.outbound) {
      this.#pingNonce = this.#send('PING', {})
    }
  }

  /** Resolves once the PING/PONG handshake has bound the peer's identity. */
  get ready(): Promise<void> { return this.#ready }
  get closed(): boolean { return this.#closed }
  get closeReason(): string { return this.#closeReason }
  get peer(): RemotePeer {
    if (!this.#peer) throw new ZeoneError('not_ready', 'legacy handshake not complete')
    return this.#peer
  }
  get isReady(): boolean { return this.#peer !== undefined && !this.#closed }
  /** The handshake bound a peer (true also after close). */
  get isBound(): boolean { return this.#peer !== undefined }

  /** Feeds bytes read from the socket (also used for the bytes a listener already consumed). */
  push(chunk: Uint8Array): void {
    if (this.#closed) return
    let frames: Array<Uint8Array | OversizeFrame>
    try {
      frames = this.#decoder.pushItems(chunk)
    } catch (err) {
      this.#refuse((err as ZeoneError).code ?? 'legacy_frame', true)
      return
    }
    for (const f of frames) {
      if (this.#closed) return
      if (f instanceof Uint8Array) this.#onFrame(f)
      else this.#onOversize(f)
    }
  }

  #onOversize(f: OversizeFrame): void {
    const t = this.#init.clock.now()
    const okMsgs = this.#msgBucket.take(1, t)
    if (!this.#byteBucket.take(f.declared, t) || !okMsgs) { this.#refuse('rate_limited'); return }
    this.#init.onRefusal('frame_too_large', this)
    if (!this.#peer) { this.close('frame_too_large'); return }
    this.#lastRecv = t
    this.#init.onOversize?.(f, this)
  }

  #onFrame(body: Uint8Array): void {
    const t = this.#init.clock.now()
    // both buckets are charged: a flood costs its sender, not our CPU (no parse or signature check when over)
    const okMsgs = this.#msgBucket.take(1, t)
    if (!this.#byteBucket.take(body.byteLength, t) || !okMsgs) { this.#refuse('rate_limited'); return }
    let env: LegacyEnvelope
    try {
      env = decodeLegacyMessage(body)
    } catch (err) {
      this.#refuse((err as ZeoneError).code ?? 'legacy_decode')
      return
    }
    if (!verifyLegacyMessage(env, verify)) { this.#refuse('bad_signature'); return }
    const now = this.#init.clock.now()
    const tsMs = env.timestamp * 1000
    if (now - tsMs > this.#init.config.maxSkewMs) { this.#refuse('too_old'); return }
    if (tsMs - now > this.#init.config.maxSkewMs) { this.#refuse('future_timestamp'); return }
    if (this.#peer && env.senderId !== this.#peer.nodeIdB64) { this.#refuse('sender_mismatch'); return }
    if (!this.#init.nonces.add(`${env.senderId}/${env.nonce}`, now)) { this.#refuse('replay'); return }
    this.#lastRecv = now
    this.bytesIn += body.byteLength
    this.#init.onTraffic?.('in', env.type)
    if (!this.#peer) { this.#handshake(env); return }
    switch (env.type) {
      case 'PING':
        this.#send('PONG', { original_nonce: env.nonce, ping_timestamp: env.raw.timestamp })
        return
      case 'PONG': {
        const key = `ping:${String(env.payload.original_nonce)}`
        this.#pending.get(key)?.resolve(env)
        return
      }
      case 'DATA':
        if (env.payload.dht === true && env.payload.dht_response !== undefined && typeof env.payload.nonce === 'string') {
          const p = this.#pending.get(`dht:${env.payload.nonce}`)
          if (p) { p.resolve(env.payload.dht_response); return }
          return
        }
        break
    }
    this.#init.onMessage(env, this, body.byteLength)
  }

  #handshake(env: LegacyEnvelope): void {
    const self = this.#init.identity.nodeIdB64
    if (env.senderId === self) { this.#refuse('self_connection', true); return }
    if (this.#init.outbound) {
      if (env.type !== 'PONG' || env.payload.original_nonce !== this.#pingNonce) { this.#refuse('handshake', true); return }
      this.#bind(env)
    } else {
      if (env.type !== 'PING') { this.#refuse('handshake', true); return }
      this.#bind(env)
      this.#send('PONG', { original_nonce: env.nonce, ping_timestamp: env.raw.timestamp })
    }
    this.#init.onReady?.(this)
    this.#readyResolve()
  }

  #bind(env: LegacyEnvelope): void {
    const nodeId = new Uint8Array(Buffer.from(env.senderId, 'base64'))
    this.#handshakeTimer?.cancel()
    this.#peer = {
      nodeId, nodeIdB64: env.senderId, dhtId: dhtIdOf(nodeId), remoteAddr: this.#init.remoteAddr,
      ...(this.#init.dialedAddr ? { listenAddr: this.#init.dialedAddr } : {}),
      version: 0, capabilities: new Set(['LEGACY']), outbound: this.#init.outbound,
    }
  }

  #refuse(reason: string, fatal = false): void {
    this.#init.onRefusal(reason, this)
    if (fatal || ++this.#invalid >= MAX_INVALID) this.close(fatal ? reason : 'too many invalid messages')
  }

  #send(type: string, payload: Record<string, unknown>, nonce?: string): string {
    if (this.#closed) throw new LinkClosedError(this.#closeReason || 'closed')
    const n = nonce ?? Buffer.from(randomBytes(16)).toString('base64')
    const json = encodeLegacyMessage(this.#init.identity, type, payload, this.#init.clock.now() / 1000, n)
    const frame = encodeLegacyFrame(json, this.#init.config.maxFrameBytes)
    this.bytesOut += frame.byteLength - 4
    this.#init.socket.write(frame)
    if (this.#init.socket.writableLength > MAX_WRITE_QUEUE) this.close('peer not reading')
    this.#lastSend = this.#init.clock.now()
    this.#init.onTraffic?.('out', type)
    return n
  }

  send(type: string, payload: Record<string, unknown>, nonce?: string): void {
    if (!this.#peer) throw new ZeoneError('not_ready', 'legacy handshake not complete')
    this.#send(type, payload, nonce)
  }

  /** Sends PING and resolves with the round-trip time in ms. */
  ping(opts: RequestOptions = {}): Promise<number> {
    const start = performance.now()
    const nonce = Buffer.from(randomBytes(16)).toString('base64')
    const p = this.#await(`ping:${nonce}`, opts)
    this.send('PING', {}, nonce)
    return p.then(() => performance.now() - start)
  }

  /** The sender fields every v0 DHT request carries: our DHT id and listening address. */
  senderFields(): { sender_id: string; sender_host: string; sender_port: number } {
    const self = this.#init.selfAddress?.()
    let host = self?.host ?? ''
    if (host === '' || host === '0.0.0.0' || host === '::') host = this.#init.socket.localAddress ?? '0.0.0.0'
    if (host.startsWith('::ffff:')) host = host.slice(7)
    return { sender_id: this.#init.identity.dhtIdHex, sender_host: host, sender_port: self?.port ?? 0 }
  }

  dhtRequest(request: Record<string, unknown>, opts: RequestOptions = {}): Promise<Record<string, unknown>> {
    const nonce = Buffer.from(randomBytes(12)).toString('base64')
    const p = this.#await(`dht:${nonce}`, opts)
    try {
      this.send('DATA', { dht: true, dht_request: { ...request, ...this.senderFields() }, nonce }, nonce)
    } catch (err) {
      this.#pending.get(`dht:${nonce}`)?.reject(err as Error)
    }
    return p.then((v) => {
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ZeoneError('legacy_dht', 'malformed dht_response')
      return v as Record<string, unknown>
    })
  }

  #await(key: string, opts: RequestOptions): Promise<unknown> {
    if (this.#closed) return Promise.reject(new LinkClosedError(this.#closeReason))
    if (opts.signal?.aborted) return Promise.reject(new AbortedError())
    if (this.#pending.size >= MAX_PENDING) return Promise.reject(new ZeoneError('too_many_pending', 'too many pending legacy requests'))
    return new Promise((resolve, reject) => {
      const ms = opts.timeoutMs ?? 5000
      const t = this.#init.clock.setTimeout(() => { done(); reject(new TimeoutError(`legacy request timed out after ${ms} ms`)) }, ms)
      const onAbort = (): void => { done(); reject(new AbortedError()) }
      const done = (): void => { t.cancel(); opts.signal?.removeEventListener('abort', onAbort); this.#pending.delete(key) }
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      this.#pending.set(key, { resolve: (v) => { done(); resolve(v) }, reject: (e) => { done(); reject(e) } })
    })
  }

  #tick(): void {
    if (this.#closed) return
    const now = this.#init.clock.now()
    if (now - this.#lastRecv > this.#init.config.idleTimeoutMs) { this.close('idle timeout'); return }
    if (this.#peer && now - Math.max(this.#lastRecv, this.#lastSend) >= this.#init.config.keepAliveMs) {
      try { this.#send('PING', {}) } catch { /* closing */ }
    }
  }

  close(reason = 'closed locally'): void {
    if (this.#closed) return
    this.#closed = true
    this.#closeReason = reason
    if (this.#timer) clearInterval(this.#timer)
    this.#handshakeTimer?.cancel()
    this.#init.socket.destroy()
    const err = new LinkClosedError(reason)
    this.#readyReject(err)
    for (const p of [...this.#pending.values()]) p.reject(err)
    this.#pending.clear()
    for (const cb of [...this.#closeListeners]) { try { cb(reason) } catch { /* keep notifying */ } }
    this.#closeListeners.clear()
  }

  onClose(cb: (reason: string) => void): () => void {
    if (this.#closed) { queueMicrotask(() => cb(this.#closeReason)); return () => {} }
    this.#closeListeners.add(cb)
    return () => this.#closeListeners.delete(cb)
  }

  /**
   * The handler-facing view of a message. `rawPayload` (not part of LegacyMessage) keeps the parsed tree with exact
   * number text, for handlers that must echo values back byte for byte.
   */
  static toMessage(env: LegacyEnvelope): LegacyMessage & { rawPayload: unknown } {
    return { type: env.type, payload: env.payload, senderId: env.senderId, timestamp: env.timestamp, nonce: env.nonce, rawPayload: env.raw.payload }
  }
}

