/**
 * The frames of an established connection, both ways: per-peer message and byte rate limits, reserved-type checks,
 * BATCH unpacking, metrics and wire taps, and activity stamps for idle eviction. Kept apart from the manager so the
 * same path serves every stream kind.
 */
import type { Clock } from '../interfaces/clock.js'
import type { Link, RemotePeer } from '../interfaces/link.js'
import type { FrameEvent } from '../interfaces/node-context.js'
import { ZeoneError } from '../util/errors.js'
import { forEachBatchItem, SessionType } from '../wire/batch.js'
import { MessageType } from '../wire/message-types.js'
import type { TransportConfig } from './config.js'
import type { Connection } from './connection.js'
import { TokenBucket } from './limits.js'
import type { TransportMetrics } from './metrics.js'
import type { FrameSink, RpcLink } from './rpc-link.js'

/** Messages that keep a link alive but do not make it active (they cost an idle attacker nothing). */
export const CORE_TYPES = new Set<number>([MessageType.PING, MessageType.PONG, MessageType.DISCOVER, MessageType.PEER_LIST])

/** What the frame path keeps per connection. */
export interface FrameState { link?: RpcLink; lastActive: number; msgs?: TokenBucket; bytes?: TokenBucket }

export interface FramePathDeps {
  clock: Clock
  limits: TransportConfig['limits']
  metrics: TransportMetrics
  taps: ReadonlySet<(ev: FrameEvent) => void>
  stateOf(conn: Connection): FrameState | undefined
  /** A peer broke a rule: counted and struck (see the manager's bans). */
  refuse(link: Link, reason: string): void
}

export class FramePath {
  readonly #d: FramePathDeps
  constructor(deps: FramePathDeps) { this.#d = deps }

  /** The outbound side of a link carried by `conn`. */
  sink(conn: Connection, peer: RemotePeer): FrameSink {
    const count = (type: number, n: number): void => {
      this.#active(conn, type)
      this.#d.metrics.frame(type, 'out', n)
      if (this.#d.taps.size) this.#tap({ peer, direction: 'out', type, bytes: n })
    }
    return {
      sendFrame: (type, pt) => {
        count(type, pt.byteLength - (pt[0] === 0 ? 1 : 5))
        return conn.sendFrame(type, pt)
      },
      sendFrameParts: (type, parts) => {
        let n = -(parts[0]![0] === 0 ? 1 : 5)
        for (const p of parts) n += p.byteLength
        count(type, n)
        return conn.sendFrameParts(type, parts)
      },
      whenWritable: () => conn.whenWritable(),
      close: (reason) => conn.close(reason),
    }
  }

  /** A decrypted frame arrived on `conn`. */
  frame(conn: Connection, type: number, pt: Buffer, release?: () => void): void {
    const st = this.#d.stateOf(conn)
    const link = st?.link
    if (!st || !link || link.closed) return
    if (type !== SessionType.BATCH) return this.#deliver(st, link, type, pt, release)
    try {
      forEachBatchItem(pt, (t, envelope) => { if (!link.closed) this.#deliver(st, link, t, envelope) })
    } catch (err) {
      this.#d.refuse(link, err instanceof ZeoneError ? err.code : 'bad_batch')
    }
  }

  #deliver(st: FrameState, link: RpcLink, type: number, pt: Uint8Array, release?: () => void): void {
    const now = this.#d.clock.now()
    const l = this.#d.limits
    st.msgs ??= new TokenBucket(l.messagesPerSec, l.messageBurst, now)
    st.bytes ??= new TokenBucket(l.bytesPerSec, l.byteBurst, now)
    if (!st.msgs.take(1, now) || !st.bytes.take(pt.byteLength, now)) return this.#d.refuse(link, 'rate_limited')
    if (type === 0 || type >= 0x80 || (type >= MessageType.HELLO && type <= MessageType.VERIFY) || type === SessionType.BATCH) {
      return this.#d.refuse(link, 'unknown_type')
    }
    const body = pt.byteLength - (pt[0] === 0 ? 1 : 5)
    if (!CORE_TYPES.has(type)) st.lastActive = now
    this.#d.metrics.frame(type, 'in', body)
    if (this.#d.taps.size) this.#tap({ peer: link.peer, direction: 'in', type, bytes: body })
    try {
      link.receiveFrame(type, pt, release)
    } catch (err) {
      this.#d.refuse(link, err instanceof ZeoneError ? err.code : 'bad_envelope')
    }
  }

  #active(conn: Connection, type: number): void {
    if (CORE_TYPES.has(type)) return
    const st = this.#d.stateOf(conn)
    if (st) st.lastActive = this.#d.clock.now()
  }

  #tap(ev: FrameEvent): void {
    for (const cb of this.#d.taps) { try { cb(ev) } catch { /* an observer must not break the wire */ } }
  }
}
