/** Per-peer token buckets for DHT writes (STORE, ADD_PROVIDER), with a bounded number of tracked peers. */
export class PeerRateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>()
  readonly #perMs: number

  /** `perMinute` writes per peer, bursting up to the same number; `maxPeers` tracked (oldest forgotten first). */
  constructor(private readonly perMinute: number, private readonly maxPeers = 4096) {
    this.#perMs = perMinute / 60_000
  }

  /** Takes one token for `peer`; false when its bucket is empty. */
  take(peer: string, now: number): boolean {
    let b = this.#buckets.get(peer)
    if (b) {
      b.tokens = Math.min(this.perMinute, b.tokens + (now - b.at) * this.#perMs)
      b.at = now
    } else {
      b = { tokens: this.perMinute, at: now }
      this.#buckets.set(peer, b)
      if (this.#buckets.size > this.maxPeers) this.#buckets.delete(this.#buckets.keys().next().value!)
    }
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }

  get size(): number { return this.#buckets.size }
}
