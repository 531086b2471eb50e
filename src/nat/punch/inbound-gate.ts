/**
 * Admission for punch attempts a peer asks us for (NAT_SIGNAL_DELIVER). Each one makes us send datagrams and hold a
 * punch slot, so a caller gets one attempt in flight at a time and a token bucket of attempts, and all callers share
 * a global bucket: an attacker with one identity cannot hold the slots an honest peer needs, and many identities
 * together are capped. Token buckets run on the injected clock.
 */
import type { Clock } from '../../interfaces/clock.js'
import { KeyedBuckets, TokenBucket } from '../../transport/limits.js'

export interface InboundGateLimits {
  /** Attempts one peer may start in a burst. */
  perPeerBurst: number
  /** Attempts per minute one peer regains. */
  perPeerPerMinute: number
  /** Attempts all peers together may start in a burst. */
  globalBurst: number
  /** Attempts per minute all peers together regain. */
  globalPerMinute: number
}

export type Admission = { ok: true; release: () => void } | { ok: false; reason: 'rate_limited' }

/** Peers tracked by the per-peer buckets (least recently used evicted). */
const MAX_PEERS = 4096

export class InboundPunchGate {
  readonly #perPeer: KeyedBuckets
  readonly #global: TokenBucket
  readonly #inFlight = new Set<string>()
  readonly #clock: Clock

  constructor(limits: InboundGateLimits, clock: Clock) {
    this.#clock = clock
    this.#perPeer = new KeyedBuckets(limits.perPeerPerMinute / 60, limits.perPeerBurst, MAX_PEERS)
    this.#global = new TokenBucket(limits.globalPerMinute / 60, limits.globalBurst, clock.now())
  }

  /**
   * Admits one attempt on behalf of `peers` (the signer of the offer and the link that delivered it: both are held
   * to the limits). Returns a release to call when the attempt ends.
   */
  admit(peers: readonly string[]): Admission {
    const keys = [...new Set(peers)]
    if (keys.some((k) => this.#inFlight.has(k))) return { ok: false, reason: 'rate_limited' }
    const now = this.#clock.now()
    for (const k of keys) if (!this.#perPeer.take(k, 1, now)) return { ok: false, reason: 'rate_limited' }
    if (!this.#global.take(1, now)) return { ok: false, reason: 'rate_limited' }
    for (const k of keys) this.#inFlight.add(k)
    let released = false
    return {
      ok: true,
      release: () => {
        if (released) return
        released = true
        for (const k of keys) this.#inFlight.delete(k)
      },
    }
  }

  /** Attempts in flight (peers holding one). */
  get inFlight(): number { return this.#inFlight.size }
}
