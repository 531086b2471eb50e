/** The governed parameter names of the Params contract (keys are keccak256 of these), without loading viem. */
export const PARAM_NAMES = ['fee_vpn', 'fee_cdn', 'fee_ai', 'debt_limit', 'min_trust_score', 'slashing_rate',
  'slash_invalid_bps', 'slash_unavailable_bps', 'slash_censorship_bps', 'fraud_reward_bps'] as const
export type ParamName = (typeof PARAM_NAMES)[number]
export type GovernedParams = Record<ParamName, bigint>
