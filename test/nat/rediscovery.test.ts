import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Clock } from '../../src/interfaces/clock.js'
import { discoverNat, type NatBehavior } from '../../src/nat/discovery.js'
import { NatRediscovery } from '../../src/nat/rediscovery.js'
import type { StunClient, BindingResult } from '../../src/nat/stun/client.js'
import { Attr, type StunAttribute } from '../../src/nat/stun/codec.js'

/** A clock whose timers fire only when the test advances it. */
class FakeClock implements Clock {
  t = 0
  timers: Array<{ at: number; cb: () => void; live: boolean }> = []
  now(): number { return this.t }
  setTimeout(cb: () => void, ms: number): { cancel(): void } {
    const e = { at: this.t + ms, cb, live: true }
    this.timers.push(e)
    return { cancel: () => { e.live = false } }
  }
  pending(): number[] { return this.timers.filter((e) => e.live).map((e) => e.at - this.t) }
  async advance(ms: number): Promise<void> {
    this.t += ms
    for (const e of this.timers.filter((x) => x.live && x.at <= this.t)) { e.live = false; e.cb() }
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
  }
}

const pub = { host: '198.51.100.7', port: 40000 }
const known: NatBehavior = { mapping: 'endpoint-independent', filtering: 'address-dependent', publicAddr: pub }

test('discover(true) runs a new round instead of returning the cached behaviour (zeone nat --refresh)', async () => {
  const clock = new FakeClock()
  let rounds = 0
  const loop = new NatRediscovery({ clock, periodMs: 300_000, run: async () => ({ ...known, publicAddr: { ...pub, port: 40000 + ++rounds } }) })
  const a = await loop.discover()
  assert.equal(rounds, 1)
  assert.equal((await loop.discover()).publicAddr.port, a.publicAddr.port, 'without refresh: cached')
  assert.equal(rounds, 1)
  const b = await loop.discover(true)
  assert.equal(rounds, 2)
  assert.equal(b.publicAddr.port, 40002)
  assert.equal(loop.behavior?.publicAddr.port, 40002)
})

test('an unknown result is retried soon with backoff (5 s, 15 s, 45 s ...) capped at the period', async () => {
  const clock = new FakeClock()
  const answers: NatBehavior[] = [
    { ...known, mapping: 'unknown' }, { ...known, filtering: 'unknown' }, { ...known, mapping: 'unknown' }, known,
  ]
  let rounds = 0
  const loop = new NatRediscovery({ clock, periodMs: 60_000, run: async () => answers[Math.min(rounds++, answers.length - 1)]! })
  loop.start()
  await clock.advance(0)
  assert.equal(rounds, 1)
  assert.deepEqual(clock.pending(), [5000])
  await clock.advance(5000)
  assert.equal(rounds, 2)
  assert.deepEqual(clock.pending(), [15_000])
  await clock.advance(15_000)
  assert.equal(rounds, 3)
  assert.deepEqual(clock.pending(), [45_000])
  await clock.advance(45_000)
  assert.equal(rounds, 4)
  assert.equal(loop.behavior?.mapping, 'endpoint-independent')
  assert.deepEqual(clock.pending(), [60_000], 'known again: back to the normal period')
  loop.stop()
  assert.deepEqual(clock.pending(), [])
})

test('failed rounds back off too, and the cap is the period', async () => {
  const clock = new FakeClock()
  let rounds = 0
  const loop = new NatRediscovery({ clock, periodMs: 20_000, onError: () => {}, run: async () => { rounds++; throw new Error('lost') } })
  loop.start()
  await clock.advance(0)
  assert.deepEqual(clock.pending(), [5000])
  await clock.advance(5000)
  assert.deepEqual(clock.pending(), [15_000])
  await clock.advance(15_000)
  assert.deepEqual(clock.pending(), [20_000])
  assert.equal(rounds, 3)
  loop.stop()
})

/**
 * An address-restricted (address-dependent filtering), endpoint-independent mapping NAT in front of one socket:
 * a reply from an IP passes only if the socket has sent to that IP before, and the filter state outlives a round.
 */
function restrictedNat(): StunClient {
  const primary = '192.0.2.1', alternate = '192.0.2.2'
  const contacted = new Set<string>()
  const fake = {
    async binding(server: { host: string; port: number }, opts: { attrs?: StunAttribute[] } = {}): Promise<BindingResult> {
      contacted.add(server.host)
      const cr = opts.attrs?.find((a) => a.type === Attr.CHANGE_REQUEST)?.value
      const changeIp = !!cr && (cr[3]! & 0x04) !== 0, changePort = !!cr && (cr[3]! & 0x02) !== 0
      const fromHost = changeIp ? (server.host === primary ? alternate : primary) : server.host
      if (!contacted.has(fromHost)) throw new Error('timeout (filtered by the NAT)')
      void changePort
      return { mapped: pub, otherAddress: { host: alternate, port: 3479 } } as BindingResult
    },
  }
  return fake as unknown as StunClient
}

test('a rediscovery polluted by its own earlier traffic does not turn address-restricted into full cone', async () => {
  const clock = new FakeClock()
  const client = restrictedNat()
  const run = (): Promise<NatBehavior> => discoverNat(client, { host: '192.0.2.1', port: 3478 }, { localPort: 5000, localHosts: ['10.0.0.2'] })
  // the fake really is polluted: a bare second round sees full cone
  const probe = restrictedNat()
  const bare = (): Promise<NatBehavior> => discoverNat(probe, { host: '192.0.2.1', port: 3478 }, { localPort: 5000, localHosts: ['10.0.0.2'] })
  assert.equal((await bare()).filtering, 'address-dependent')
  assert.equal((await bare()).filtering, 'endpoint-independent')

  const loop = new NatRediscovery({ clock, periodMs: 300_000, run })
  loop.start()
  await clock.advance(0)
  assert.equal(loop.behavior?.filtering, 'address-dependent')
  await clock.advance(300_000)
  assert.equal(clock.pending().length, 1, 'the periodic round ran and the next is scheduled')
  assert.equal(loop.behavior?.filtering, 'address-dependent')
  assert.equal((await loop.discover(true)).filtering, 'address-dependent')
  loop.stop()
})

test('a new public address (new NAT binding) takes the new filtering as is', async () => {
  const clock = new FakeClock()
  const answers: NatBehavior[] = [known, { ...known, filtering: 'endpoint-independent' }, { ...known, filtering: 'endpoint-independent', publicAddr: { ...pub, port: 41000 } }]
  let i = 0
  const loop = new NatRediscovery({ clock, periodMs: 300_000, run: async () => answers[i++]! })
  await loop.discover(true)
  assert.equal((await loop.discover(true)).filtering, 'address-dependent')
  assert.equal((await loop.discover(true)).filtering, 'endpoint-independent')
})
