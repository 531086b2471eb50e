/**
 * Liveness of the links NAT traversal made (punched UDX, TURN, relayed): a relay that dies or silently black-holes
 * leaves a link that looks open (UDX retransmits for a long time, a relay link never sees a FIN). Every
 * `intervalMs` a link that received nothing since the last round is asked for a NAT_ECHO; `misses` unanswered
 * probes in a row (each waited for `timeoutMs`) and the link is closed as dead, so nothing keeps using it and the
 * service can route around it. Inbound bytes count as proof of life: a busy link costs no probes.
 */
import type { Clock } from '../interfaces/clock.js'
import type { Link } from '../interfaces/link.js'

export interface LivenessInit {
  clock: Clock
  intervalMs: number
  timeoutMs: number
  misses: number
  /** One probe over `link`; resolves when answered, rejects when not within `timeoutMs`. */
  probe: (link: Link, timeoutMs: number) => Promise<void>
  /** The link was declared dead (it is closed right after this returns). */
  onDead: (link: Link, reason: string) => void
}

interface Watched { link: Link; heard: boolean; missed: number; probing: boolean; lastOk: number; progress?: () => number; seen: number }

/** The reason a link closed for want of answers. */
export const DEAD_REASON = 'path_dead'

export class LinkLiveness {
  readonly #init: LivenessInit
  readonly #links = new Map<Link, Watched>()
  #timer: { cancel(): void } | undefined
  #stopped = false

  constructor(init: LivenessInit) { this.#init = init }

  /**
   * Watches `link` until it closes. `heard()` (returned) records inbound traffic, which counts as an answer; so does
   * a change of `progress()` between rounds (a counter of what the path moved: bytes read, acknowledged packets), for
   * a stream that reads without 'data' events or a side that mostly sends (its probes wait behind its own data).
   */
  watch(link: Link, progress?: () => number): () => void {
    const w: Watched = { link, heard: false, missed: 0, probing: false, lastOk: this.#init.clock.now(), ...(progress ? { progress } : {}), seen: progress?.() ?? 0 }
    this.#links.set(link, w)
    link.onClose(() => { this.#links.delete(link) })
    this.#schedule()
    return () => { w.heard = true }
  }

  get watched(): number { return this.#links.size }

  /**
   * Is `link` alive now? A link heard from within the last interval is; otherwise one probe decides (and a link
   * that fails it is closed as dead). What `connect` asks before answering "already connected".
   */
  async check(link: Link): Promise<boolean> {
    if (link.closed) return false
    const w = this.#links.get(link)
    if (!w) return true // not a link we watch (plain TCP): the transport's own keep-alive covers it
    if (w.heard || this.#init.clock.now() - w.lastOk < this.#init.intervalMs) return true
    try {
      await this.#init.probe(link, this.#init.timeoutMs)
      w.missed = 0
      w.lastOk = this.#init.clock.now()
      return !link.closed
    } catch {
      this.#dead(w, 'no answer to a liveness probe')
      return false
    }
  }

  #schedule(): void {
    if (this.#timer || this.#stopped || this.#links.size === 0) return
    this.#timer = this.#init.clock.setTimeout(() => { this.#timer = undefined; this.#round() }, this.#init.intervalMs)
  }

  #round(): void {
    const now = this.#init.clock.now()
    for (const w of this.#links.values()) {
      if (w.link.closed) { this.#links.delete(w.link); continue }
      if (w.progress) { const v = w.progress(); if (v !== w.seen) { w.seen = v; w.heard = true } }
      if (w.heard) { w.heard = false; w.missed = 0; w.lastOk = now; continue }
      if (w.probing) continue
      w.probing = true
      this.#init.probe(w.link, this.#init.timeoutMs).then(
        () => { w.probing = false; w.missed = 0; w.lastOk = this.#init.clock.now() },
        () => {
          w.probing = false
          // traffic that came while the probe waited is an answer too (a reply queued behind bulk data)
          if (w.progress && w.progress() !== w.seen) { w.seen = w.progress(); w.heard = true }
          if (w.heard) return
          if (++w.missed >= this.#init.misses) this.#dead(w, `no answer to ${w.missed} liveness probes`)
        },
      )
    }
    this.#schedule()
  }

  #dead(w: Watched, why: string): void {
    if (!this.#links.delete(w.link) || w.link.closed) return
    this.#init.onDead(w.link, why) // first: it may look at what the link ran over, gone once it is closed
    w.link.close(`${DEAD_REASON}: ${why}`)
  }

  stop(): void {
    this.#stopped = true
    this.#timer?.cancel()
    this.#timer = undefined
    this.#links.clear()
  }
}
