/** Core messages every link speaks (docs/protocol.md §5): PING/PONG keep-alive and RTT, DISCOVER/PEER_LIST. */
import { performance } from 'node:perf_hooks'
import type { Identity } from '../crypto/identity.js'
import type { Clock } from '../interfaces/clock.js'
import type { Inbound, Link } from '../interfaces/link.js'
import { equalBytes } from '../util/bytes.js'
import { ZeoneError } from '../util/errors.js'
import { decodeDiscover, decodePeerList, decodePing, decodePong, encodeDiscover, encodePeerList, encodePing, encodePong } from '../wire/core-messages.js'
import { MessageType } from '../wire/message-types.js'
import { safeErrorText } from '../wire/error-codes.js'
import type { PeerBook } from './peer-book.js'
import { encodeError } from './rpc-link.js'

export interface CoreProtocolInit {
  identity: Identity
  clock: Clock
  book: PeerBook
  maxSkewMs: number
  peerListSize: number
  links: () => Link[]
  refuse: (link: Link, reason: string) => void
  /** Counts a refusal without penalising the peer. */
  count: (reason: string) => void
}

export class CoreProtocol {
  readonly #i: CoreProtocolInit
  readonly #pinging = new WeakSet<Link>()
  constructor(init: CoreProtocolInit) { this.#i = init }

  /** Handles PING and DISCOVER here; everything else goes to the router. */
  dispatch(m: Inbound, router: { dispatch(msg: Inbound): void; has?(type: number): boolean }): void {
    if (m.type === MessageType.PING) return this.#onPing(m)
    if (m.type === MessageType.DISCOVER) return this.#onDiscover(m)
    // a type nobody handles is counted (no strike: a newer peer may speak types we do not); the router answers it
    if (router.has && !router.has(m.type)) this.#i.count('unhandled_type')
    router.dispatch(m)
  }

  async ping(link: Link, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<number> {
    const t0 = performance.now()
    const ts = this.#i.clock.now()
    const r = await link.request(MessageType.PING, encodePing({ timestamp: ts }), opts)
    if (r.type !== MessageType.PONG) throw new ZeoneError('bad_reply', `PING answered with type ${r.type}`)
    if (decodePong(r.body).timestamp !== ts) throw new ZeoneError('bad_reply', 'PONG does not echo our timestamp')
    return performance.now() - t0
  }

  /** Sends one keep-alive PING unless one is already out. */
  keepAlive(link: Link): void {
    if (this.#pinging.has(link)) return
    this.#pinging.add(link)
    this.ping(link, { timeoutMs: 10_000 }).catch(() => {}).finally(() => this.#pinging.delete(link))
  }

  /** Asks the peer for its peers and records them as heard-of. */
  discover(link: Link): void {
    link.request(MessageType.DISCOVER, encodeDiscover({ max: this.#i.peerListSize }), { timeoutMs: 10_000 })
      .then((r) => {
        if (r.type !== MessageType.PEER_LIST) return
        let list
        try { list = decodePeerList(r.body) } catch { this.#i.refuse(link, 'bad_message'); return }
        for (const p of list.peers.slice(0, this.#i.peerListSize)) {
          if (p.port === 0 || equalBytes(p.node_id, this.#i.identity.publicKey)) continue
          this.#i.book.heard(p.node_id, p.host, p.port)
        }
      })
      .catch(() => { /* old peer or closed link: discovery is best effort */ })
  }

  #onPing(m: Inbound): void {
    let ts: number
    try { ts = decodePing(m.body).timestamp } catch (err) { return this.#bad(m, 'bad_message', err) }
    const now = this.#i.clock.now()
    if (ts < now - this.#i.maxSkewMs || ts > now + this.#i.maxSkewMs) return this.#bad(m, 'stale_timestamp')
    const pong = encodePong({ timestamp: ts })
    if (m.reply) m.reply(MessageType.PONG, pong)
    else m.link.send(MessageType.PONG, pong)
  }

  #onDiscover(m: Inbound): void {
    let max: number
    try { max = decodeDiscover(m.body).max } catch (err) { return this.#bad(m, 'bad_message', err) }
    const n = Math.min(max, this.#i.peerListSize)
    const exclude = new Set([m.link.peer.nodeIdB64])
    const peers = this.#i.book.pick(n, exclude).filter((p) => p.lastSeen > 0)
      .map((p) => ({ node_id: p.nodeId, host: p.host, port: p.port }))
    m.reply?.(MessageType.PEER_LIST, encodePeerList({ peers }))
  }

  #bad(m: Inbound, reason: string, err?: unknown): void {
    this.#i.refuse(m.link, reason)
    m.reply?.(MessageType.ERROR, encodeError(reason, err instanceof Error ? safeErrorText(err.message) : reason))
  }
}
