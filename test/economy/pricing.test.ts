import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { chargeFor, DynamicRate, nextRate, Pricing, PPM, type RateParams } from '../../src/economy/pricing.js'
import { config } from './helpers.js'

const P: RateParams = { epochMs: 1000, targetUtilPpm: 500_000n, capacityPerEpoch: 1000n, maxStepPpm: 125_000n, minRatePpm: 100_000n, maxRatePpm: 10_000_000n }

test('EIP-1559 step: up 12.5% at full use, down 12.5% when idle, unchanged at target', () => {
  assert.equal(nextRate(PPM, 1000n, P), 1_125_000n)
  assert.equal(nextRate(PPM, 0n, P), 875_000n)
  assert.equal(nextRate(PPM, 500n, P), PPM)
  assert.equal(nextRate(PPM, 750n, P), 1_062_500n)
})

test('the step is bounded and the rate stays inside the network bounds', () => {
  fc.assert(fc.property(fc.bigInt({ min: 1n, max: 20_000_000n }), fc.bigInt({ min: 0n, max: 10n ** 12n }), (rate, used) => {
    const n = nextRate(rate, used, P)
    assert.ok(n >= P.minRatePpm && n <= P.maxRatePpm)
    if (rate >= P.minRatePpm && rate <= P.maxRatePpm) {
      const step = n > rate ? n - rate : rate - n
      assert.ok(step <= (rate * P.maxStepPpm) / PPM + 1n)
    }
  }), { numRuns: 2000 })
})

test('DynamicRate rolls lazily per epoch, idle epochs decay toward the floor', () => {
  const r = new DynamicRate(P, 0)
  r.observe(1000n, 10)
  assert.equal(r.roll(999), PPM)
  assert.equal(r.roll(1000), 1_125_000n)
  assert.equal(r.roll(2000), 984_375n) // idle epoch
  assert.equal(r.roll(1_000_000), P.minRatePpm)
})

test('charges round up in micro-credits and never mix units', () => {
  assert.equal(chargeFor(1000n, { unit: 'byte', price: 1n, per: 1024n }, PPM), 1n)
  assert.equal(chargeFor(1025n, { unit: 'byte', price: 1n, per: 1024n }, PPM), 2n)
  assert.equal(chargeFor(3n, { unit: 'token', price: 7n, per: 1n }, 1_500_000n), 32n)
  assert.equal(chargeFor(0n, { unit: 'token', price: 7n, per: 1n }, PPM), 0n)
  const pricing = new Pricing(config({ bytePrice: 2, pricing: { services: { inference: { unit: 'token', price: 50 } }, zeoWeiPerCredit: '1000000000000' } }), () => 0)
  assert.equal(pricing.priceOf('inference').unit, 'token')
  assert.equal(pricing.chargeServed('inference', 10n), 500n)
  assert.equal(pricing.priceOf('unknown').price, 2n)
  assert.equal(pricing.toZeoWei(3n), 3_000_000_000_000n)
  assert.equal(new Pricing(config(), () => 0).toZeoWei(3n), undefined)
})
