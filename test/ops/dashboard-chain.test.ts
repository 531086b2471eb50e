/** The dashboard's chain part against a real chain (the in-process devnet with the deployed contracts): the node's
 *  bonded stake, the governed parameters and a governance proposal with its state show in the snapshot. */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseEther } from 'viem'
import { loadOrCreateIdentity, writeFileAtomic } from '../../src/crypto/identity.js'
import { createNode, LAYERS, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { readApiToken } from '../../src/ops/api-token.js'
import { startDevnet, type Devnet } from '../../src/economy/chain/devnet.js'
import { writeDeployment } from '../../src/economy/chain/files.js'
import { ChainClient } from '../../src/economy/chain/client.js'
import { propose, setParamAction } from '../../src/economy/chain/governance.js'
import type { Snapshot } from '../../src/ops/dashboard/snapshot.js'

const dirs: string[] = []
let node: ZeoneNode | undefined
let net: Devnet | undefined
after(async () => {
  await node?.stop()
  await net?.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

test('dashboard snapshot with a chain attached: our stake, governed parameters, the latest proposal and its state', { timeout: 180_000 }, async () => {
  net = await startDevnet({ port: 0, accounts: 3 })
  const dataDir = mkdtempSync(join(tmpdir(), 'zeone-dash-chain-'))
  dirs.push(dataDir)
  writeDeployment(dataDir, 'chain-deployment.json', { ...net.deployment, rpcUrl: net.url })
  writeFileAtomic(join(dataDir, 'evm.key'), new TextEncoder().encode(`${net.keys[1]}\n`), 0o600)
  // the node's identity exists before it starts, so it can be bound and staked first
  const { identity } = loadOrCreateIdentity(dataDir, { puzzleBits: 0 })
  const cl = await ChainClient.open({ deployment: net.deployment, rpcUrl: net.url, privateKey: net.keys[1]! })
  await cl.bind(identity)
  await cl.stake(parseEther('5000'))
  const id = await propose(cl, [setParamAction(cl, 'fee_cdn', 300n)], 'dashboard: cdn fee 300')

  node = createNode(validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1', legacy: false }, ops: { httpPort: 0, logLevel: 'silent' }, dht: { staticPuzzleBits: 0 },
    chain: { enabled: true, rpcUrl: net.url },
  }), { layers: LAYERS.filter(([n]) => n === 'economy' || n === 'dashboard') })
  await node.start()
  const url = `http://127.0.0.1:${node.httpAddress!.port}/v1/dashboard/snapshot`
  const auth = { authorization: `Bearer ${readApiToken(dataDir)}` }
  let s: Snapshot | undefined
  for (let i = 0; i < 400; i++) {
    s = await (await fetch(url, { headers: auth })).json() as Snapshot
    if (s.chain?.stakeWei !== null && s.chain?.proposals) break
    await new Promise((r) => setTimeout(r, 50))
  }
  const c = s!.chain!
  assert.equal(c.chainId, 31337)
  assert.equal(c.stakeWei, parseEther('5000').toString())
  assert.equal(c.params?.fee_cdn, '200')
  assert.equal(c.proposals!.length, 1)
  assert.equal(c.proposals![0]!.id, id.toString())
  assert.match(c.proposals![0]!.state, /^(Pending|Active)$/)
  assert.equal(c.proposals![0]!.description, 'dashboard: cdn fee 300')
})
