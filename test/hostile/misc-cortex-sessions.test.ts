/**
 * Hostile peer, issue 14 part 9: one peer opens 34 cortex sessions on a stage with 32 slots and holds them all. A
 * per-peer cap keeps slots for others: the attacker is refused past its share over the wire, and an honest peer
 * that arrives afterwards still gets a session and its forward step.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { CortexType, encodeForwardReq } from '../../src/cortex/messages.js'
import type { Link } from '../../src/interfaces/link.js'
import { createNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { ConnectionManager } from '../../src/transport/connection-manager.js'
import { Router } from '../../src/transport/router.js'
import { tinyModel } from '../cortex/helpers.js'
import { tempDir } from './misc-helpers.js'

async function peerLink(t: { after(fn: () => void | Promise<void>): void }, to: { host: string; port: number }): Promise<Link> {
  const cm = new ConnectionManager({ identity: Identity.fromSeed(randomBytes(32)), config: validateConfig({ node: { port: 0, host: '127.0.0.1', legacy: false } }).node, dataDir: tempDir(t), router: new Router(), capabilities: [] })
  t.after(() => cm.stop())
  await cm.start()
  return cm.dial(to)
}

const open = (link: Link): Promise<{ ok: boolean; type: number }> =>
  link.request(CortexType.CORTEX_FORWARD, encodeForwardReq({ sid: randomBytes(16), model: 'tiny', pos: 0, ids: [1, 2] }), { timeoutMs: 30_000 })
    .then((r) => ({ ok: r.type === CortexType.CORTEX_FORWARD_RESP, type: r.type }), () => ({ ok: false, type: -1 }))

test('cortex: 34 sessions from one peer do not hold every slot; an honest peer is still served', async (t) => {
  const m = tinyModel({ family: 'gpt2', layers: 2, seed: 9 })
  t.after(() => m.cleanup())
  const node = createNode(validateConfig({
    dataDir: tempDir(t), node: { port: 0, host: '127.0.0.1', legacy: false }, ops: { httpPort: -1, logLevel: 'silent' },
    dht: { enabled: false }, cortex: { serve: [{ path: m.dir, modelId: 'tiny', maxSessions: 32 }] },
  }))
  t.after(() => node.stop())
  await node.start()

  const attacker = await peerLink(t, node.listenAddress!)
  let held = 0
  for (let i = 0; i < 34; i++) if ((await open(attacker)).ok) held++
  assert.ok(held < 32, `one peer holds ${held} of 32 slots`)
  assert.ok(held >= 1, 'the attacker is served up to its share')

  const honest = await peerLink(t, node.listenAddress!)
  const r = await open(honest)
  assert.ok(r.ok, `honest peer refused (reply type 0x${r.type.toString(16)})`)
})
