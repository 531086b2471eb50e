/**
 * The UsageMeter compliance suite: what the delivering layers (service router, relays, content) may rely on from
 * whatever meters them: a new peer may be served, charges are non-negative bigints that grow with the units, no
 * charge for nothing, serving a peer past its debt limit blocks it (only it), and what a peer delivered to us never
 * blocks that peer.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import type { UsageMeter } from '../../src/interfaces/services.js'
import type { TestContext } from './link-provider.js'

export interface MeterUnderTest {
  meter: UsageMeter
  /** A metered service name. */
  service: string
  /** The debt limit in micro-credits (undefined: this meter never blocks, e.g. a disabled ledger). */
  debtLimit: bigint | undefined
}
export type UsageMeterFactory = (t: TestContext) => MeterUnderTest

const code = (f: () => unknown): string => { try { f(); return 'none' } catch (e) { return String((e as { code?: unknown }).code) } }

export function usageMeterSuite(name: string, make: UsageMeterFactory): void {
  test(`UsageMeter (${name}): a new peer is served; no units, no charge; charges grow with the units`, (t) => {
    const { meter, service } = make(t)
    const peer = Identity.fromSeed(randomBytes(32)).publicKey
    assert.equal(code(() => meter.authorize(peer, service)), 'none')
    assert.equal(meter.record(peer, service, 0n, 'served'), 0n)
    assert.equal(meter.record(peer, service, -5n, 'served'), 0n, 'negative units charge nothing')
    const small = meter.record(peer, service, 10n, 'served')
    const large = meter.record(peer, service, 1000n, 'served')
    assert.equal(typeof small, 'bigint')
    assert.ok(small >= 0n && large >= small)
  })

  test(`UsageMeter (${name}): serving a peer past its debt limit blocks that peer only`, (t) => {
    const { meter, service, debtLimit } = make(t)
    const peer = Identity.fromSeed(randomBytes(32)).publicKey
    const other = Identity.fromSeed(randomBytes(32)).publicKey
    let charged = 0n
    for (let i = 0; i < 1000 && code(() => meter.authorize(peer, service)) === 'none'; i++) charged += meter.record(peer, service, 4096n, 'served')
    if (debtLimit === undefined) {
      assert.equal(code(() => meter.authorize(peer, service)), 'none', 'this meter never blocks')
      return
    }
    assert.equal(code(() => meter.authorize(peer, service)), 'debt_limit')
    assert.ok(charged > debtLimit, `blocked only past the limit (charged ${charged}, limit ${debtLimit})`)
    assert.equal(code(() => meter.authorize(other, service)), 'none', 'another peer is still served')
  })

  test(`UsageMeter (${name}): what a peer delivered to us never blocks it`, (t) => {
    const { meter, service } = make(t)
    const peer = Identity.fromSeed(randomBytes(32)).publicKey
    for (let i = 0; i < 100; i++) meter.record(peer, service, 1_000_000n, 'consumed')
    assert.equal(code(() => meter.authorize(peer, service)), 'none')
  })
}
