/**
 * A byte pacer for VPN bandwidth limits: a token bucket that may go into debt and says how long to wait, so a
 * stream pauses instead of dropping data. Pure: time comes from the caller. Rate 0 = unlimited.
 */
export class Pacer {
  #tokens: number
  #last: number
  constructor(readonly bytesPerSec: number, readonly burst: number, now: number) {
    this.#tokens = burst
    this.#last = now
  }

  /** Takes `n` bytes; returns the ms to wait before carrying more (0 = go on). */
  take(n: number, now: number): number {
    if (this.bytesPerSec <= 0) return 0
    const elapsed = Math.max(0, now - this.#last)
    this.#last = now
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.bytesPerSec) / 1000) - n
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 1000) / this.bytesPerSec)
  }
}
