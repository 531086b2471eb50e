/**
 * Live verified inference (issue 21 item 4): the pipeline coordinator audits a real generation over the network.
 * Stages served with a prover return signed commitments; the coordinator's LiveAuditor re-executes sampled blocks
 * on another provider of the same layers (found through the stage directory) and checks them. An honest chain
 * passes every check; a provider serving a swapped model, 4-bit weights claimed as fp32, or a forged commitment is
 * caught with a trust event and Evidence that carries its DataAttestation and our InferenceVerdict.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { generatePrivateKey } from 'viem/accounts'
import { MemoryNetwork, type MemoryNode } from '../../src/transport/memory.js'
import { StageEngine } from '../../src/cortex/stage.js'
import { StageServer } from '../../src/cortex/server.js'
import { StaticStageDirectory } from '../../src/cortex/directory.js'
import { PipelineSession, RemoteStageClient, type StageClient } from '../../src/cortex/pipeline.js'
import { generateAll } from '../../src/cortex/generate.js'
import { LiveAuditor, type Evidence } from '../../src/cortex/verify/audit.js'
import { directoryReplayers } from '../../src/cortex/verify/replay.js'
import { attestationSigner } from '../../src/economy/chain/attestation.js'
import { evmAttester, verdictDigest } from '../../src/cortex/verify/onchain.js'
import type { TrustEvent } from '../../src/interfaces/trust.js'
import { Prng } from '../../src/cortex/sampling.js'
import { recoverAddress } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { identity, refClock, tempDir, tinyModel } from './helpers.js'
import { makeEconomy } from '../economy/helpers.js'
import { join } from 'node:path'

const opts = { family: 'llama' as const, layers: 4, hidden: 32, heads: 4, kvHeads: 2, vocab: 300, maxPositions: 256 }
const claimed = tinyModel({ ...opts, seed: 21 })
const swapped = tinyModel({ ...opts, seed: 22 })
const net = new MemoryNetwork({ clock: refClock })
const dims = { hidden: 32, vocab: 300, layers: 4 }
const domain = { chainId: 31337n, staking: '0x5FbDB2315678afecb367f032d93F642f64180aa3' as const }
const providerKey = generatePrivateKey(), clientKey = generatePrivateKey()
const nodes: MemoryNode[] = [], servers: StageServer[] = []
let client: MemoryNode
const addr = (port: number) => ({ host: '10.0.7.1', port })

async function serve(port: number, dir: string, start: number, end: number, quantBits: 0 | 4 = 0): Promise<void> {
  const node = net.createNode(identity(port), addr(port))
  const engine = await StageEngine.load(dir, { start, end, quantBits })
  const s = new StageServer({ modelId: 'm', engine, router: node.router, prover: { signer: node.identity, evm: evmAttester(providerKey, domain) } })
  s.start()
  nodes.push(node); servers.push(s)
}

before(async () => {
  client = net.createNode(identity(60), addr(60))
  await serve(61, claimed.dir, 0, 2) // honest first half
  await serve(62, claimed.dir, 2, 4) // honest second half
  await serve(63, claimed.dir, 2, 4) // honest replica (the verifier's provider)
  await serve(64, claimed.dir, 0, 2) // honest replica of the first half
  await serve(65, swapped.dir, 2, 4) // swapped model
  await serve(66, claimed.dir, 2, 4, 4) // 4-bit weights, claimed as the fp32 model
})
after(async () => {
  for (const s of servers) { s.stop(); await s.engine.close() }
  for (const n of nodes) n.stop()
  client.stop(); claimed.cleanup(); swapped.cleanup()
})

async function remote(port: number, start: number, end: number): Promise<StageClient> {
  return new RemoteStageClient(await client.dial(addr(port)), 'm', start, end, 4, dims.hidden, dims.vocab)
}

/** Generates `tokens` tokens over (first, second) with every committed block audited (rate 1). */
async function audited(first: number, second: number, tokens: number, seed: number, replicas = [61, 62, 63, 64]) {
  const trust: { node: string; event: TrustEvent }[] = []
  const rng = new Prng(seed)
  const dir = new StaticStageDirectory(client, replicas.map(addr))
  const auditor = new LiveAuditor({
    random: () => rng.next(), rate: 1, replayerFor: directoryReplayers(dir, client, 'm', dims, client.identity.publicKey),
    trust: { report: (n, event) => trust.push({ node: Buffer.from(n).toString('hex'), event }) }, verdict: { privateKey: clientKey, domain },
  })
  const s = new PipelineSession({ model: 'm', ...dims, chain: [await remote(first, 0, 2), await remote(second, 2, 4)], audit: auditor })
  const r = await generateAll(s, [5, 6, 7, 8], { temperature: 0.8, seed }, { maxTokens: tokens })
  await auditor.settled()
  return { r, auditor, trust }
}
const hexId = (port: number): string => Buffer.from(identity(port).publicKey).toString('hex')

test('an honest pipeline generation: every block of both stages re-executed on another provider passes', async () => {
  const { r, auditor, trust } = await audited(61, 62, 2 * 32 + 3, 1)
  assert.equal(r.ids.length, 67)
  // prompt + 66 decode steps = 67 steps per stage: 2 blocks per stage
  assert.deepEqual(auditor.stats, { commitments: 4, scheduled: 4, checked: 4, passed: 4, skipped: 0, failed: 0, disputed: 0 })
  assert.deepEqual(trust, [])
})

for (const [name, port] of [['a swapped model', 65], ['4-bit weights claimed as fp32', 66]] as const) {
  test(`live audit catches ${name} on the last stage: trust event, attestation by its bound key, our verdict`, async () => {
    const { auditor, trust } = await audited(61, port, 40, 2)
    assert.equal(auditor.stats.checked, 2)
    assert.equal(auditor.stats.failed, 1, 'the honest first stage passes, the dishonest second fails')
    const e = auditor.evidence[0] as Evidence
    assert.equal(e.reason, 'failed_check')
    assert.equal(Buffer.from(e.provider).toString('hex'), hexId(port))
    assert.deepEqual(e.stage, { start: 2, end: 4 })
    assert.ok(e.replayer?.includes('/2:4'))
    assert.deepEqual(trust, [{ node: hexId(port), event: 'invalid_inference' }])
    assert.equal(await attestationSigner(domain.chainId, domain.staking, e.attestation!), privateKeyToAddress(providerKey))
    assert.equal(await recoverAddress({ hash: verdictDigest(domain, e.attestation!), signature: e.verdict!.signature }), privateKeyToAddress(clientKey))
  })
}

test('a dishonest replica cannot frame an honest stage: a second replica\'s passing check disputes the failure', async () => {
  // the swapped-model node (65) is the first replica asked for layers 2:4, the honest 63 the second
  const { auditor, trust } = await audited(61, 62, 40, 3, [65, 63, 64])
  assert.equal(auditor.stats.checked, 2)
  assert.equal(auditor.stats.disputed, 1)
  assert.deepEqual(auditor.evidence, [])
  assert.deepEqual(trust, [])
})

test('a commitment that does not bind the inputs the coordinator sent is evidence without any re-execution', async () => {
  const trust: TrustEvent[] = []
  const auditor = new LiveAuditor({ random: () => 0.99, rate: 0, replayerFor: async () => undefined, trust: { report: (_n, e) => trust.push(e) } })
  // a stage client that relays a real stage but lies about one input it received
  const real = await remote(61, 0, 2)
  let n = 0
  const liar: StageClient = {
    id: real.id, nodeId: real.nodeId, start: 0, end: 2, last: false, release: (sid) => real.release(sid),
    forward: (sid, pos, input, st, smp, sig) => real.forward(sid, pos, ++n === 10 ? { ids: [1], T: 1 } : input, st, smp, sig),
  }
  const s = new PipelineSession({ model: 'm', ...dims, chain: [liar, await remote(62, 2, 4)], audit: auditor })
  await generateAll(s, [5, 6, 7], { temperature: 0 }, { maxTokens: 33 })
  await auditor.settled()
  assert.equal(auditor.evidence.length, 1)
  assert.equal(auditor.evidence[0]!.reason, 'wrong_inputs')
  assert.deepEqual(trust, ['invalid_inference'])
  assert.equal(auditor.stats.commitments, 2)
})

test('pipeline steps take an AbortSignal combined with the session\'s shutdown signal, detached afterwards', async () => {
  const shutdown = new AbortController()
  const s = new PipelineSession({ model: 'm', ...dims, chain: [await remote(61, 0, 2), await remote(62, 2, 4)], signal: shutdown.signal })
  const step = new AbortController()
  await s.step([1, 2, 3], step.signal)
  step.abort()
  await assert.rejects(s.step([4], step.signal), (e: Error) => e.name === 'AbortError')
  await s.step([4]) // a later step without the aborted signal still runs
  shutdown.abort()
  await assert.rejects(s.step([5]), (e: Error) => e.name === 'AbortError')
  s.end()
})

test('a check on another provider is paid through the ledgers: the replica bills what the coordinator consumed', async (t) => {
  const tmp = tempDir('zeone-audit-pay-')
  const payer = makeEconomy(join(tmp.dir, 'client.sqlite'), client.identity, refClock)
  const node = net.createNode(identity(67), addr(67))
  const billed = makeEconomy(join(tmp.dir, 'replica.sqlite'), node.identity, refClock)
  const engine = await StageEngine.load(claimed.dir, { start: 2, end: 4 })
  const replica = new StageServer({ modelId: 'm', engine, router: node.router, usage: billed })
  replica.start()
  t.after(async () => { replica.stop(); await engine.close(); node.stop(); payer.close(); billed.close(); tmp.cleanup() })
  const rng = new Prng(9)
  // only the last stage has a replica here: the first stage's check is skipped, not failed
  const auditor = new LiveAuditor({ random: () => rng.next(), rate: 1, replayerFor: directoryReplayers(new StaticStageDirectory(client, [addr(67)]), client, 'm', dims, client.identity.publicKey, payer) })
  const s = new PipelineSession({ model: 'm', ...dims, chain: [await remote(61, 0, 2), await remote(62, 2, 4)], audit: auditor })
  await generateAll(s, [5, 6, 7, 8], { temperature: 0 }, { maxTokens: 32 })
  await auditor.settled()
  assert.deepEqual(auditor.stats, { commitments: 2, scheduled: 2, checked: 1, passed: 1, skipped: 1, failed: 0, disputed: 0 })
  // the replayed block (a 4-token prompt step + 31 one-token steps) charged by the replica, billed to the coordinator
  const charged = billed.balance(client.identity.publicKey).charged, paid = payer.balance(node.identity.publicKey).billed
  assert.ok(paid > 0n)
  assert.equal(charged, paid)
  assert.equal(charged, billed.pricing.chargeServed('cortex', 35n))
})
