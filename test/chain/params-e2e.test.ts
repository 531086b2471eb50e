// Network parameters end to end on the real EVM (EDR devnet served over HTTP JSON-RPC, as `zeone chain devnet`):
// three staked, bound nodes with chain access and one node without it, over TCP with the DHT and the economy.
// Governance changes fee_ai through the Governor (the devnet clock is moved), the chain nodes read it at the
// change's block and publish it, the chainless node agrees on it through the DHT (quorum 3), and its economy
// charges the new fee without a restart. An unstaked chain node reads but never publishes. Waits on conditions.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { parseEther } from 'viem'
import { loadOrCreateIdentity, writeFileAtomic } from '../../src/crypto/identity.js'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { attach as dhtAttach } from '../../src/dht/attach.js'
import { attach as economyAttach } from '../../src/economy/attach.js'
import { ChainClient } from '../../src/economy/chain/client.js'
import { devKey, startDevnet } from '../../src/economy/chain/devnet.js'
import { writeDeployment } from '../../src/economy/chain/files.js'
import { execute, propose, proposalState, queue, setParamAction, vote } from '../../src/economy/chain/governance.js'
import { decodeParamsRecord, paramsKey } from '../../src/economy/chain/params-record.js'
import { checkWithChain } from '../../src/economy/chain/params-publish.js'
import type { ParamsHandle } from '../../src/economy/chain/params-sync.js'
import { tempDir } from '../economy/helpers.js'

const until = async <T>(check: () => T | undefined | Promise<T | undefined>, what: string): Promise<T> => {
  for (let i = 0; i < 2000; i++) {
    const v = await check()
    if (v !== undefined && v !== false) return v as T
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`condition never held: ${what}`)
}

test('params e2e: governance changes fee_ai; chain nodes publish it, a chainless node follows the quorum and charges it live', async (t) => {
  const dev = await startDevnet({ port: 0, accounts: 5 })
  const dirs = Array.from({ length: 5 }, (_, i) => tempDir(`zeone-params-${i}-`))
  const nodes: ZeoneNode[] = []
  t.after(async () => {
    for (const n of nodes.reverse()) await n.stop()
    await dev.stop()
    for (const d of dirs) d.cleanup()
  })
  // nodes 0..2: staked (20k ZEO) and bound; node 3: chain access, bound, unstaked; node 4: no chain at all
  for (let i = 0; i < 4; i++) {
    const dir = dirs[i]!.dir
    writeDeployment(dir, 'chain-deployment.json', { ...dev.deployment, rpcUrl: dev.url })
    writeFileAtomic(join(dir, 'evm.key'), new TextEncoder().encode(`${devKey(i + 1)}\n`), 0o600)
    const { identity } = loadOrCreateIdentity(dir, { puzzleBits: 0 })
    const cl = await ChainClient.open({ deployment: dev.deployment, rpcUrl: dev.url, privateKey: devKey(i + 1) })
    if (i < 3) await cl.stake(parseEther('20000'))
    await cl.bind(identity)
  }
  const start = async (i: number, bootstrap: string[]): Promise<ZeoneNode> => {
    const chain = i < 4
    const config = validateConfig({
      dataDir: dirs[i]!.dir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap }, ops: { httpPort: -1, logLevel: 'silent' },
      dht: { staticPuzzleBits: 0, dynamicPuzzleBits: 4 },
      chain: { enabled: chain, paramsRefreshSec: 3600, paramsSync: { confirmations: 0, quorum: 3, followSec: 3600 } },
    })
    const n = createNode(config, { layers: [['dht', dhtAttach], ['economy', economyAttach]] })
    await n.start()
    nodes.push(n)
    return n
  }
  const first = await start(0, [])
  const seed = `127.0.0.1:${first.listenAddress!.port}`
  for (let i = 1; i < 5; i++) await start(i, [seed])
  for (const n of nodes) await until(() => (n.services.get('dht')?.table.size ?? 0) >= 4, 'every DHT table holds the other four')
  const params = nodes.map((n) => n.services.get('params')!) as ParamsHandle[]
  const eco = nodes.map((n) => n.services.get('economy')!)
  assert.deepEqual(params.map((p) => p.source), ['chain', 'chain', 'chain', 'chain', 'network'])

  // the deployment's values, published by the three staked nodes; the unstaked one reads them but stays silent
  for (const p of params.slice(0, 4)) await p.poll()
  const key = paramsKey(dev.deployment.chainId)
  const dht4 = nodes[4]!.services.get('dht')!
  const publishers = async (): Promise<number | undefined> => { const n = (await dht4.getAll(key)).length; return n === 3 ? n : undefined }
  await until(publishers, 'three params records under the params key')
  const d0 = await params[4]!.poll()
  assert.ok(d0?.accepted, `the follower agreed on the deployment values: ${JSON.stringify([...(d0?.refused ?? [])])}`)
  const block0 = d0.accepted.snapshot.blockNumber
  assert.equal(d0.accepted.snapshot.values.fee_ai, 50n)
  assert.equal(d0.accepted.supporters.length, 3)
  assert.equal(eco[4]!.pricing.priceOf('cortex').price, 50n)

  // governance: node 0's account proposes fee_ai = 123, votes, and the devnet's clock is moved past each deadline
  const gov = await ChainClient.open({ deployment: dev.deployment, rpcUrl: dev.url, privateKey: devKey(1) })
  const advance = async (seconds: number): Promise<void> => {
    await dev.chain.request({ method: 'evm_increaseTime', params: [seconds] } as never)
    await dev.chain.request({ method: 'evm_mine', params: [] } as never)
  }
  const id = await propose(gov, [setParamAction(gov, 'fee_ai', 123n)], 'params e2e: fee_ai 123')
  await advance(2)
  assert.equal(await proposalState(gov, id), 'Active')
  await vote(gov, id, 1)
  await advance(61)
  assert.equal(await proposalState(gov, id), 'Succeeded')
  await queue(gov, id)
  await advance(2)
  await execute(gov, id)
  assert.equal(await proposalState(gov, id), 'Executed')

  // the chain nodes pick the change up (their own refresh) and republish at the change's block
  for (const p of params.slice(0, 4)) await p.poll()
  assert.equal(params[0]!.current()?.snapshot.values.fee_ai, 123n)
  assert.ok(params[0]!.current()!.snapshot.blockNumber > block0)
  // the chainless node follows once all three moved (quorum 3), and its running economy charges the new fee
  assert.equal(eco[4]!.pricing.priceOf('cortex').price, 50n)
  const moved = await until(async () => {
    const d = await params[4]!.poll()
    return d?.accepted ?? (params[4]!.current()?.snapshot.values.fee_ai === 123n ? params[4]!.current() : undefined)
  }, 'the follower accepts the new block')
  assert.equal(moved.snapshot.values.fee_ai, 123n)
  assert.equal(params[4]!.current()?.source, 'network')
  assert.equal(eco[4]!.pricing.priceOf('cortex').price, 123n)
  const peer = nodes[0]!.identity.publicKey
  assert.equal(eco[4]!.record(peer, 'cortex', 10n, 'served'), 1230n)
  // the chain nodes' own economies apply it from their chain reads (chain.paramsRefreshSec; refreshed here at once)
  await nodes[1]!.services.get('chain')!.refresh()
  assert.equal(eco[1]!.pricing.priceOf('cortex').price, 123n)
  // the unstaked chain node never published: the key holds exactly the three staked publishers
  const pubs = new Set((await dht4.getAll(key)).map((r) => Buffer.from(r.publisher).toString('hex')))
  assert.equal(pubs.size, 3)
  assert.ok(!pubs.has(Buffer.from(nodes[3]!.identity.publicKey).toString('hex')))

  // what a node with chain access can verify about a record that a follower cannot: hash, stake, claim
  const recs = await dht4.getAll(key)
  for (const r of recs) {
    const { snapshot, claim } = decodeParamsRecord(r.value)
    assert.equal(await checkWithChain(gov, r.publisher, snapshot, claim, 1n), undefined)
  }
  const { snapshot: s0, claim: c0 } = decodeParamsRecord(recs[0]!.value)
  assert.equal(await checkWithChain(gov, recs[0]!.publisher, { ...s0, blockHash: new Uint8Array(32).fill(9) }, c0, 1n), 'wrong_block_hash')
  assert.equal(await checkWithChain(gov, recs[0]!.publisher, s0, { evm: c0!.evm, stakeWei: c0!.stakeWei * 2n }, 1n), 'stake_overclaimed')
  assert.equal(await checkWithChain(gov, nodes[3]!.identity.publicKey, s0, c0, 1n), 'not_staked')
  assert.equal(await checkWithChain(gov, nodes[4]!.identity.publicKey, s0, c0, 1n), 'not_staked')
})
