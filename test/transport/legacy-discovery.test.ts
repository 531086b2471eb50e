import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import type { Clock } from '../../src/interfaces/clock.js'
import type { Endpoint } from '../../src/interfaces/link.js'
import { validateConfig } from '../../src/ops/config.js'
import { CLAIM_AGREED, CLAIM_DISPUTED, judgeClaim, LegacyMeter, parseClaim } from '../../src/transport/legacy/balance.js'
import { LegacyBridge } from '../../src/transport/legacy/bridge.js'
import { LegacyDiscovery } from '../../src/transport/legacy/discovery.js'
import { FallbackTransport } from '../../src/transport/legacy/fallback-transport.js'
import { AddressPolicy } from '../../src/util/address-class.js'
import { V0Keys, V0Peer } from './legacy-v0-peer.js'

/** Wall time for message ages (the peer signs with wall time); timers run on virtual time the test advances. */
class ManualTimers implements Clock {
  #t = 0
  #timers: Array<{ at: number; cb: () => void; live: boolean }> = []
  now(): number { return Date.now() }
  setTimeout(cb: () => void, ms: number): { cancel(): void } {
    const t = { at: this.#t + ms, cb, live: true }
    this.#timers.push(t)
    return { cancel: () => { t.live = false } }
  }
  advance(ms: number): void {
    this.#t += ms
    const due = this.#timers.filter((t) => t.live && t.at <= this.#t)
    this.#timers = this.#timers.filter((t) => t.live && t.at > this.#t)
    for (const t of due) t.cb()
  }
}

const id = (): string => new V0Keys().id

function discovery(over: Partial<ConstructorParameters<typeof LegacyDiscovery>[0]> = {}) {
  const dials: Endpoint[] = []
  const pending: Array<{ resolve: (id: string) => void; reject: (e: Error) => void }> = []
  let t = 1_000_000
  const d = new LegacyDiscovery({
    policy: new AddressPolicy('deny'), clock: { now: () => t, setTimeout: () => ({ cancel() {} }) }, maxInFlight: 2, backoffMs: 60_000,
    selfId: 'self', selfAddress: () => ({ host: '8.8.4.4', port: 8468 }),
    dial: (a) => { dials.push(a); return new Promise((resolve, reject) => pending.push({ resolve, reject })) },
    connected: () => false, verified: () => false, ...over,
  })
  return { d, dials, pending, tick: (ms: number) => { t += ms } }
}

describe('legacy discovery: which learned addresses are dialled', () => {
  it('dials only what the AddressPolicy allows, never ourselves, at most maxInFlight at once', async () => {
    const { d, dials, pending } = discovery()
    d.learn(id(), '127.0.0.1', 8468, 'peer_list') // loopback: denied
    d.learn(id(), '10.0.0.5', 8468, 'dht_sender') // private: denied
    d.learn(id(), '169.254.169.254', 80, 'peer_list') // metadata: denied
    d.learn(id(), '8.8.4.4', 8468, 'peer_list') // our own address
    d.learn('self', '8.8.8.8', 1, 'peer_list')
    assert.equal(dials.length, 0)
    for (let i = 1; i <= 5; i++) d.learn(id(), `1.1.1.${i}`, 8468, 'peer_list')
    assert.equal(dials.length, 2, 'bounded in flight')
    pending[0]!.resolve('x')
    await new Promise((r) => setImmediate(r))
    assert.equal(dials.length, 3)
  })

  it('does not redial a failed address before the backoff, and skips peers we already have', async () => {
    const connectedIds = new Set<string>()
    const { d, dials, pending, tick } = discovery({ connected: (x) => connectedIds.has(x), verified: (x) => connectedIds.has(x) })
    const a = id()
    d.learn(a, '1.2.3.4', 8468, 'peer_list')
    pending[0]!.reject(new Error('refused'))
    await new Promise((r) => setImmediate(r))
    d.learn(id(), '1.2.3.4', 8468, 'peer_list') // same address, another claimed id
    assert.equal(dials.length, 1, 'redialled inside the backoff')
    tick(61_000)
    d.learn(a, '1.2.3.4', 8468, 'peer_list')
    assert.equal(dials.length, 2)
    const b = id()
    connectedIds.add(b)
    d.learn(b, '5.6.7.8', 8468, 'peer_list')
    d.learn(b, '5.6.7.8', 8469, 'dht_sender')
    assert.equal(dials.length, 2, 'dialled a peer we already have')
  })

  it('keeps its tables bounded', () => {
    const { d } = discovery({ maxInFlight: 0, maxCandidates: 16 })
    for (let i = 0; i < 1000; i++) d.learn(id(), `2.2.${i >> 8}.${i & 255}`, 8468, 'peer_list')
    assert.equal(d.candidates.size, 16)
  })
})

describe('legacy balance judgement', () => {
  it('agrees within the tolerance, disputes outside it, refuses malformed claims', () => {
    const c = parseClaim({ total_sent: 1000, total_received: 500, claimed_balance: 500 })!
    assert.equal(judgeClaim(c, { received: 1000, sent: 500 }, 0).status, CLAIM_AGREED)
    assert.equal(judgeClaim(c, { received: 990, sent: 500 }, 16).status, CLAIM_AGREED)
    assert.equal(judgeClaim(c, { received: 900, sent: 500 }, 16).status, CLAIM_DISPUTED)
    assert.equal(judgeClaim(c, { received: 1000, sent: 5000 }, 16).status, CLAIM_DISPUTED)
    assert.equal(parseClaim({ total_sent: -1, total_received: 0, claimed_balance: 0 }), undefined)
    assert.equal(parseClaim({ total_sent: 1e300, total_received: 0, claimed_balance: 0 }), undefined)
    assert.equal(parseClaim({ total_sent: 1, total_received: 0 }), undefined)
    const m = new LegacyMeter(8)
    for (let i = 0; i < 100; i++) m.addClosed(`p${i}`, { sent: 1, received: 1 })
    assert.equal(m.size, 8)
  })
})

describe('legacy bridge: DISCOVER cadence (injected clock)', () => {
  it('DISCOVERs at connect and then every discoverIntervalMs on every link', async () => {
    const clock = new ManualTimers()
    const config = { ...validateConfig({ node: { port: 0, host: '127.0.0.1' } }).legacy, discoverIntervalMs: 30_000, claimIntervalMs: 60_000 }
    const bridge = new LegacyBridge({ identity: Identity.fromSeed(randomBytes(32)), config, clock })
    const transport = new FallbackTransport({ host: '127.0.0.1', port: 0, legacyAcceptor: bridge.accept })
    await transport.start()
    const a = await V0Peer.connect(transport.listenAddress!.port)
    const b = await V0Peer.connect(transport.listenAddress!.port, a.keys) // a second connection of the same peer
    try {
      await a.handshake()
      await b.handshake()
      await a.next('DISCOVER')
      await b.next('DISCOVER')
      assert.equal(bridge.connectionsOf(a.keys.id).length, 2)
      await a.next('BALANCE_CLAIM')
      await b.next('BALANCE_CLAIM') // a claim after each handshake, as v1.2.4 does
      clock.advance(29_000)
      await new Promise((r) => setTimeout(r, 50))
      assert.equal(a.inbox.some((m) => m.type === 'DISCOVER'), false, 'DISCOVER before the interval')
      clock.advance(1_000)
      await a.next('DISCOVER')
      await b.next('DISCOVER')
      assert.equal(a.inbox.some((m) => m.type === 'BALANCE_CLAIM') || b.inbox.some((m) => m.type === 'BALANCE_CLAIM'), false, 'claim before claimIntervalMs')
      clock.advance(30_000)
      await a.next('DISCOVER')
      await b.next('DISCOVER')
    } finally {
      a.close(); b.close()
      await bridge.stop()
      await transport.stop()
    }
  })
})

describe('legacy discovery: a peer naming many addresses', () => {
  it('redials one node id under a new address at most once per backoff period', async () => {
    const { d, dials, pending, tick } = discovery()
    const a = id()
    d.learn(a, '1.2.3.4', 1000, 'dht_sender')
    pending[0]!.reject(new Error('refused'))
    await new Promise((r) => setImmediate(r))
    for (let port = 1001; port < 1100; port++) d.learn(a, '1.2.3.4', port, 'dht_sender')
    assert.equal(dials.length, 1, 'one dial per claimed port')
    tick(61_000)
    d.learn(a, '1.2.3.4', 2000, 'dht_sender')
    assert.equal(dials.length, 2)
  })
})
