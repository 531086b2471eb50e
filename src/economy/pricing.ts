/**
 * Pricing (docs/protocol/economy.md §6): every service has a list price in micro-credits per `per` units of its
 * own unit (bytes, tokens, requests, seconds, chunks), and a dynamic rate multiplier (ppm) that moves each epoch
 * toward a target utilisation, EIP-1559 style: rate' = rate * (1 + maxStep * clamp((u - target) / target, -1, 1)),
 * bounded to [minRate, maxRate] (network parameters). Units are never mixed: each service has its own rate and
 * utilisation counter. An optional oracle rate converts micro-credits to ZEO wei.
 */
import type { EconomyConfig } from './config.js'
import { toAmount } from './config.js'

export const PPM = 1_000_000n

export type Unit = 'byte' | 'token' | 'request' | 'second' | 'chunk'
export interface ServicePrice { unit: Unit; price: bigint; per: bigint }

export interface RateParams {
  epochMs: number
  targetUtilPpm: bigint
  capacityPerEpoch: bigint
  maxStepPpm: bigint
  minRatePpm: bigint
  maxRatePpm: bigint
}

/** Pure: one epoch step of the rate given the units used in that epoch. */
export function nextRate(ratePpm: bigint, used: bigint, p: RateParams): bigint {
  const util = p.capacityPerEpoch > 0n ? (used * PPM) / p.capacityPerEpoch : PPM
  // signed deviation from target in ppm, clamped to [-1, 1]
  let dev = ((util - p.targetUtilPpm) * PPM) / p.targetUtilPpm
  if (dev > PPM) dev = PPM
  if (dev < -PPM) dev = -PPM
  let next = ratePpm + (ratePpm * dev * p.maxStepPpm) / (PPM * PPM)
  if (next < p.minRatePpm) next = p.minRatePpm
  if (next > p.maxRatePpm) next = p.maxRatePpm
  return next
}

/** A per-service rate that rolls over at epoch boundaries (lazily, on observe/read). */
export class DynamicRate {
  ratePpm = PPM
  #epochStart: number
  #used = 0n
  constructor(readonly params: RateParams, now: number) { this.#epochStart = now }

  observe(units: bigint, now: number): void { this.roll(now); this.#used += units }

  roll(now: number): bigint {
    const e = this.params.epochMs
    let n = Math.floor((now - this.#epochStart) / e)
    if (n <= 0) return this.ratePpm
    this.ratePpm = nextRate(this.ratePpm, this.#used, this.params)
    this.#used = 0n
    // idle epochs after the first: no usage; more than 64 idle steps always reach the lower bound
    for (n -= 1; n > 0 && this.ratePpm > this.params.minRatePpm; n = Math.min(n - 1, 64)) this.ratePpm = nextRate(this.ratePpm, 0n, this.params)
    this.#epochStart += Math.floor((now - this.#epochStart) / e) * e
    return this.ratePpm
  }
}

/** Pure: the charge for `units` at `price`/`per` and `ratePpm`, rounded up (both sides round the same way). */
export function chargeFor(units: bigint, sp: ServicePrice, ratePpm: bigint): bigint {
  if (units <= 0n) return 0n
  const num = units * sp.price * ratePpm
  const den = sp.per * PPM
  return (num + den - 1n) / den
}

export class Pricing {
  readonly bytePrice: bigint
  #prices = new Map<string, ServicePrice>()
  #rates = new Map<string, DynamicRate>()
  #params: RateParams
  #now: () => number
  readonly zeoWeiPerCredit: bigint | undefined
  /** Cap on distinct services tracked (service names come from callers, not the network). */
  static readonly MAX_SERVICES = 1024

  constructor(cfg: EconomyConfig, now: () => number) {
    this.#now = now
    this.bytePrice = toAmount(cfg.bytePrice)
    for (const [name, p] of Object.entries(cfg.pricing.services)) {
      const per = toAmount(p.per)
      this.#prices.set(name, { unit: p.unit, price: toAmount(p.price), per: per === 0n ? 1n : per })
    }
    const pr = cfg.pricing
    this.#params = {
      epochMs: pr.epochMs, targetUtilPpm: BigInt(pr.targetUtilPpm), capacityPerEpoch: toAmount(pr.capacityPerEpoch),
      maxStepPpm: BigInt(pr.maxStepPpm), minRatePpm: BigInt(pr.minRatePpm), maxRatePpm: BigInt(pr.maxRatePpm),
    }
    this.zeoWeiPerCredit = pr.zeoWeiPerCredit === undefined ? undefined : toAmount(pr.zeoWeiPerCredit)
  }

  priceOf(service: string): ServicePrice {
    return this.#governed.get(service) ?? this.#prices.get(service) ?? { unit: 'byte', price: this.bytePrice, per: 1n }
  }

  #governed = new Map<string, ServicePrice>()

  /**
   * Network prices decided by governance (Params fee_*, applied by the settlement client when the chain changes):
   * they take precedence over the configured list price of the same service. Replaces the previous set.
   */
  setGovernedPrices(prices: ReadonlyMap<string, ServicePrice>): void {
    for (const sp of prices.values()) if (sp.price < 0n || sp.per <= 0n) throw new RangeError('governed price must be >= 0 per > 0 units')
    this.#governed = new Map(prices)
  }

  #rate(service: string): DynamicRate {
    let r = this.#rates.get(service)
    if (!r) {
      if (this.#rates.size >= Pricing.MAX_SERVICES) this.#rates.clear()
      r = new DynamicRate(this.#params, this.#now())
      this.#rates.set(service, r)
    }
    return r
  }

  /** Our current rate (ppm) for a service. */
  rateOf(service: string): bigint { return this.#rate(service).roll(this.#now()) }

  /** Charge for units we serve, at our current rate; feeds the service's utilisation. */
  chargeServed(service: string, units: bigint): bigint {
    const r = this.#rate(service)
    r.observe(units, this.#now())
    return chargeFor(units, this.priceOf(service), r.ratePpm)
  }

  /** Charge for units the peer served us, at the rate it announced (list price when unknown). */
  chargeConsumed(service: string, units: bigint, peerRatePpm: bigint = PPM): bigint {
    return chargeFor(units, this.priceOf(service), peerRatePpm)
  }

  /** Oracle conversion micro-credits -> ZEO wei; undefined when no oracle rate is configured. */
  toZeoWei(credits: bigint): bigint | undefined {
    return this.zeoWeiPerCredit === undefined ? undefined : credits * this.zeoWeiPerCredit
  }
}
