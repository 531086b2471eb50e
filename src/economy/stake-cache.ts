/**
 * Stake lookups for trust weighting: the settlement client's StakeSource (ctx.services 'stake') is async and
 * remote, trust checks are synchronous; so answers are cached for `ttlMs` and refreshed in the background.
 * Never derived from ledger balances. Undefined (= config defaultStake) until the first answer arrives.
 */
import type { StakeSource } from '../interfaces/services.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import { toHex } from '../util/bytes.js'

export interface StakeCacheInit {
  source: () => StakeSource | undefined
  now: () => number
  /** @default 600000 */
  ttlMs?: number
  /** @default 10000 */
  maxEntries?: number
  logger?: Logger
}

export class StakeCache {
  #init: StakeCacheInit
  #entries = new Map<string, { stake: bigint; at: number }>()
  #inflight = new Set<string>()

  constructor(init: StakeCacheInit) { this.#init = init }

  /** Forgets every answer (a stake changed on chain): the next lookups re-read, so a change counts promptly. */
  invalidate(): void { this.#entries.clear() }

  get(peer: Uint8Array): bigint | undefined {
    const k = toHex(peer)
    const e = this.#entries.get(k)
    const fresh = e !== undefined && this.#init.now() - e.at < (this.#init.ttlMs ?? 600_000)
    if (!fresh) this.#refresh(k, peer)
    return e?.stake
  }

  #refresh(k: string, peer: Uint8Array): void {
    const src = this.#init.source()
    if (!src || this.#inflight.has(k) || this.#inflight.size >= 256) return
    this.#inflight.add(k)
    src.stakeOf(new Uint8Array(peer)).then((stake) => {
      if (this.#entries.size >= (this.#init.maxEntries ?? 10_000)) this.#entries.clear()
      this.#entries.set(k, { stake, at: this.#init.now() })
    }, (err) => {
      (this.#init.logger ?? silentLogger).debug({ err: (err as Error).message }, 'stake lookup failed; using the default stake')
    }).finally(() => this.#inflight.delete(k))
  }
}
