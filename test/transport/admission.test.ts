import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Counter, pickEviction, strangerSlots, subnetOf, type Slot } from '../../src/transport/admission.js'

test('subnetOf: IPv4 /24, IPv6 /48 whatever the spelling', () => {
  assert.equal(subnetOf('10.1.2.3'), subnetOf('10.1.2.200'))
  assert.notEqual(subnetOf('10.1.2.3'), subnetOf('10.1.3.3'))
  assert.equal(subnetOf('2001:db8:1::1'), subnetOf('2001:0db8:0001:ffff::9'))
  assert.equal(subnetOf('2001:db8:1::1'), 'v6:2001:db8:1')
  assert.notEqual(subnetOf('2001:db8:1::1'), subnetOf('2001:db8:2::1'))
  assert.equal(subnetOf('::1'), 'v6:0:0:0')
  assert.equal(subnetOf('fe80::1%eth0'), 'v6:fe80:0:0')
  assert.equal(subnetOf('::ffff:1.2.3.4'), 'v6:0:0:0')
  assert.equal(subnetOf('weird'), 'host:weird')
})

test('pickEviction: lowest value, then longest idle; never outbound, handshaking, too fresh or above maxValue', () => {
  const s = (over: Partial<Slot>): Slot => ({ inbound: true, established: true, value: 0, lastActive: 0, ...over })
  const a = s({ value: 0, lastActive: 50 })
  const b = s({ value: 0, lastActive: 10 })
  const c = s({ value: 1, lastActive: 0 })
  const out = s({ inbound: false, value: Infinity, lastActive: 0 })
  const hs = s({ established: false, lastActive: 0 })
  assert.equal(pickEviction([a, b, c, out, hs], 100, 0, 0), b)
  assert.equal(pickEviction([a, b, c], 100, 0, 0, b), a)
  assert.equal(pickEviction([a, b, c], 100, 60, 0), b, 'a was active 50 ms ago')
  assert.equal(pickEviction([a, c], 100, 60, 0), undefined)
  assert.equal(pickEviction([c], 100, 0, 0), undefined, 'a valued session is not evicted for a stranger')
  assert.equal(pickEviction([c], 100, 0, 1), c)
  assert.equal(strangerSlots(256, 0.25), 192)
  assert.equal(strangerSlots(1, 0.9), 1)
  const n = new Counter()
  n.add('x'); n.add('x'); n.remove('x'); n.remove('x'); n.remove('x')
  assert.equal(n.get('x'), 0)
  assert.equal(n.size, 0)
})
