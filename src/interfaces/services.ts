/**
 * Cross-layer service contracts between the service router / relays / content serving (which deliver work) and
 * the economy layer (which prices, meters, and enforces debt limits). The economy layer implements them; the
 * delivering layers only call them, so they work (unmetered) when no economy is attached.
 */

/** Decides whether a peer may be served and records what was served/consumed, in the service's own units. */
export interface UsageMeter {
  /**
   * Throws a ZeoneError with code 'debt_limit' or 'low_trust' if `nodeId` must not be served `service` now
   * (tit-for-tat: a peer over its debt limit is served nothing until it pays).
   */
  authorize(nodeId: Uint8Array, service: string): void
  /**
   * Records usage of `service` between us and `nodeId`: `served` = we delivered to them (they owe us),
   * `consumed` = they delivered to us. `units` are the service's unit (bytes, tokens, requests); the pricing module
   * converts them to credits. Returns the charge in micro-credits.
   */
  record(nodeId: Uint8Array, service: string, units: bigint, direction: 'served' | 'consumed'): bigint
}

/** Stake of a node in ZEO wei, from the staking contract (cached) or config. */
export interface StakeSource {
  stakeOf(nodeId: Uint8Array): Promise<bigint>
  /** Calls `cb` whenever a stake may have changed (a staking event); returns the unsubscribe. Optional. */
  onStakeChange?(cb: () => void): () => void
}

/**
 * Where a lower layer files a peer's balance claim it judged against its own meter (the v0 bridge's byte totals):
 * recorded in the ledger as evidence (a divergence row when it disagrees), never as credit or debt.
 */
export interface ClaimEvidence {
  recordClaim(nodeId: Uint8Array, claim: { claimed: bigint; ours: bigint; agreed: boolean; reason: string }): void
}
