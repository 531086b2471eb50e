import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, canRunLab, NatLab, type NatMode } from './lab.js'
import { toHex } from '../../src/util/bytes.js'
import { randomBytes } from '../../src/crypto/sign.js'

const STUN = { host: '198.18.0.10', port: 3478 }
const expected: Record<string, { mapping: string; filtering: string }> = {
  cone: { mapping: 'endpoint-independent', filtering: 'address-port-dependent' },
  full: { mapping: 'endpoint-independent', filtering: 'endpoint-independent' },
  restricted: { mapping: 'endpoint-independent', filtering: 'address-dependent' },
  symmetric: { mapping: 'address-port-dependent', filtering: 'address-port-dependent' },
}

test('RFC 5780 discovery from one socket classifies every lab NAT mode', { skip: !canRunLab() && 'needs root, iptables and netns' }, async () => {
  const lab = new NatLab('d')
  const agents: Agent[] = []
  try {
    lab.up('cone', 'full')
    const stun = new Agent(lab.ns('stun'), 'stun'); agents.push(stun)
    const a = new Agent(lab.ns('hostA'), 'A'); agents.push(a)
    await stun.call('stun-server', { primary: STUN, alternate: { host: '198.18.0.11', port: 3479 } })
    for (const mode of Object.keys(expected) as NatMode[]) {
      lab.nat('A', mode)
      await a.call('init', { seed: toHex(randomBytes(32)) })
      const r = await a.call('discover', { server: STUN })
      const nat = r.nat as { mapping: string; filtering: string; publicAddr: { host: string } }
      assert.equal(nat.mapping, expected[mode]!.mapping, `mapping for ${mode}`)
      assert.equal(nat.filtering, expected[mode]!.filtering, `filtering for ${mode}`)
      assert.equal(nat.publicAddr.host, '198.18.0.101')
    }
  } finally {
    await Promise.all(agents.map((x) => x.stop()))
    lab.down()
  }
})
