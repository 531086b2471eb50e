/**
 * Discrete-event virtual clock for the simulator: `setTimeout` queues an event in a binary heap; `run` pops every
 * event due at the earliest time, runs them, then lets every microtask chain settle (one setImmediate) before moving
 * time on, so promise-based DHT code runs unchanged in virtual time. One macrotask per distinct instant (not per
 * event) is what lets 10,000 nodes run in minutes: with many operations in flight most instants hold many events.
 */
import type { Clock } from '../../interfaces/clock.js'

interface Ev { at: number; seq: number; cb: () => void; cancelled: boolean }

export class VirtualClock implements Clock {
  #t: number
  #seq = 0
  #heap: Ev[] = []
  events = 0

  constructor(start = 1_700_000_000_000) { this.#t = start }

  now(): number { return this.#t }

  setTimeout(cb: () => void, ms: number): { cancel(): void } {
    const ev: Ev = { at: this.#t + Math.max(0, ms), seq: this.#seq++, cb, cancelled: false }
    this.#push(ev)
    return { cancel: () => { ev.cancelled = true } }
  }

  get pending(): number { return this.#heap.length }

  /** Runs events until none is left, or until `done()` is true. */
  async run(done?: () => boolean): Promise<void> {
    const tick = (): Promise<void> => new Promise((r) => setImmediate(r))
    await tick()
    while (this.#heap.length > 0) {
      if (done?.()) return
      if (this.#heap[0]!.cancelled) { this.#pop(); continue }
      const at = this.#heap[0]!.at
      this.#t = at
      let ran = 0
      while (this.#heap.length > 0 && this.#heap[0]!.at === at) {
        const ev = this.#pop()
        if (ev.cancelled) continue
        this.events++
        ran++
        ev.cb()
      }
      if (ran > 0) await tick()
    }
  }

  #less(a: Ev, b: Ev): boolean { return a.at < b.at || (a.at === b.at && a.seq < b.seq) }

  #push(ev: Ev): void {
    const h = this.#heap
    h.push(ev)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.#less(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }

  #pop(): Ev {
    const h = this.#heap
    const top = h[0]!
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && this.#less(h[l]!, h[m]!)) m = l
        if (r < h.length && this.#less(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m]!, h[i]!]
        i = m
      }
    }
    return top
  }
}
