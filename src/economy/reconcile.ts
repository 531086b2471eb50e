/**
 * Pure reconciliation rule (docs/protocol/economy.md §4). The claimant C says it served `claimed` credits to the
 * attester R; R answers with what it metered as received (`attested`). The receiver's count is authoritative for
 * delivered data; C moves its own `served` counter to `attested` only when it can explain the difference:
 *   - equal: 'ok'
 *   - within tolerance (abs + ppm of the counter): 'tolerance'
 *   - C restarted uncleanly since R last confirmed its counter (lost un-flushed metering): 'crash_recovery',
 *     up to maxRecovery
 *   - R got less, a link to R dropped since the last confirmation, and the shortfall is no larger than what C
 *     served since that confirmation (frames lost in flight, or metering R lost in its own crash): 'link_loss'
 * Anything else is 'unexplained': recorded, NOT applied.
 */
export type ReconcileReason = 'ok' | 'tolerance' | 'crash_recovery' | 'link_loss' | 'unexplained'

export interface ReconcileInput {
  /** C's served counter when it sent the claim. */
  claimed: bigint
  /** R's consumed counter when the claim arrived. */
  attested: bigint
  /** C's served counter as R last confirmed it. */
  confirmed: bigint
  droppedSinceConfirm: boolean
  crashedSinceConfirm: boolean
  toleranceAbs: bigint
  tolerancePpm: bigint
  maxRecovery: bigint
}

export interface ReconcileDecision { reason: ReconcileReason; accepted: boolean; delta: bigint }

export function reconcile(i: ReconcileInput): ReconcileDecision {
  const delta = i.attested - i.claimed
  if (delta === 0n) return { reason: 'ok', accepted: true, delta }
  const abs = delta < 0n ? -delta : delta
  const tol = i.toleranceAbs + (i.claimed * i.tolerancePpm) / 1_000_000n
  if (abs <= tol) return { reason: 'tolerance', accepted: true, delta }
  if (i.crashedSinceConfirm && abs <= i.maxRecovery) return { reason: 'crash_recovery', accepted: true, delta }
  if (delta < 0n && i.droppedSinceConfirm && abs <= i.claimed - i.confirmed) return { reason: 'link_loss', accepted: true, delta }
  return { reason: 'unexplained', accepted: false, delta }
}
