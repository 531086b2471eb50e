// The governed model whitelist on a node WITHOUT chain access, through the real params code path: a real node
// (dht, economy with params sync in anchors mode, cortex serving two models) follows params records that an anchor
// node publishes in the real DHT over TCP; a third node asks it for inference. Before any snapshot: both models are
// served. Snapshot whitelisting 'tiny': 'tiny' served, 'other' refused with model_not_whitelisted. A newer snapshot
// swaps them: applied live, no restart. Waits on polls, no timing assertions.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { keccak256, stringToBytes } from 'viem'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { attach as dhtAttach } from '../../src/dht/attach.js'
import type { GovernedParams } from '../../src/economy/chain/param-names.js'
import { encodeParamsRecord, paramsKey, type ParamsSnapshot } from '../../src/economy/chain/params-record.js'
import { toHex } from '../../src/util/bytes.js'
import { tinyModel } from './helpers.js'

const CHAIN = 31337
const m = tinyModel({ family: 'llama', layers: 2, kvHeads: 2, seed: 5 })
const dirs: string[] = []
const nodes: ZeoneNode[] = []
after(async () => {
  for (const n of nodes.reverse()) await n.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  m.cleanup()
})

const values: GovernedParams = {
  fee_vpn: 0n, fee_cdn: 0n, fee_ai: 0n, debt_limit: 10_000_000n, min_trust_score: 0n, slashing_rate: 1000n,
  slash_invalid_bps: 1000n, slash_unavailable_bps: 100n, slash_censorship_bps: 5000n, fraud_reward_bps: 1000n,
}
const hash = (id: string): Uint8Array => keccak256(stringToBytes(id), 'bytes')
const snapshot = (blockNumber: number, models: string[]): ParamsSnapshot => ({
  chainId: CHAIN, params: new Uint8Array(20).fill(0xaa), blockNumber, blockHash: new Uint8Array(32).fill(blockNumber),
  blockTime: Math.floor(Date.now() / 1000) - 10, values, models: models.map(hash),
})

async function start(extra: object, layers?: Parameters<typeof createNode>[1]): Promise<ZeoneNode> {
  const dataDir = mkdtempSync(join(tmpdir(), 'zeone-cortex-params-'))
  dirs.push(dataDir)
  const n = createNode(validateConfig({ dataDir, node: { port: 0, host: '127.0.0.1', legacy: false }, ops: { httpPort: -1, logLevel: 'silent' }, ...extra }), layers)
  nodes.push(n)
  await n.start()
  return n
}

test('chainless node: the network params whitelist gates its stages, live, and allows all before the first snapshot', async () => {
  const anchor = await start({}, { layers: [['dht', dhtAttach]] })
  const at = `127.0.0.1:${anchor.listenAddress!.port}`
  // one stage per node: two chainless followers, one serving 'tiny', one serving 'other'
  const follower = (modelId: string): Promise<ZeoneNode> => start({
    node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap: [at] },
    chain: { enabled: false, chainId: CHAIN, paramsSync: { quorum: 1, anchors: [toHex(anchor.identity.publicKey)], followSec: 3600 } },
    cortex: { serve: [{ path: m.dir, modelId, layers: '0:2' }] },
  })
  const servers = [await follower('tiny'), await follower('other')]
  const client = await start({ cortex: { peers: servers.map((n) => `127.0.0.1:${n.listenAddress!.port}`) } })
  const params = servers.map((n) => n.services.get('params')!)
  for (const p of params) assert.equal(p.source, 'network')
  const svc = client.services.get('cortex')!
  const ask = async (model: string): Promise<string> => {
    try {
      const ids: number[] = []
      for (let it = svc.generate({ model, prompt: 'hello', maxTokens: 3, temperature: 0, seed: 1 }), r = await it.next(); !r.done; r = await it.next()) ids.push(r.value.id)
      return ids.length === 3 ? 'served' : `short: ${ids.length}`
    } catch (e) { return `${(e as { code?: string }).code}: ${(e as Error).message}` }
  }
  const publish = async (s: ParamsSnapshot): Promise<void> => {
    const put = await anchor.services.get('dht')!.put(paramsKey(CHAIN), encodeParamsRecord({ snapshot: s }))
    assert.ok(put.stored > 0, 'the params record is stored somewhere')
    for (const p of params) {
      const d = await p.poll()
      assert.equal(d?.accepted?.snapshot.blockNumber, s.blockNumber, 'the follower accepts the anchor snapshot')
    }
  }

  // a fresh node with no snapshot in force serves (with a warning) rather than stopping inference
  for (const p of params) assert.equal(p.current(), undefined)
  assert.equal(await ask('tiny'), 'served')
  assert.equal(await ask('other'), 'served')

  await publish(snapshot(10, ['tiny']))
  assert.equal(await ask('tiny'), 'served')
  const refused = await ask('other')
  assert.match(refused, /^model_not_whitelisted: /, 'refused with the registered code before the ack')
  assert.match(refused, /other is not on the network's governed model whitelist \(parameters in force from block 10\)/)

  // governance swaps them: the next snapshot applies to the next request, no restart
  await publish(snapshot(11, ['other']))
  assert.match(await ask('tiny'), /^model_not_whitelisted: .*tiny is not on the network's governed model whitelist \(parameters in force from block 11\)/)
  assert.equal(await ask('other'), 'served')

  // an empty whitelist in force refuses every model (as on chain: Params has no "whitelist off" switch)
  await publish(snapshot(12, []))
  assert.match(await ask('other'), /^model_not_whitelisted: /)
  // the node's own gateway (its local stage, not CORTEX_FORWARD) is gated too
  const own = servers[0]!.services.get('cortex')!
  await assert.rejects(async () => { for await (const _ of own.generate({ model: 'tiny', prompt: 'hi', maxTokens: 2, temperature: 0, seed: 1 })) { /* drain */ } }, /model_not_whitelisted|whitelist/)
})
