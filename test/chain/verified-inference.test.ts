// Issue 21 item 4: on-chain fraud proofs of verified inference on the real EVM (EDR), the last one from a live
// pipeline generation the coordinator audited: a provider's signed
// activation commitment (DataAttestation) slashed by a quorum of staked inference verifiers' verdicts
// (Staking.slashByVerdict), with replay, forgery, quorum, stake and distinctness cases; and an equivocation (two
// commitments for one block) through slashInvalidData.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Hex } from 'viem'
import { ChainClient } from '../../src/economy/chain/client.js'
import { commitBlock } from '../../src/cortex/verify/commit.js'
import { INPUT_GENESIS, signCommitment, type InferenceRef } from '../../src/cortex/verify/attest.js'
import { attestCommitment, evmAttester, signVerdict, submitEquivocation, submitVerdictProof, verdictDigest, type Verdict } from '../../src/cortex/verify/onchain.js'
import { Identity } from '../../src/crypto/identity.js'
import { makeFixture, reverts, keys, ZEO, type Fixture } from './fixture.js'
import { stakeFor } from './gov-helpers.js'
import { MemoryNetwork, type MemoryNode } from '../../src/transport/memory.js'
import { StageEngine } from '../../src/cortex/stage.js'
import { StageServer } from '../../src/cortex/server.js'
import { StaticStageDirectory } from '../../src/cortex/directory.js'
import { PipelineSession, RemoteStageClient } from '../../src/cortex/pipeline.js'
import { generateAll } from '../../src/cortex/generate.js'
import { Prng } from '../../src/cortex/sampling.js'
import { confirmEvidence, LiveAuditor } from '../../src/cortex/verify/audit.js'
import { directoryReplayers, engineReplayer } from '../../src/cortex/verify/replay.js'
import { identity, refClock, tinyModel } from '../cortex/helpers.js'

const S = 'Staking'
const INFERENCE = 3 // Staking.Kind.Inference
const bonded = async (f: Fixture, i: number): Promise<bigint> => (await f.r<{ bonded: bigint }>(f.dep.staking, S, 'accountOf', [f.addr(i)])).bonded
const node = Identity.fromSeed(new Uint8Array(32).fill(7))
const ref: InferenceRef = { model: 'tiny', weightsRoot: new Uint8Array(32).fill(1), start: 0, end: 3, nonce: new Uint8Array(16).fill(2) }
const block = (seed: number): Uint8Array => commitBlock(Float32Array.from({ length: 32 * 64 }, (_, i) => Math.sin(i * seed)))

async function setup(): Promise<{ f: Fixture; cl: ChainClient; dom: { chainId: bigint; staking: `0x${string}` } }> {
  const f = await makeFixture()
  await stakeFor(f, 1, ZEO(10_000)) // the provider
  await f.w(1, f.dep.staking, S, 'registerProvider', [INFERENCE, 0])
  for (const i of [2, 3, 4]) { await stakeFor(f, i, ZEO(1_000)); await f.w(i, f.dep.staking, S, 'registerProvider', [INFERENCE, 0]) }
  await stakeFor(f, 5, ZEO(1_000)) // staked, but not an inference provider
  const cl = await ChainClient.open({ deployment: f.dep, provider: f.chain, privateKey: keys[6]! })
  return { f, cl, dom: { chainId: 31337n, staking: f.dep.staking } }
}

test('slashByVerdict: a quorum of staked inference verifiers slashes a signed commitment once; every malformed proof reverts', async () => {
  const { f, cl, dom } = await setup()
  const c = signCommitment(node, ref, 0, INPUT_GENESIS, block(1))
  const att = await attestCommitment(keys[1]!, dom, c)
  assert.equal(verdictDigest(dom, att), await f.r<Hex>(f.dep.staking, S, 'verdictDigest', [att.root, att.index, att.dataHash]))
  const v = async (i: number, a = att): Promise<Verdict> => signVerdict(keys[i]!, dom, a)
  const quorum = [await v(2), await v(3), await v(4)]
  const raw = (a: typeof att, vs: Verdict[]) => f.w(6, f.dep.staking, S, 'slashByVerdict', [f.addr(1), a.root, a.index, a.dataHash, a.signature, vs.map((x) => x.verifier), vs.map((x) => x.signature)])
  const sorted = (vs: Verdict[]) => [...vs].sort((x, y) => (BigInt(x.verifier) < BigInt(y.verifier) ? -1 : 1))
  // below the quorum (3)
  await reverts(submitVerdictProof(cl, f.addr(1), att, quorum.slice(0, 2)), 'InvalidFraudProof')
  // a verifier that is not a staked inference provider
  await reverts(submitVerdictProof(cl, f.addr(1), att, [quorum[0]!, quorum[1]!, await v(5)]), 'InvalidFraudProof')
  // the same verifier twice (bypassing the client-side check)
  const s = sorted(quorum)
  await reverts(raw(att, [s[0]!, s[0]!, s[1]!]), 'InvalidFraudProof')
  // unsorted verifiers
  await reverts(raw(att, [s[2]!, s[1]!, s[0]!]), 'InvalidFraudProof')
  // the provider as its own verifier
  await reverts(submitVerdictProof(cl, f.addr(1), att, [quorum[0]!, quorum[1]!, await v(1)]), 'InvalidFraudProof')
  // a forged attestation: the commitment signed by another key than the staked provider's
  const forged = await attestCommitment(keys[7]!, dom, c)
  await reverts(submitVerdictProof(cl, f.addr(1), forged, [await v(2, forged), await v(3, forged), await v(4, forged)]), 'InvalidFraudProof')
  // verdicts over another commitment than the attested one
  const otherAtt = await attestCommitment(keys[1]!, dom, signCommitment(node, ref, 0, INPUT_GENESIS, block(2)))
  await reverts(submitVerdictProof(cl, f.addr(1), att, [await v(2, otherAtt), await v(3, otherAtt), await v(4, otherAtt)]), 'InvalidFraudProof')
  // a verdict whose signature is not the named verifier's
  const swapped = [{ verifier: quorum[0]!.verifier, signature: quorum[1]!.signature }, quorum[1]!, quorum[2]!]
  await reverts(submitVerdictProof(cl, f.addr(1), att, swapped), 'InvalidFraudProof')
  assert.equal(await bonded(f, 1), ZEO(10_000), 'nothing slashed by a bad proof')
  // the valid proof: 10% slashed (invalid data), the submitter rewarded
  const b6 = await f.r<bigint>(f.dep.token, 'ZEOToken', 'balanceOf', [f.addr(6)])
  await submitVerdictProof(cl, f.addr(1), att, quorum)
  assert.equal(await bonded(f, 1), ZEO(9_000))
  assert.equal((await f.r<bigint>(f.dep.token, 'ZEOToken', 'balanceOf', [f.addr(6)])) - b6, ZEO(100))
  // replay of the same proof, and a second proof for the same block
  await reverts(submitVerdictProof(cl, f.addr(1), att, quorum), 'InvalidFraudProof')
  await reverts(submitVerdictProof(cl, f.addr(1), otherAtt, [await v(2, otherAtt), await v(3, otherAtt), await v(4, otherAtt)]), 'InvalidFraudProof')
  assert.equal(await bonded(f, 1), ZEO(9_000))
  // governance can turn the path off
  await f.w(0, f.dep.staking, S, 'setVerdictQuorum', [0n, 0n])
  const att2 = await attestCommitment(keys[1]!, dom, signCommitment(node, ref, 1, INPUT_GENESIS, block(3)))
  await reverts(submitVerdictProof(cl, f.addr(1), att2, [await v(2, att2), await v(3, att2), await v(4, att2)]), 'InvalidFraudProof')
  await reverts(f.w(2, f.dep.staking, S, 'setVerdictQuorum', [1n, 0n]), 'AccessControlUnauthorizedAccount')
})

test('equivocation: two signed commitments for one block of one inference slash through slashInvalidData', async () => {
  const { f, cl, dom } = await setup()
  const a = await attestCommitment(keys[1]!, dom, signCommitment(node, ref, 4, INPUT_GENESIS, block(1)))
  const b = await attestCommitment(keys[1]!, dom, signCommitment(node, ref, 4, INPUT_GENESIS, block(2)))
  // the same commitment twice is no fraud; another block index is no conflict
  await assert.rejects(submitEquivocation(cl, f.addr(1), a, a), /agree/)
  const c = await attestCommitment(keys[1]!, dom, signCommitment(node, ref, 5, INPUT_GENESIS, block(2)))
  await assert.rejects(submitEquivocation(cl, f.addr(1), a, c), /different chunks/)
  await submitEquivocation(cl, f.addr(1), a, b)
  assert.equal(await bonded(f, 1), ZEO(9_000))
  await reverts(submitEquivocation(cl, f.addr(1), b, a), 'InvalidFraudProof')
})

test('live: a pipeline generation through a swapped-model stage yields evidence that slashes it on chain (quorum of 3 confirmers)', async (t) => {
  const { f, cl, dom } = await setup()
  const opts = { family: 'llama' as const, layers: 2, hidden: 32, heads: 4, kvHeads: 2, vocab: 300, maxPositions: 128 }
  const claimed = tinyModel({ ...opts, seed: 31 }), swapped = tinyModel({ ...opts, seed: 32 })
  const net = new MemoryNetwork({ clock: refClock })
  const at = (port: number) => ({ host: '10.0.8.1', port })
  const client = net.createNode(identity(70), at(70))
  const nodes: MemoryNode[] = [client], servers: StageServer[] = [], engines: StageEngine[] = []
  t.after(async () => {
    for (const s of servers) s.stop()
    for (const e of engines) await e.close()
    for (const n of nodes) n.stop()
    claimed.cleanup(); swapped.cleanup()
  })
  const serve = async (port: number, dir: string, start: number, end: number): Promise<void> => {
    const node = net.createNode(identity(port), at(port))
    const engine = await StageEngine.load(dir, { start, end })
    // the provider (keys[1], staked as an inference provider) signs every block with its bound key
    const s = new StageServer({ modelId: 'm', engine, router: node.router, prover: { signer: node.identity, evm: evmAttester(keys[1]!, dom) } })
    s.start(); nodes.push(node); servers.push(s); engines.push(engine)
  }
  await serve(71, claimed.dir, 0, 1)
  await serve(72, swapped.dir, 1, 2) // the cheat
  await serve(73, claimed.dir, 1, 2) // an honest replica
  const dims = { hidden: 32, vocab: 300, layers: 2 }
  const rng = new Prng(5)
  const auditor = new LiveAuditor({
    random: () => rng.next(), rate: 1,
    replayerFor: directoryReplayers(new StaticStageDirectory(client, [at(73)]), client, 'm', dims, client.identity.publicKey),
    verdict: { privateKey: keys[2]!, domain: dom },
  })
  const remote = async (port: number, start: number, end: number) => new RemoteStageClient(await client.dial(at(port)), 'm', start, end, 2, 32, 300)
  const s = new PipelineSession({ model: 'm', layers: 2, hidden: 32, vocab: 300, chain: [await remote(71, 0, 1), await remote(72, 1, 2)], audit: auditor })
  await generateAll(s, [3, 4, 5], { temperature: 0.7, seed: 9 }, { maxTokens: 32 })
  await auditor.settled()
  assert.equal(auditor.evidence.length, 1)
  const e = auditor.evidence[0]!
  assert.equal(e.reason, 'failed_check')
  // two more staked verifiers confirm on their own copies of the claimed model; an honest trace gets no verdict
  const own = await StageEngine.load(claimed.dir, { start: 1, end: 2 })
  engines.push(own)
  const v3 = await confirmEvidence(e, engineReplayer(own), { privateKey: keys[3]!, domain: dom })
  const v4 = await confirmEvidence(e, engineReplayer(own), { privateKey: keys[4]!, domain: dom })
  assert.ok(v3 && v4)
  const lie = await StageEngine.load(swapped.dir, { start: 1, end: 2 })
  engines.push(lie)
  assert.equal(await confirmEvidence(e, engineReplayer(lie), { privateKey: keys[3]!, domain: dom }), undefined, 'a verifier running the provider\'s model finds no fault')
  assert.equal(await confirmEvidence({ ...e, steps: e.steps!.slice(1) }, engineReplayer(own), { privateKey: keys[3]!, domain: dom }), undefined)
  // the fraud proof: the provider's DataAttestation (its bound key) + three verdicts, accepted by Staking
  await submitVerdictProof(cl, f.addr(1), e.attestation!, [e.verdict!, v3, v4])
  assert.equal(await bonded(f, 1), ZEO(9_000))
})
