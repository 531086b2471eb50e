/** Prometheus metrics of the economy layer (registered on the node's registry; reused across restarts). */
import { Counter, Gauge, type Registry } from 'prom-client'

export interface EconomyEvents {
  /** A cheque sent ('out') or received ('in', result = accepted | duplicate | refusal code). */
  cheque(direction: 'in' | 'out', result: string): void
  /** A reconciliation outcome (claimant side) or a provider statement (attester side). */
  divergence(reason: string): void
  /** A UsageMeter.authorize refusal ('debt_limit' | 'low_trust'). */
  refusal(code: string): void
  /** A ledger flush that could not save everything (retried at the next flush). */
  flushFailure(): void
}

export const nullEvents: EconomyEvents = { cheque() {}, divergence() {}, refusal() {}, flushFailure() {} }

const sources = new WeakMap<Registry, () => number>()
const balanceSources = new WeakMap<Registry, () => { owedToUs: bigint; weOwe: bigint }>()

function reuse<T>(reg: Registry, name: string, make: () => T): T {
  return (reg.getSingleMetric(name) as T | undefined) ?? make()
}

/** Metrics bound to `reg`; `pending` reports the ledger's un-flushed entries at scrape time. */
/** `balances` sums what peers owe us and what we owe them (micro-credits), read at scrape time. */
export function economyMetrics(reg: Registry, pending: () => number, balances?: () => { owedToUs: bigint; weOwe: bigint }): EconomyEvents {
  const registers = [reg]
  const cheques = reuse(reg, 'zeone_economy_cheques_total', () => new Counter({ name: 'zeone_economy_cheques_total', help: 'Cheques by direction and result', labelNames: ['direction', 'result'] as const, registers }))
  const divergences = reuse(reg, 'zeone_economy_reconciliations_total', () => new Counter({ name: 'zeone_economy_reconciliations_total', help: 'Balance reconciliations with a difference, by reason', labelNames: ['reason'] as const, registers }))
  const refusals = reuse(reg, 'zeone_economy_refusals_total', () => new Counter({ name: 'zeone_economy_refusals_total', help: 'Peers refused service, by reason', labelNames: ['code'] as const, registers }))
  const flushFailures = reuse(reg, 'zeone_economy_ledger_flush_failures_total', () => new Counter({ name: 'zeone_economy_ledger_flush_failures_total', help: 'Ledger flushes that could not save every entry (kept pending and retried)', registers }))
  // the gauge outlives a restart of the layer in the same process: it reads whichever ledger attached last
  sources.set(reg, pending)
  reuse(reg, 'zeone_economy_ledger_pending', () => new Gauge({
    name: 'zeone_economy_ledger_pending', help: 'Ledger entries waiting for the next group commit', registers,
    collect() { try { this.set(sources.get(reg)?.() ?? 0) } catch { /* ledger closed */ } },
  }))
  if (balances) balanceSources.set(reg, balances)
  reuse(reg, 'zeone_economy_balance_microcredits', () => new Gauge({
    name: 'zeone_economy_balance_microcredits', help: 'Sum of credit balances with peers: side="owed_to_us" (peers owe us) or "we_owe"', labelNames: ['side'] as const, registers,
    collect() {
      try {
        const b = balanceSources.get(reg)?.()
        if (b) { this.set({ side: 'owed_to_us' }, Number(b.owedToUs)); this.set({ side: 'we_owe' }, Number(b.weOwe)) }
      } catch { /* ledger closed */ }
    },
  }))
  return {
    cheque: (direction, result) => cheques.inc({ direction, result }),
    divergence: (reason) => divergences.inc({ reason }),
    refusal: (code) => refusals.inc({ code }),
    flushFailure: () => flushFailures.inc(),
  }
}
