/**
 * Rate limits and bans: token buckets keyed by IP or node id, and a ban list whose ban period doubles each time a
 * key is banned again. Every map is capped (oldest entries evicted) so hostile churn cannot grow memory.
 */

export class TokenBucket {
  #tokens: number
  #last: number
  constructor(readonly ratePerSec: number, readonly burst: number, now: number) {
    this.#tokens = burst
    this.#last = now
  }

  /** Takes `n` tokens if available. A request larger than the burst is allowed only from a full bucket. */
  take(n: number, now: number): boolean {
    const elapsed = Math.max(0, now - this.#last)
    this.#last = now
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.ratePerSec) / 1000)
    if (this.#tokens >= n || this.#tokens >= this.burst) {
      this.#tokens -= n
      return true
    }
    return false
  }
}

/** Buckets per key, at most `maxKeys` of them (least recently used evicted). */
export class KeyedBuckets {
  readonly #map = new Map<string, TokenBucket>()
  constructor(readonly ratePerSec: number, readonly burst: number, readonly maxKeys = 10_000) {}

  take(key: string, n: number, now: number): boolean {
    let b = this.#map.get(key)
    if (b) {
      this.#map.delete(key)
    } else {
      b = new TokenBucket(this.ratePerSec, this.burst, now)
      if (this.#map.size >= this.maxKeys) this.#map.delete(this.#map.keys().next().value!)
    }
    this.#map.set(key, b)
    return b.take(n, now)
  }

  delete(key: string): void { this.#map.delete(key) }
  get size(): number { return this.#map.size }
}

export interface BanListInit {
  /** Invalid-input strikes within `windowMs` that trigger a ban. */
  strikes: number
  windowMs: number
  /** First ban period; each further ban of the same key doubles it, up to banMaxMs. */
  banBaseMs: number
  banMaxMs: number
  /** @default 10000 */
  maxKeys?: number
}

interface Entry { strikes: number; windowStart: number; bans: number; bannedUntil: number }

export class BanList {
  readonly #map = new Map<string, Entry>()
  constructor(readonly init: BanListInit) {}

  /** Records one strike; returns the ban duration in ms if this strike banned the key, else 0. */
  strike(key: string, now: number): number {
    const e = this.#get(key, now)
    if (now - e.windowStart > this.init.windowMs) { e.windowStart = now; e.strikes = 0 }
    e.strikes++
    if (e.strikes < this.init.strikes || e.bannedUntil > now) return 0
    const dur = Math.min(this.init.banMaxMs, this.init.banBaseMs * 2 ** e.bans)
    e.bans++
    e.strikes = 0
    e.bannedUntil = now + dur
    return dur
  }

  isBanned(key: string, now: number): boolean {
    const e = this.#map.get(key)
    return e !== undefined && e.bannedUntil > now
  }

  /** Remaining ban in ms (0 if none). */
  remaining(key: string, now: number): number {
    const e = this.#map.get(key)
    return e ? Math.max(0, e.bannedUntil - now) : 0
  }

  get size(): number { return this.#map.size }

  #get(key: string, now: number): Entry {
    let e = this.#map.get(key)
    if (e) return e
    if (this.#map.size >= (this.init.maxKeys ?? 10_000)) {
      // evict the oldest entry that is not banned; if all are banned, the oldest
      let victim: string | undefined
      for (const [k, v] of this.#map) { if (v.bannedUntil <= now) { victim = k; break } }
      this.#map.delete(victim ?? this.#map.keys().next().value!)
    }
    e = { strikes: 0, windowStart: now, bans: 0, bannedUntil: 0 }
    this.#map.set(key, e)
    return e
  }
}
