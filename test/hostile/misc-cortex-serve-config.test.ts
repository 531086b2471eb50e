/**
 * Issue 14 part 9: two `cortex.serve` entries made the node crash at start ("a handler for CORTEX_INFO is already
 * registered"). The same stage listed twice is served once; two different stages (one node answers CORTEX_INFO for
 * one stage on the wire) are a clear config error naming cortex.serve, before anything starts.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { CortexType, decodeInfoResp } from '../../src/cortex/messages.js'
import { createNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { ConnectionManager } from '../../src/transport/connection-manager.js'
import { Router } from '../../src/transport/router.js'
import { encode } from '../../src/wire/cbor.js'
import { tinyModel } from '../cortex/helpers.js'
import { tempDir } from './misc-helpers.js'

const base = (dataDir: string) => ({ dataDir, node: { port: 0, host: '127.0.0.1', legacy: false }, ops: { httpPort: -1, logLevel: 'silent' as const }, dht: { enabled: false } })

test('cortex.serve: a stage listed twice starts once and serves peers; two different stages are a config error', async (t) => {
  const m = tinyModel({ family: 'gpt2', layers: 2, seed: 13 })
  t.after(() => m.cleanup())
  const entry = { path: m.dir, modelId: 'tiny' }
  const node = createNode(validateConfig({ ...base(tempDir(t)), cortex: { serve: [entry, { ...entry }] } }))
  t.after(() => node.stop())
  await node.start()
  const cm = new ConnectionManager({ identity: Identity.fromSeed(randomBytes(32)), config: validateConfig({ node: { port: 0, host: '127.0.0.1', legacy: false } }).node, dataDir: tempDir(t), router: new Router(), capabilities: [] })
  t.after(() => cm.stop())
  await cm.start()
  const link = await cm.dial(node.listenAddress!)
  const r = await link.request(CortexType.CORTEX_INFO, encode({ v: 1 }), { timeoutMs: 10_000 })
  assert.equal(r.type, CortexType.CORTEX_INFO_RESP)
  assert.equal(decodeInfoResp(r.body).model, 'tiny')

  assert.throws(() => validateConfig({ ...base(tempDir(t)), cortex: { serve: [entry, { path: m.dir, modelId: 'other', layers: '0:1' }] } }),
    (e: Error) => /cortex\.serve/.test(e.message) && /one stage/.test(e.message) && !/already registered/.test(e.message))
})
