/** Seen (sender, nonce) pairs with a TTL and a hard cap, so a replayed v0 message is refused. */
export class NonceCache {
  #seen = new Map<string, number>()
  constructor(readonly ttlMs: number, readonly cap = 100_000) {}

  /** Returns false if the pair was seen within the TTL; otherwise records it. */
  add(key: string, now: number): boolean {
    const exp = this.#seen.get(key)
    if (exp !== undefined && exp > now) return false
    if (this.#seen.size >= this.cap) this.#evict(now)
    this.#seen.set(key, now + this.ttlMs)
    return true
  }

  get size(): number { return this.#seen.size }

  #evict(now: number): void {
    for (const [k, exp] of this.#seen) if (exp <= now) this.#seen.delete(k)
    // still full of live entries: drop the oldest (insertion order); messages that old are refused by age anyway
    const excess = this.#seen.size - Math.floor(this.cap * 0.9)
    if (excess <= 0) return
    let n = 0
    for (const k of this.#seen.keys()) { if (n++ >= excess) break; this.#seen.delete(k) }
  }
}
