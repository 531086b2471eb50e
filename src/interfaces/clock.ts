/** Injected time source, so logic can be driven by a fake clock in tests and by the DHT simulator. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number
  setTimeout(cb: () => void, ms: number): { cancel(): void }
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(cb, ms) {
    const t = setTimeout(cb, ms)
    t.unref?.()
    return { cancel: () => clearTimeout(t) }
  },
}
