/**
 * Trust events that lower layers report and the economy layer (src/economy) scores. Lower layers depend only on
 * this sink, never on the economy implementation. Event names follow the whitepaper's table.
 */
export type TrustEvent =
  | 'successful_transfer' | 'failed_transfer' | 'valid_message' | 'invalid_message'
  | 'iou_created' | 'iou_redeemed' | 'iou_defaulted' | 'ping_responded' | 'ping_timeout'
  | 'debt_repaid' | 'excessive_debt'
  // a provider's signed activation commitment failed a verifier's re-execution (src/cortex/verify)
  | 'invalid_inference'
  // slashing events: score to 0 and blacklist
  | 'invalid_merkle_proof' | 'signature_forgery' | 'double_spend'

export interface TrustSink {
  report(nodeId: Uint8Array, event: TrustEvent, detail?: string): void
}
