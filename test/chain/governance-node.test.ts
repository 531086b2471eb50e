// Governed Params -> the node's economy (src/economy/chain/governed.ts, Economy.applyGoverned), without a chain.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { governedEconomy, MIB } from '../../src/economy/chain/governed.js'
import type { GovernedParams } from '../../src/economy/chain/client.js'
import { DebtLimitError, LowTrustError } from '../../src/economy/errors.js'
import { ManualClock, config, idFrom, makeEconomy, tempDir } from '../economy/helpers.js'

const base: GovernedParams = {
  fee_vpn: 1000n, fee_cdn: 200n, fee_ai: 50n, debt_limit: 10_000_000n, min_trust_score: 10n ** 17n, slashing_rate: 1000n,
  slash_invalid_bps: 1000n, slash_unavailable_bps: 100n, slash_censorship_bps: 5000n, fraud_reward_bps: 1000n,
}

test('governed: fees, debt limit and trust floor map to the economy; unusable values are skipped', () => {
  const g = governedEconomy(base)
  assert.deepEqual(g.prices.get('vpn'), { unit: 'byte', price: 1000n, per: MIB })
  assert.deepEqual(g.prices.get('cdn'), { unit: 'byte', price: 200n, per: MIB })
  assert.deepEqual(g.prices.get('cortex'), { unit: 'token', price: 50n, per: 1n })
  assert.equal(g.debtLimit, 10_000_000n)
  assert.equal(g.trustMin, 0.1)
  const bad = governedEconomy({ ...base, debt_limit: 0n, fee_cdn: 1n << 70n, min_trust_score: 2n * 10n ** 18n })
  assert.equal(bad.debtLimit, undefined)
  assert.equal(bad.prices.has('cdn'), false)
  assert.equal(bad.trustMin, undefined)
})

test('governed: a running economy charges the governed fee and enforces the governed debt limit and trust floor at once', () => {
  const d = tempDir('zeone-governed-')
  const clock = new ManualClock()
  const eco = makeEconomy(join(d.dir, 'ledger.sqlite'), idFrom(1), clock, config({ debtLimit: '1000000000000000', trust: { collateral: 0 } }))
  try {
    const peer = idFrom(2).publicKey
    assert.equal(eco.record(peer, 'cdn', MIB, 'served'), MIB) // no cdn price configured: bytePrice (1) per byte
    assert.doesNotThrow(() => eco.authorize(peer, 'cdn'))
    eco.applyGoverned(governedEconomy({ ...base, fee_cdn: 5000n, debt_limit: 4000n }))
    assert.equal(eco.record(peer, 'cdn', MIB, 'served'), 5000n)
    assert.equal(eco.debtLimit, 4000n)
    assert.throws(() => eco.authorize(peer, 'cdn'), DebtLimitError) // owes > 4000 now
    eco.applyGoverned(governedEconomy({ ...base, debt_limit: 10n ** 12n, min_trust_score: 10n ** 18n }))
    assert.equal(eco.trustMin, 1)
    assert.throws(() => eco.authorize(peer, 'cdn'), LowTrustError) // nobody reaches trust 1.0
    eco.applyGoverned(governedEconomy(base))
    assert.doesNotThrow(() => eco.authorize(peer, 'cdn'))
    assert.throws(() => eco.applyGoverned({ debtLimit: 0n }), RangeError)
  } finally {
    eco.close()
    d.cleanup()
  }
})
