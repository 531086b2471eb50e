// cortex.slashFailedChecks on real nodes (TCP, DHT, SQLite ledgers) and the real EVM devnet (EDR over JSON-RPC): a
// provider serves the last stage of a model with other weights than it claims (cortex.commitActivations, its bound
// key staked), two staked nodes serve honest replicas of those layers with the verifier service on (cortex.verifier),
// and two coordinators holding the first stage audit every block (cortex.auditRate 1) with bound staked keys. The
// coordinator with the flag off finds the fraud and signs its verdict but submits nothing; the one with the flag on
// hires the verifiers through their provider records, reaches Staking's verdictQuorum (its own verdict + two) and
// slashes the provider's stake once. A third coordinator (cortex.audit.verifiers 'both') checks with a replica and a
// hired verifier and slashes a second block without hiring (or paying) any verifier twice for it. Waits on
// conditions and on the service's auditsSettled(), never on time.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { keccak256, parseEther, toHex } from 'viem'
import { loadOrCreateIdentity, writeFileAtomic } from '../../src/crypto/identity.js'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { ChainClient } from '../../src/economy/chain/client.js'
import { devKey, startDevnet } from '../../src/economy/chain/devnet.js'
import { writeDeployment } from '../../src/economy/chain/files.js'
import { findVerifiers } from '../../src/cortex/verify/check-client.js'
import { tempDir } from '../economy/helpers.js'
import { tinyModel } from './helpers.js'
import Database from 'better-sqlite3'
import { LEDGER_FILE } from '../../src/economy/attach.js'
import { VERIFY_SERVICE } from '../../src/cortex/verify/check-wire.js'

const INFERENCE = 3
const MODEL = 'tiny-slash'

const until = async <T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string): Promise<T> => {
  for (let i = 0; i < 4000; i++) {
    const v = await check()
    if (v !== undefined && v !== false) return v as T
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`condition never held: ${what}`)
}

test('cortex.slashFailedChecks: a swapped-model stage is slashed on chain through the node wiring, once; with the flag off nothing is submitted', { timeout: 540_000 }, async (t) => {
  const dev = await startDevnet({ port: 0, accounts: 8, deploy: { keepDeployerAdmin: true } })
  const opts = { family: 'llama' as const, layers: 2, kvHeads: 2, maxPositions: 160 }
  const claimed = tinyModel({ ...opts, seed: 61 }), swapped = tinyModel({ ...opts, seed: 62 })
  const dirs: { dir: string; cleanup(): void }[] = []
  const nodes: ZeoneNode[] = []
  t.after(async () => {
    for (const n of nodes.reverse()) await n.stop()
    await dev.stop()
    for (const d of dirs) d.cleanup()
    claimed.cleanup(); swapped.cleanup()
  })
  // the governed whitelist must hold the model (a stage with the chain attached serves only whitelisted models)
  const admin = await ChainClient.open({ deployment: dev.deployment, rpcUrl: dev.url, privateKey: devKey(0) })
  await admin.write(dev.deployment.params, 'Params', 'setModel', [keccak256(toHex(MODEL)), true])

  /** A node with its own data dir, the deployment, its EVM key (dev account `acct`) bound and staked as an Inference provider. */
  const start = async (acct: number, stake: string, cortex: object, bootstrap: string[]): Promise<{ node: ZeoneNode; chain: ChainClient }> => {
    const d = tempDir(`zeone-slash-${acct}-`)
    dirs.push(d)
    writeDeployment(d.dir, 'chain-deployment.json', { ...dev.deployment, rpcUrl: dev.url })
    writeFileAtomic(join(d.dir, 'evm.key'), new TextEncoder().encode(`${devKey(acct)}\n`), 0o600)
    const { identity } = loadOrCreateIdentity(d.dir, { puzzleBits: 0 })
    const chain = await ChainClient.open({ deployment: dev.deployment, rpcUrl: dev.url, privateKey: devKey(acct) })
    await chain.bind(identity)
    await chain.stake(parseEther(stake))
    await chain.registerProvider(INFERENCE, 0)
    const node = createNode(validateConfig({
      dataDir: d.dir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap }, ops: { httpPort: -1, logLevel: 'silent' },
      dht: { staticPuzzleBits: 0, dynamicPuzzleBits: 4 }, chain: { enabled: true, paramsRefreshSec: 3600 }, cortex,
    }))
    nodes.push(node)
    await node.start()
    return { node, chain }
  }
  // the cheat: more free sessions than the replicas, so the coordinators' chains go through it
  const cheat = await start(1, '10000', { serve: [{ path: swapped.dir, modelId: MODEL, layers: '1:2', maxSessions: 64 }], commitActivations: true }, [])
  const boot = [`127.0.0.1:${cheat.node.listenAddress!.port}`]
  const r3 = await start(3, '1000', { serve: [{ path: claimed.dir, modelId: MODEL, layers: '1:2' }], verifier: true }, boot)
  const r4 = await start(4, '1000', { serve: [{ path: claimed.dir, modelId: MODEL, layers: '1:2' }], verifier: true }, boot)
  const audit = { auditRate: 1, audit: { verifiers: 'replica' } }
  const off = await start(2, '1000', { serve: [{ path: claimed.dir, modelId: MODEL, layers: '0:1' }], ...audit, slashFailedChecks: false }, boot)
  const on = await start(5, '1000', { serve: [{ path: claimed.dir, modelId: MODEL, layers: '0:1' }], ...audit, slashFailedChecks: true }, boot)
  // cortex.audit.verifiers 'both': a replica this node re-executes on, plus one hired verifier per sampled block
  const both = await start(6, '1000', { serve: [{ path: claimed.dir, modelId: MODEL, layers: '0:1' }], auditRate: 1, audit: { verifiers: 'both', hire: 1 }, slashFailedChecks: true }, boot)

  for (const a of [off, on, both]) {
    const svc = a.node.services.get('cortex')!, providers = a.node.services.get('providers')!
    await until(async () => (await svc.init.directory.find(MODEL)).filter((c) => c.start === 1).length >= 3, 'the coordinator sees the cheat and both replicas')
    await until(async () => (await findVerifiers(providers, MODEL)).length >= 2, 'the coordinator finds both verifiers through their provider records')
  }
  const bonded = async (): Promise<bigint> => (await cheat.chain.stakeStatus()).bonded
  assert.equal(await bonded(), parseEther('10000'))

  /** One generation of 40 tokens (one committed block of 32 steps on the last stage), then every check and proof done. */
  const run = async (a: { node: ZeoneNode }) => {
    const svc = a.node.services.get('cortex')!
    let n = 0
    for await (const c of svc.generate({ model: MODEL, prompt: 'once upon a time', maxTokens: 40, temperature: 0.8, seed: 5 })) if (c.id >= 0) n++
    await svc.auditsSettled()
    return { tokens: n, stats: svc.auditStats }
  }

  const a = await run(off)
  assert.ok(a.tokens >= 32, `a committed block needs 32 steps, the generation made ${a.tokens}`)
  assert.equal(a.stats.failed, 1, 'the flag-off coordinator found the fraud')
  assert.equal(await bonded(), parseEther('10000'), 'and submitted nothing')

  const b = await run(on)
  assert.equal(b.stats.failed, 1)
  assert.equal(b.stats.lied, 0, 'both replicas agreed')
  // auditsSettled waited for the fraud path: the proof is on chain, 10% of the stake slashed, once
  assert.equal(await bonded(), parseEther('9000'))
  assert.equal((await r3.chain.stakeStatus()).bonded, parseEther('1000'), 'the verifiers keep their stake')

  // 'both': the replica and the hired verifier fail the block; the fraud path hires only the verifier whose verdict
  // the audit lacks (the hired one is not hired, nor paid, twice for one block): own + hired + one more = quorum
  const c = await run(both)
  assert.equal(c.stats.failed, 1)
  assert.equal(await bonded(), parseEther('8100'), 'a second block (a new session root): slashed again')
  const checks = (n: ZeoneNode, peer: ZeoneNode, kind: 'charged' | 'billed'): number => {
    n.services.get('economy')!.flush()
    const db = new Database(join(n.dataDir, LEDGER_FILE), { readonly: true })
    try {
      return Number((db.prepare('SELECT COALESCE(SUM(units), 0) AS u FROM txlog WHERE kind = ? AND service = ? AND peer = ?').get(kind, VERIFY_SERVICE, Buffer.from(peer.identity.publicKey)) as { u: number }).u)
    } finally { db.close() }
  }
  // each verifier answered the 'both' coordinator one check for the block, in both SQLite ledgers
  for (const r of [r3, r4]) {
    assert.equal(checks(r.node, both.node, 'charged'), 1, 'one check per verifier and block')
    assert.equal(checks(both.node, r.node, 'billed'), 1)
  }
  // the flag-on replica-mode coordinator hired both verifiers once each (its own verdict was the third)
  for (const r of [r3, r4]) assert.equal(checks(r.node, on.node, 'charged'), 1)
  assert.equal(checks(r3.node, off.node, 'charged'), 0, 'the flag-off coordinator hired nobody')
})
