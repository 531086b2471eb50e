/** The price per generated token a node quotes, and the budget check of a remote generation against it. */
import type { UsageMeter } from '../../interfaces/services.js'
import type { TrustSink } from '../../interfaces/trust.js'
import { chargeFor, type Pricing } from '../../economy/pricing.js'
import { InferenceError } from '../errors.js'
import { GEN_SERVICE, ServerMeter } from './server-meter.js'
import { VERIFY_SERVICE } from '../verify/check-wire.js'

/** One token at our current rate, rounded up (the governed fee_ai when the chain set it, else the list price). */
export function tokenQuote(p: Pick<Pricing, 'priceOf' | 'rateOf'>): bigint {
  return chargeFor(1n, p.priceOf(GEN_SERVICE), p.rateOf(GEN_SERVICE))
}

export interface PriceInit {
  server: Uint8Array
  usage: UsageMeter | undefined
  trust?: TrustSink
  price: bigint
  window: number
  receiptTimeoutMs: number
}

/**
 * Authorizes the client and checks its budget: refused when the budget cannot pay maxTokens at our price (or, for a
 * request whose maxTokens is only a default, `fit`, shortened to what it can pay). No meter when this node has no
 * ledger: nothing is charged, and the client is asked for no receipts. Mutates `p.maxTokens` when shortened.
 */
export function priceGeneration(i: PriceInit, client: Uint8Array, req: { gid: Uint8Array; budget?: bigint; fit?: boolean }, p: { maxTokens: number }): { meter?: ServerMeter; budgetCut: boolean } {
  if (!i.usage) return { budgetCut: false }
  i.usage.authorize(client, GEN_SERVICE)
  let budgetCut = false
  if (req.budget !== undefined && i.price > 0n) {
    const afford = req.budget / i.price
    if (afford < 1n || (!req.fit && afford < BigInt(p.maxTokens))) {
      throw new InferenceError('over_budget', `budget ${req.budget} does not pay ${req.fit ? 1 : p.maxTokens} tokens at ${i.price} micro-credits per token`)
    }
    if (afford < BigInt(p.maxTokens)) { p.maxTokens = Number(afford); budgetCut = true }
  }
  const meter = new ServerMeter({ server: i.server, client, gid: req.gid, price: i.price, window: i.window, usage: i.usage, trust: i.trust, receiptTimeoutMs: i.receiptTimeoutMs })
  return { meter, budgetCut }
}

/** One verifier check (`cortex:verify`, one request) at our current rate, rounded up: the verifier service's price,
 *  set by the list price of that service (economy.pricing.services['cortex:verify']). */
export function checkQuote(p: Pick<Pricing, 'priceOf' | 'rateOf'>): bigint {
  return chargeFor(1n, p.priceOf(VERIFY_SERVICE), p.rateOf(VERIFY_SERVICE))
}
