/**
 * Trust scoring (docs/protocol/economy.md §5). Behaviour score T in [0,1] by EMA over interaction outcomes:
 * each whitepaper event e with delta d_e becomes an observation x = 1 (d_e > 0) or 0 (d_e < 0) folded in with its
 * own smoothing factor a_e = alpha * |d_e| / D, where D = 0.1 is the largest delta of the table:
 *     T <- T + a_e * (x - T)
 * So with alpha = 0.1 the step equals the whitepaper delta at the far end of the scale (T = 0 for a good event,
 * T = 1 for a bad one) and shrinks toward the bound, keeping T inside [0,1] without clamping. Inactivity decays
 * T by decayPerDay per day (applied lazily). Slashing events set T = 0 and blacklist for good.
 * Effective trust weights by stake: T_eff = T * sqrt(stake / base_stake).
 */
import type { TrustEvent, TrustSink } from '../interfaces/trust.js'
import type { LedgerStore } from './ledger-store.js'

export const EVENT_DELTAS: Readonly<Record<Exclude<TrustEvent, SlashingEvent>, number>> = {
  successful_transfer: 0.01,
  failed_transfer: -0.05,
  valid_message: 0.001,
  invalid_message: -0.02,
  iou_created: 0.005,
  iou_redeemed: 0.02,
  iou_defaulted: -0.1,
  ping_responded: 0.001,
  ping_timeout: -0.01,
  debt_repaid: 0.02,
  excessive_debt: -0.03,
  invalid_inference: -0.1,
}
export type SlashingEvent = 'invalid_merkle_proof' | 'signature_forgery' | 'double_spend'
export const SLASHING_EVENTS: ReadonlySet<TrustEvent> = new Set<TrustEvent>(['invalid_merkle_proof', 'signature_forgery', 'double_spend'])
const D_MAX = 0.1
const DAY_MS = 86_400_000

export interface TrustParams {
  /** @default 0.1 */ alpha: number
  /** @default 0.5 */ initial: number
  /** @default 0.1 */ min: number
  /** @default 0.99 */ decayPerDay: number
}

export interface TrustState { score: number; lastMs: number; blacklisted: boolean; events: number; reason: string }

/** Pure: the score after `days` without interaction. */
export function decayed(score: number, elapsedMs: number, decayPerDay: number): number {
  if (elapsedMs <= 0) return score
  return score * decayPerDay ** (elapsedMs / DAY_MS)
}

/** Pure: folds one event into a state observed at `nowMs`. */
export function applyEvent(s: TrustState, event: TrustEvent, nowMs: number, p: TrustParams, detail = ''): TrustState {
  if (s.blacklisted) return { ...s, lastMs: nowMs, events: s.events + 1 }
  if (SLASHING_EVENTS.has(event)) return { score: 0, lastMs: nowMs, blacklisted: true, events: s.events + 1, reason: detail ? `${event}: ${detail}` : event }
  const d = EVENT_DELTAS[event as keyof typeof EVENT_DELTAS]
  if (d === undefined) return s
  const t = decayed(s.score, nowMs - s.lastMs, p.decayPerDay)
  const a = p.alpha * Math.abs(d) / D_MAX
  const x = d > 0 ? 1 : 0
  const score = Math.min(1, Math.max(0, t + a * (x - t)))
  return { score, lastMs: nowMs, blacklisted: false, events: s.events + 1, reason: s.reason }
}

/** Pure: T_eff = T * sqrt(stake / base). Computed in floating point from bigint wei (ratio first, exact enough). */
export function stakeWeight(stake: bigint, base: bigint): number {
  if (base <= 0n) return 1
  if (stake <= 0n) return 0
  // scale the ratio to 1e-9 resolution before leaving bigint
  const ratio = Number((stake * 1_000_000_000n) / base) / 1e9
  return Math.sqrt(ratio)
}

export interface TrustBookInit {
  store: LedgerStore
  params: TrustParams
  now: () => number
  /** Returns the cached stake (ZEO wei) of a peer. */
  stakeOf: (peer: Uint8Array) => bigint
  baseStake: bigint
  /** Cap of in-memory states. @default 50000 */
  maxCached?: number
}

export interface TrustView { behavior: number; effective: number; stake: bigint; blacklisted: boolean; events: number; reason: string }

/** Trust states of every peer, persisted through the ledger store (group-committed with it). Implements TrustSink. */
export class TrustBook implements TrustSink {
  #init: TrustBookInit
  #cache = new Map<string, TrustState>()
  #max: number

  constructor(init: TrustBookInit) {
    this.#init = init
    this.#max = init.maxCached ?? 50_000
  }

  #get(peer: Uint8Array): TrustState {
    const k = Buffer.from(peer).toString('hex')
    let s = this.#cache.get(k)
    if (s) return s
    const row = this.#init.store.getTrust(peer)
    s = row ? { score: row.score, lastMs: row.lastMs, blacklisted: row.blacklisted, events: row.events, reason: row.reason }
      : { score: this.#init.params.initial, lastMs: this.#init.now(), blacklisted: false, events: 0, reason: '' }
    if (this.#cache.size >= this.#max) this.#cache.clear()
    this.#cache.set(k, s)
    return s
  }

  report(peer: Uint8Array, event: TrustEvent, detail?: string): void {
    // lower layers may still report while the node stops: a closed ledger takes no more events
    if (peer.byteLength !== 32 || this.#init.store.closed) return
    const next = applyEvent(this.#get(peer), event, this.#init.now(), this.#init.params, detail)
    this.#cache.set(Buffer.from(peer).toString('hex'), next)
    this.#init.store.putTrust({ peer, ...next })
  }

  view(peer: Uint8Array): TrustView {
    const s = this.#get(peer)
    const behavior = s.blacklisted ? 0 : decayed(s.score, this.#init.now() - s.lastMs, this.#init.params.decayPerDay)
    const stake = this.#init.stakeOf(peer)
    return { behavior, effective: behavior * stakeWeight(stake, this.#init.baseStake), stake, blacklisted: s.blacklisted, events: s.events, reason: s.reason }
  }

  /** True when the peer is blacklisted or its effective trust is below T_min. */
  restricted(peer: Uint8Array): boolean {
    const v = this.view(peer)
    return v.blacklisted || v.effective < this.#init.params.min
  }

  /** Drops the in-memory cache (after a crash-reopen in tests). */
  reset(): void { this.#cache.clear() }
}
