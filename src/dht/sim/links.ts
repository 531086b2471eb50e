/**
 * The simulator's link layer: which node pairs hold an open connection, and what opening one costs. A request to a
 * peer without an open link first pays the connection setup (TCP SYN/SYN-ACK, then HELLO/HELLO_ACK: 2 RTTs by
 * default; the handshake's VERIFY rides with the request), and concurrent requests wait for the same setup. Links
 * close when idle for `idleMs` (no DHT message either way), and every node holds at most `maxConnections`: a new one
 * closes the least recently active link idle for `evictIdleMs` or more (the transport's admission rule); a node that
 * is full with nothing idle enough refuses the inbound connection (the dial fails after one RTT). No timers: expiry is
 * checked when a link is used or counted.
 */

export interface LinkModel {
  /** Extra RTTs the first request on a new link pays. @default 2 */
  connectRtts: number
  /** Open connections per node. @default 256 (transport maxConnections) */
  maxConnections: number
  /** A link with no message for this long is closed. @default 90000 (transport idleTimeoutMs) */
  idleMs: number
  /** When full, only a link idle this long may be closed for a newcomer. @default 10000 (transport evictIdleMs) */
  evictIdleMs: number
}

export const defaultLinkModel: LinkModel = { connectRtts: 2, maxConnections: 256, idleMs: 90_000, evictIdleMs: 10_000 }

interface Link { a: number; b: number; readyAt: number; lastActive: number; closed: boolean }

export type Prepared = { delayMs: number } | { refused: true }

export class SimLinks {
  readonly #byNode = new Map<number, Map<number, Link>>()
  setups = 0
  reuses = 0
  refused = 0
  evicted = 0

  constructor(readonly model: LinkModel) {}

  /**
   * Called when `from` sends a request to `to` at `now` with round-trip `rtt`: returns how long the request waits
   * for a link (0 when one is open), or that `to` refused the connection. A dial to a node that is gone is the
   * caller's business (no link forms; the request times out).
   */
  prepare(from: number, to: number, now: number, rtt: number, toOnline: boolean): Prepared {
    const cur = this.#get(from, to, now)
    if (cur) {
      this.reuses++
      cur.lastActive = Math.max(cur.lastActive, now)
      return { delayMs: Math.max(0, cur.readyAt - now) }
    }
    if (this.model.connectRtts <= 0) {
      this.#open(from, to, now)
      return { delayMs: 0 }
    }
    if (!toOnline) return { delayMs: 0 }
    if (!this.#room(to, now, true)) { this.refused++; return { refused: true } }
    this.#room(from, now, false)
    this.setups++
    const setup = this.model.connectRtts * rtt
    this.#open(from, to, now + setup)
    return { delayMs: setup }
  }

  /** A message crossed the link (the answer): it counts as activity on both ends. */
  touch(from: number, to: number, now: number): void {
    const l = this.#byNode.get(from)?.get(to)
    if (l && !l.closed) l.lastActive = Math.max(l.lastActive, now)
  }

  /** Whether `a` and `b` hold an open link at `now`. */
  open(a: number, b: number, now: number): boolean { return this.#get(a, b, now) !== undefined }

  /** A node left: its links are gone (the peers notice when their next request times out). */
  drop(node: number): void {
    const mine = this.#byNode.get(node)
    if (!mine) return
    for (const [peer, l] of mine) { l.closed = true; this.#byNode.get(peer)?.delete(node) }
    this.#byNode.delete(node)
  }

  /** Open links of one node (after expiring idle ones). */
  count(node: number, now: number): number {
    this.#expire(node, now)
    return this.#byNode.get(node)?.size ?? 0
  }

  #get(a: number, b: number, now: number): Link | undefined {
    const l = this.#byNode.get(a)?.get(b)
    if (!l) return undefined
    if (l.closed || (l.readyAt <= now && now - l.lastActive >= this.model.idleMs)) { this.#close(l); return undefined }
    return l
  }

  #open(a: number, b: number, readyAt: number): void {
    const l: Link = { a, b, readyAt, lastActive: readyAt, closed: false }
    this.#map(a).set(b, l)
    this.#map(b).set(a, l)
  }

  #map(n: number): Map<number, Link> {
    let m = this.#byNode.get(n)
    if (!m) { m = new Map(); this.#byNode.set(n, m) }
    return m
  }

  #close(l: Link): void {
    l.closed = true
    this.#byNode.get(l.a)?.delete(l.b)
    this.#byNode.get(l.b)?.delete(l.a)
  }

  #expire(node: number, now: number): void {
    const m = this.#byNode.get(node)
    if (!m) return
    for (const l of [...m.values()]) if (l.readyAt <= now && now - l.lastActive >= this.model.idleMs) this.#close(l)
  }

  /**
   * Makes room for one more link at `node`: closes its least recently active link idle for `evictIdleMs`. Returns
   * false when the node is full and nothing may be closed (an inbound connection is then refused; an outbound one
   * goes ahead, as the transport does not cap its own dials).
   */
  #room(node: number, now: number, inbound: boolean): boolean {
    const m = this.#byNode.get(node)
    if (!m || m.size < this.model.maxConnections) return true
    this.#expire(node, now)
    if (m.size < this.model.maxConnections) return true
    let victim: Link | undefined
    for (const l of m.values()) {
      if (l.readyAt > now || now - l.lastActive < this.model.evictIdleMs) continue
      if (!victim || l.lastActive < victim.lastActive) victim = l
    }
    if (!victim) return !inbound
    this.evicted++
    this.#close(victim)
    return true
  }
}
