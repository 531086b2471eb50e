/**
 * A publisher's standing for the record store's eviction order (store.ts): its stake, looked up through the
 * node's StakeSource in the background and cached, because the store decides synchronously on every STORE. An
 * unknown publisher counts 0 until its stake arrives, so a lookup never delays or blocks a write.
 */
import type { StakeSource } from '../interfaces/services.js'
import { toHex } from '../util/bytes.js'

/** Publishers whose stake is remembered at once (the oldest entry goes first). */
const MAX_CACHED = 4096
/** How long a looked-up stake is trusted before it is fetched again. */
const STAKE_TTL_MS = 10 * 60_000
/** Stake lookups in flight at once. */
const MAX_IN_FLIGHT = 8

export function stakeStanding(source: () => StakeSource | undefined, now: () => number = Date.now): (publisher: Uint8Array) => number {
  const cache = new Map<string, { standing: number; at: number }>()
  let inFlight = 0
  const fetch = (hex: string, publisher: Uint8Array): void => {
    const s = source()
    if (!s || inFlight >= MAX_IN_FLIGHT) return
    inFlight++
    s.stakeOf(publisher).then((stake) => {
      if (cache.size >= MAX_CACHED && !cache.has(hex)) cache.delete(cache.keys().next().value!)
      // only the order matters: log2 keeps the number finite for any bigint stake
      cache.set(hex, { standing: stake > 0n ? stake.toString(2).length : 0, at: now() })
    }, () => { /* no chain: standing stays 0 */ }).finally(() => { inFlight-- })
  }
  return (publisher) => {
    const hex = toHex(publisher)
    const e = cache.get(hex)
    if (!e || now() - e.at > STAKE_TTL_MS) fetch(hex, publisher)
    return e?.standing ?? 0
  }
}
