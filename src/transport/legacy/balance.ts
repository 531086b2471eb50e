/**
 * v0 BALANCE_CLAIM accounting (sans-I/O). A v1.2.4 node claims the bytes of JSON it sent to and received from a
 * peer (`total_sent`, `total_received`, `claimed_balance` = sent - received) and answers a claim with
 * `status: "agreed"` or logs a dispute. We meter the same thing per peer (all its connections, open and closed) and
 * judge each claim against our meter. A claim is evidence only: it never creates credit and never raises what we
 * owe (ARCHITECTURE.md); a disagreement is counted, logged and reported to trust as a low-weight event.
 */

/** Status strings of BALANCE_ACK. */
export const CLAIM_AGREED = 'agreed'
export const CLAIM_DISPUTED = 'disputed'
export type ClaimStatus = typeof CLAIM_AGREED | typeof CLAIM_DISPUTED

export interface ByteTotals { sent: number; received: number }

/** Largest total a claim may carry (above it the claim is malformed): 2^53, what a float counts exactly. */
const MAX_TOTAL = Number.MAX_SAFE_INTEGER

export interface ParsedClaim { totalSent: number; totalReceived: number; claimedBalance: number }

/** Reads a BALANCE_CLAIM payload; undefined when a field is missing, not a number, negative or absurd. */
export function parseClaim(p: Record<string, unknown>): ParsedClaim | undefined {
  const n = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_TOTAL ? v : undefined)
  const sent = n(p.total_sent)
  const received = n(p.total_received)
  const bal = typeof p.claimed_balance === 'number' && Number.isFinite(p.claimed_balance) ? p.claimed_balance : undefined
  if (sent === undefined || received === undefined || bal === undefined) return undefined
  return { totalSent: sent, totalReceived: received, claimedBalance: bal }
}

export interface ClaimJudgement {
  status: ClaimStatus
  /** What the peer says it sent minus what we received from it before its claim. */
  sentDiff: number
  /** What the peer says it received minus what we sent it. */
  receivedDiff: number
}

/**
 * Judges a peer's claim against our meter. `ours.received` must exclude the claim's own frame. Frames in flight
 * (on any of the peer's connections) make exact equality impossible, hence the tolerance.
 */
export function judgeClaim(claim: ParsedClaim, ours: ByteTotals, toleranceBytes: number): ClaimJudgement {
  const sentDiff = claim.totalSent - ours.received
  const receivedDiff = claim.totalReceived - ours.sent
  const ok = Math.abs(sentDiff) <= toleranceBytes && Math.abs(receivedDiff) <= toleranceBytes
  return { status: ok ? CLAIM_AGREED : CLAIM_DISPUTED, sentDiff, receivedDiff }
}

export interface ClaimEvidence { at: number; status: ClaimStatus; claim: ParsedClaim; ours: ByteTotals }

/**
 * Per-peer byte totals of closed connections (open ones are summed live by the bridge) and the last judged claim
 * of each peer, both bounded: the least recently touched peer is forgotten beyond `cap`.
 */
export class LegacyMeter {
  #closed = new Map<string, ByteTotals>()
  #evidence = new Map<string, ClaimEvidence>()
  constructor(readonly cap = 4096) {}

  /** Adds a closed connection's counters to its peer's total. */
  addClosed(peer: string, t: ByteTotals): void {
    const prev = this.#closed.get(peer) ?? { sent: 0, received: 0 }
    touch(this.#closed, peer, { sent: prev.sent + t.sent, received: prev.received + t.received }, this.cap)
  }

  closedTotals(peer: string): ByteTotals { return this.#closed.get(peer) ?? { sent: 0, received: 0 } }

  record(peer: string, e: ClaimEvidence): void { touch(this.#evidence, peer, e, this.cap) }
  evidence(peer: string): ClaimEvidence | undefined { return this.#evidence.get(peer) }
  get size(): number { return Math.max(this.#closed.size, this.#evidence.size) }
}

function touch<V>(m: Map<string, V>, k: string, v: V, cap: number): void {
  m.delete(k)
  if (m.size >= cap) { const oldest = m.keys().next().value; if (oldest !== undefined) m.delete(oldest) }
  m.set(k, v)
}
