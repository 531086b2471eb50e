/**
 * The punched paths a NAT service holds (each a udx stream on a socket: the service's own, or an extra socket of the
 * birthday approach or a synchronised pair), and the one way a path is let go: stop answering late nominations,
 * destroy its stream, close its socket unless it is the shared primary one. `releaseAll()` (the service's stop) closes
 * every extra socket too, which the old per-call-site copies of this release forgot for paths still held at stop.
 * A path through a TURN allocation carries the allocation's release as `also`: the same release frees it.
 */
import type { DatagramSocket } from './socket.js'
import type { PunchedPath } from './punch/session.js'

export class PathSet {
  readonly #held = new Set<PunchedPath>()
  readonly #released = new WeakSet<PunchedPath>()
  readonly #also = new WeakMap<PunchedPath, () => Promise<void>>()
  readonly #primary: () => DatagramSocket | undefined

  /** `primary`: the service's shared socket, never closed with a path. */
  constructor(primary: () => DatagramSocket | undefined) { this.#primary = primary }

  get size(): number { return this.#held.size }

  /** `also`: what else the path holds (a TURN allocation), freed by the same release. */
  hold(path: PunchedPath, also?: () => Promise<void>): void {
    this.#held.add(path)
    if (also) this.#also.set(path, also)
    // surfaced through the link's close; an 'error' without a listener would end the process
    path.stream.on('error', () => {})
  }

  /** Releases `path` (held or not, e.g. a race's loser); a second call does nothing. Resolves once its socket closed. */
  release(path: PunchedPath): Promise<void> {
    this.#held.delete(path)
    if (this.#released.has(path)) return Promise.resolve()
    this.#released.add(path)
    path.dispose()
    path.stream.destroy()
    const also = this.#also.get(path)?.().catch(() => {})
    const socket = path.socket !== this.#primary() ? path.socket.close().catch(() => {}) : undefined
    return Promise.all([also, socket]).then(() => {})
  }

  async releaseAll(): Promise<void> {
    const all = [...this.#held]
    await Promise.all(all.map((p) => this.release(p)))
  }
}
