/**
 * Keeps an exit's provider record under `service:vpn_exit` fresh. It announces at start, again each time the routing
 * table has doubled until it holds `filledAt` contacts, and once it has (an announcement made while the table is
 * near empty lands on the few nodes known then, not on the k closest to the key, so lookups from the rest of the
 * network miss it; a small network never reaches k, hence the doubling), and every `intervalMs` after that,
 * each time with a freshly built record (the stake read from the chain may have changed, the price with the config).
 * Pure scheduling: time comes from `tick(now)`, which attach.ts calls from a timer.
 */
import type { ProviderDirectory } from '../../interfaces/providers.js'
import { VPN_EXIT_KEY } from './market.js'

export interface AnnouncerInit {
  providers: ProviderDirectory
  /** Builds the announcement body (market.ts encodeAnnouncement). */
  build: () => Promise<Uint8Array>
  /** Contacts in the routing table now. */
  tableSize: () => number
  /** The table counts as filled at this many contacts (the DHT's k). */
  filledAt: number
  /** Re-announce at least this often. */
  intervalMs: number
  onError?: (err: Error) => void
  onAnnounce?: (why: string) => void
}

export class ExitAnnouncer {
  readonly init: AnnouncerInit
  /** Table size when the last announcement went out; -1 before the first. */
  #sizeAtLast = -1
  #lastAt = 0
  #busy = false
  announcements = 0

  constructor(init: AnnouncerInit) { this.init = init }

  /** Why an announcement is due now, or undefined. */
  due(now: number): string | undefined {
    if (this.#sizeAtLast < 0) return 'start'
    const size = this.init.tableSize()
    if (this.#sizeAtLast < this.init.filledAt && size >= this.init.filledAt) return 'table_filled'
    if (this.#sizeAtLast < this.init.filledAt && size >= Math.max(1, 2 * this.#sizeAtLast)) return 'table_grew'
    if (now - this.#lastAt >= this.init.intervalMs) return 'interval'
    return undefined
  }

  /** Announces when due (one announcement at a time). */
  async tick(now: number): Promise<void> {
    if (this.#busy) return
    const why = this.due(now)
    if (!why) return
    this.#busy = true
    this.#sizeAtLast = this.init.tableSize()
    this.#lastAt = now
    try {
      const body = await this.init.build()
      this.announcements++
      this.init.onAnnounce?.(why)
      await this.init.providers.provide(VPN_EXIT_KEY, body)
    } catch (err) {
      this.init.onError?.(err as Error)
    } finally {
      this.#busy = false
    }
  }
}
