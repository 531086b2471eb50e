/**
 * What the node does with governed parameters (docs/contracts.md §Governed parameters in the node): maps the
 * Params contract's values to the economy's network settings. Pure; attach.ts applies the result on every refresh.
 *   fee_vpn  micro-credits per MiB  -> price of service 'vpn'    (unit byte, per 1 MiB)
 *   fee_cdn  micro-credits per MiB  -> price of service 'cdn'    (unit byte, per 1 MiB)
 *   fee_ai   micro-credits per token -> price of services 'cortex' (stage positions) and 'cortex:gen' (generated
 *            tokens streamed to a client), unit token, per 1
 *   debt_limit micro-credits        -> Economy debt limit (and the pay threshold derived from it)
 *   min_trust_score WAD             -> Economy trust floor (served only against collateral below it)
 * Values the ledger cannot use (debt limit 0, or past 2^63) are skipped, so a bad proposal cannot stop the node.
 */
import type { ServicePrice } from '../pricing.js'
import type { GovernedParams } from './client.js'

export const MIB = 1n << 20n
const MAX_AMOUNT = (1n << 63n) - 1n
const WAD = 10n ** 18n

export interface GovernedEconomy { debtLimit?: bigint; trustMin?: number; prices: Map<string, ServicePrice> }

export function governedEconomy(p: GovernedParams): GovernedEconomy {
  const prices = new Map<string, ServicePrice>()
  const price = (service: string, unit: ServicePrice['unit'], value: bigint, per: bigint): void => {
    if (value >= 0n && value <= MAX_AMOUNT) prices.set(service, { unit, price: value, per })
  }
  price('vpn', 'byte', p.fee_vpn, MIB)
  price('cdn', 'byte', p.fee_cdn, MIB)
  price('cortex', 'token', p.fee_ai, 1n)
  price('cortex:gen', 'token', p.fee_ai, 1n)
  const out: GovernedEconomy = { prices }
  if (p.debt_limit > 0n && p.debt_limit <= MAX_AMOUNT) out.debtLimit = p.debt_limit
  if (p.min_trust_score >= 0n && p.min_trust_score <= WAD) out.trustMin = Number((p.min_trust_score * 1_000_000n) / WAD) / 1_000_000
  return out
}
