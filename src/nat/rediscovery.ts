/**
 * When the node re-runs NAT discovery: once at start, every `periodMs`, sooner after an 'unknown' answer (a lost
 * probe), and on demand (`discover(true)`, `zeone nat --refresh`). Also merges each round with the one before (see
 * `mergeFiltering`). The round itself (`run`) is injected, so the schedule is testable with a fake clock.
 */
import type { Clock } from '../interfaces/clock.js'
import type { FilteringBehavior, NatBehavior } from './discovery.js'

const STRICTNESS: Record<FilteringBehavior, number> = {
  unknown: -1, 'endpoint-independent': 0, 'address-dependent': 1, 'address-port-dependent': 2,
}

/**
 * A later round on the SAME mapping (same public address) cannot see stricter-than-observed filtering: the mapping
 * tests of the earlier round sent from this very socket to the STUN server's alternate address, so an
 * address-restricted NAT now admits that address's CHANGE-REQUEST replies and looks like full cone. The node must
 * keep its one socket (the mapping is the one it punches with), so instead a looser answer never replaces a stricter
 * one while the mapping is unchanged; a new public address means a new NAT binding, whose answer is taken as is.
 */
export function mergeFiltering(prev: NatBehavior | undefined, next: NatBehavior): NatBehavior {
  if (!prev || prev.publicAddr.host !== next.publicAddr.host || prev.publicAddr.port !== next.publicAddr.port) return next
  if (next.filtering === 'unknown' || STRICTNESS[prev.filtering] <= STRICTNESS[next.filtering]) return next
  return { ...next, filtering: prev.filtering }
}

export interface RediscoveryInit {
  run: () => Promise<NatBehavior>
  clock: Clock
  periodMs: number
  /** First retry delay after an 'unknown' mapping/filtering or a failed round; tripled each time, capped at periodMs. */
  retryMs?: number
  onError?: (err: unknown) => void
}

export class NatRediscovery {
  readonly #init: RediscoveryInit
  #behavior: NatBehavior | undefined
  #inflight: Promise<NatBehavior> | undefined
  #timer: { cancel(): void } | undefined
  #retries = 0
  #running = false

  constructor(init: RediscoveryInit) { this.#init = init }

  get behavior(): NatBehavior | undefined { return this.#behavior }

  /** Starts the periodic schedule with a first round now. */
  start(): void {
    this.#running = true
    this.discover(true).catch((err: unknown) => this.#init.onError?.(err))
  }

  stop(): void { this.#running = false; this.#timer?.cancel(); this.#timer = undefined }

  /** The cached behaviour, or a new round when `refresh` (or nothing is cached). A round in flight is shared. */
  discover(refresh = false): Promise<NatBehavior> {
    if (this.#inflight) return this.#inflight
    if (!refresh && this.#behavior) return Promise.resolve(this.#behavior)
    this.#timer?.cancel(); this.#timer = undefined
    const round = (async () => {
      try {
        const b = mergeFiltering(this.#behavior, await this.#init.run())
        this.#behavior = b
        const unknown = b.mapping === 'unknown' || b.filtering === 'unknown'
        this.#schedule(unknown)
        return b
      } catch (err) {
        this.#schedule(true)
        throw err
      } finally { this.#inflight = undefined }
    })()
    this.#inflight = round
    return round
  }

  #schedule(retrySoon: boolean): void {
    if (!this.#running) return
    const { periodMs, retryMs = 5000 } = this.#init
    const ms = retrySoon ? Math.min(retryMs * 3 ** this.#retries++, periodMs) : periodMs
    if (!retrySoon) this.#retries = 0
    this.#timer?.cancel()
    this.#timer = this.#init.clock.setTimeout(() => {
      this.#timer = undefined
      this.discover(true).catch((err: unknown) => this.#init.onError?.(err))
    }, ms)
  }
}
