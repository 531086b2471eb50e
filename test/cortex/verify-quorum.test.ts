// Issue 21 item 4 on the real EVM devnet (EDR over JSON-RPC): a swapped-model stage, audited live by a node whose
// bound (staked) EVM key signs its own InferenceVerdict, confirmed by hired `service:verify` verifiers that sign
// theirs; the verdicts the Staking contract would count are collected into a slashByVerdict proof. Three staked
// verifiers slash; fewer do not; an unstaked or a duplicate verifier does not count; an honest commitment gets no
// verdict from an honest verifier.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseEther } from 'viem'
import { startDevnet } from '../../src/economy/chain/devnet.js'
import { ChainClient } from '../../src/economy/chain/client.js'
import { verdictSigner } from '../../src/economy/chain/verdicts.js'
import { MemoryNetwork, type MemoryNode } from '../../src/transport/memory.js'
import { StageEngine } from '../../src/cortex/stage.js'
import { StageServer } from '../../src/cortex/server.js'
import { StaticStageDirectory } from '../../src/cortex/directory.js'
import { PipelineSession, RemoteStageClient } from '../../src/cortex/pipeline.js'
import { generateAll } from '../../src/cortex/generate.js'
import { Prng } from '../../src/cortex/sampling.js'
import { LiveAuditor } from '../../src/cortex/verify/audit.js'
import { directoryReplayers } from '../../src/cortex/verify/replay.js'
import { commitmentAttestation, evmAttester } from '../../src/cortex/verify/onchain.js'
import { decodeSignedCommitment } from '../../src/cortex/verify/attest.js'
import type { StepInput } from '../../src/cortex/verify/trace.js'
import { VerifierServer } from '../../src/cortex/verify/check-server.js'
import { hiredChecker } from '../../src/cortex/verify/check-client.js'
import { confirmWith, slashByEvidence } from '../../src/cortex/verify/slash.js'
import { fraudSubmitter } from '../../src/cortex/verify/fraud.js'
import { LiarBook } from '../../src/cortex/verify/resolve.js'
import type { ProviderDirectory, ProviderRecord } from '../../src/interfaces/providers.js'
import { silentLogger } from '../../src/interfaces/logger.js'
import { identity, refClock, tinyModel } from './helpers.js'

const INFERENCE = 3

test('devnet: a failed live check becomes a slashByVerdict of the provider once three staked verifiers signed', async (t) => {
  const dn = await startDevnet({ port: 0, accounts: 8 })
  t.after(() => dn.stop())
  const open = (i: number) => ChainClient.open({ deployment: dn.deployment, rpcUrl: dn.url, privateKey: dn.keys[i]! })
  const cls = await Promise.all([1, 2, 3, 4, 5, 6].map(open))
  const [provider, a2, a3, a4, , submitter] = cls as [ChainClient, ChainClient, ChainClient, ChainClient, ChainClient, ChainClient]
  await provider.stake(parseEther('10000')); await provider.registerProvider(INFERENCE, 0)
  for (const c of [a2, a3, a4]) { await c.stake(parseEther('1000')); await c.registerProvider(INFERENCE, 0) }
  // dev account 5 holds ZEO but never stakes nor registers: its verdicts must not count
  const dom = { chainId: BigInt(dn.deployment.chainId), staking: dn.deployment.staking }
  const signer = (i: number) => verdictSigner(dn.keys[i]!, dom.chainId, dom.staking)

  const opts = { family: 'llama' as const, layers: 2, hidden: 32, heads: 4, kvHeads: 2, vocab: 300, maxPositions: 128 }
  const claimed = tinyModel({ ...opts, seed: 41 }), swapped = tinyModel({ ...opts, seed: 42 })
  const net = new MemoryNetwork({ clock: refClock })
  const at = (port: number) => ({ host: '10.0.9.1', port })
  const client = net.createNode(identity(90), at(90))
  const nodes: MemoryNode[] = [client], stops: (() => void)[] = [], engines: StageEngine[] = []
  t.after(async () => {
    for (const s of stops) s()
    for (const e of engines) await e.close()
    for (const n of nodes) n.stop()
    claimed.cleanup(); swapped.cleanup()
  })
  const node = (port: number): MemoryNode => { const n = net.createNode(identity(port), at(port)); nodes.push(n); return n }
  const stage = async (port: number, dir: string, evmKey: number): Promise<void> => {
    const n = node(port), engine = await StageEngine.load(dir, { start: 0, end: 2 })
    const s = new StageServer({ modelId: 'm', engine, router: n.router, prover: { signer: n.identity, evm: evmAttester(dn.keys[evmKey]!, dom) } })
    s.start(); stops.push(() => s.stop()); engines.push(engine)
  }
  const verifier = async (port: number, evmKey: number): Promise<VerifierServer> => {
    const n = node(port), engine = await StageEngine.load(claimed.dir, { start: 0, end: 2 })
    const v = new VerifierServer({ modelId: 'm', engine, router: n.router, signer: n.identity, price: () => 0n, evm: signer(evmKey) })
    v.start(); stops.push(() => v.stop()); engines.push(engine)
    return v
  }
  await stage(91, swapped.dir, 1) // the cheat, staked as account 1
  await stage(92, claimed.dir, 7) // an honest replica the auditor re-executes on
  await stage(93, claimed.dir, 1) // an honest provider (same staked key), for the no-verdict case
  const v3 = await verifier(94, 3), v4 = await verifier(95, 4), v5 = await verifier(96, 5)
  const hire = async (port: number) => hiredChecker(await client.dial(at(port)), { signer: client.identity, model: 'm', price: 0n })

  const dims = { hidden: 32, vocab: 300, layers: 2 }
  const seen: { steps: StepInput[]; commits: Uint8Array[] } = { steps: [], commits: [] }
  const run = async (port: number): Promise<LiveAuditor> => {
    seen.steps = []; seen.commits = []
    const rng = new Prng(3)
    // this node's auditor: its bound key is dev account 2 (staked, registered), the chain handle's verdict signer
    const auditor = new LiveAuditor({
      random: () => rng.next(), rate: 1, verdictSigner: signer(2),
      replayerFor: directoryReplayers(new StaticStageDirectory(client, [at(92)]), client, 'm', dims, client.identity.publicKey),
    })
    const s = new PipelineSession({ model: 'm', layers: 2, hidden: 32, vocab: 300, chain: [new RemoteStageClient(await client.dial(at(port)), 'm', 0, 2, 2, 32, 300)],
      // records what the auditor sees (the step inputs and the signed commitments), then lets it audit
      audit: { observe(i, st, pos, input, out) {
        seen.steps.push({ T: input.T, ...(input.ids ? { ids: input.ids.slice() } : {}) })
        if (out.commit) seen.commits.push(out.commit)
        auditor.observe(i, st, pos, input, out)
      } } })
    await generateAll(s, [5, 6, 7], { temperature: 0.7, seed: 4 }, { maxTokens: 32 })
    await auditor.settled()
    return auditor
  }

  const cheat = await run(91)
  assert.equal(cheat.evidence.length, 1)
  const e = cheat.evidence[0]!
  assert.equal(e.reason, 'failed_check')
  assert.ok(e.attestation && e.verdict && e.verdicts?.length === 1, 'the auditor signed its own verdict with its bound key')
  const bonded = async (): Promise<bigint> => (await provider.stakeStatus()).bonded

  // two staked verifiers (the auditor, account 3): below the quorum of 3, nothing is submitted
  const [ver3] = await confirmWith(e, [await hire(94)])
  assert.ok(ver3, 'a hired staked verifier re-executed and signed')
  const two = await slashByEvidence(submitter, e, [ver3])
  assert.equal(two.submitted, false)
  assert.equal(two.quorum, 3n)
  assert.deepEqual(two.admitted.map((x) => x.result), ['accepted', 'accepted'])
  // an unstaked verifier (account 5) and a duplicate (account 3 twice) do not make a quorum
  const [ver5] = await confirmWith(e, [await hire(96)])
  assert.ok(ver5)
  const padded = await slashByEvidence(submitter, e, [ver3, ver3, ver5])
  assert.equal(padded.submitted, false)
  assert.deepEqual(padded.admitted.map((x) => x.result), ['accepted', 'accepted', 'duplicate', 'not_eligible'])
  // the provider as its own verifier does not count either
  const self = signer(1).sign(e.attestation)
  assert.equal((await slashByEvidence(submitter, e, [ver3, self])).admitted[2]!.result, 'accused')
  // forcing the sub-quorum proof onto the chain anyway: the contract refuses it
  await assert.rejects(submitter.write(dn.deployment.staking, 'Staking', 'slashByVerdict', [provider.address, e.attestation.root, e.attestation.index, e.attestation.dataHash, e.attestation.signature,
    [e.verdict.verifier, ver3.verifier].sort((x, y) => (BigInt(x) < BigInt(y) ? -1 : 1)), [e.verdict, ver3].sort((x, y) => (BigInt(x.verifier) < BigInt(y.verifier) ? -1 : 1)).map((v) => v.signature)]), /InvalidFraudProof/)
  assert.equal(await bonded(), parseEther('10000'), 'nothing slashed below the quorum')

  // the third staked verifier (account 4): the proof goes through, 10% slashed, once
  const [ver4] = await confirmWith(e, [await hire(95)])
  const three = await slashByEvidence(submitter, e, [ver3, ver5, ver4!])
  assert.equal(three.submitted, true)
  assert.equal(await bonded(), parseEther('9000'))
  await assert.rejects(slashByEvidence(submitter, e, [ver3, ver4!]), /InvalidFraudProof/)
  assert.equal(await bonded(), parseEther('9000'))
  assert.equal(v3.stats.failed + v4.stats.failed + v5.stats.failed, 3)

  // the node's fraud-proof path (cortex.slashFailedChecks): a new failed check of the same cheat (a fresh session,
  // so a new root) hires the announced verifiers, keeps the staked ones' verdicts and submits at the quorum
  const recs: ProviderRecord[] = []
  const table = (n: MemoryNode): ProviderDirectory => ({
    provide: async (key, data) => { recs.push({ key, nodeId: n.identity.publicKey, addrs: [n.addr], ...(data ? { data } : {}), expires: Date.now() + 3_600_000 }) },
    unprovide: () => {},
    findProviders: async (key) => recs.filter((r) => Buffer.compare(r.key, key) === 0),
  })
  for (const [port, v] of [[96, v5], [94, v3], [95, v4]] as const) v.announce(table(nodes.find((n) => n.addr.port === port)!))
  const again = (await run(91)).evidence[0]!
  assert.notEqual(again.attestation!.root, e.attestation.root)
  const submit = fraudSubmitter({ client: submitter, providers: table(client), links: client, signer: client.identity, model: 'm', layers: 2, logger: silentLogger })
  const res = await submit(again)
  assert.equal(res?.submitted, true)
  assert.deepEqual(res.admitted.map((x) => x.result).sort(), ['accepted', 'accepted', 'accepted', 'not_eligible'])
  assert.equal(await bonded(), parseEther('8100'))
  assert.equal(await submit(again), undefined, 'one attempt per (root, index)')

  // a staked key this node caught signing a false fail verdict (resolve.ts LiarBook: account 4, as verifier 95) never
  // counts toward a slash: its node is not hired, and its verdict offered anyway is disowned: below the quorum
  const book = new LiarBook()
  const liar = nodes.find((n) => n.addr.port === 95)!
  book.add({ verifier: liar.identity.publicKey, checker: 'verify:95', claimed: 'fail', provider: e.provider, stage: e.stage, index: e.index, commitment: e.commitment!, verdict: signer(4).sign(e.attestation), outvotedBy: ['a', 'b'] })
  const third = (await run(91)).evidence[0]!
  const failed4 = v4.stats.failed
  const guarded = await fraudSubmitter({ client: submitter, providers: table(client), links: client, signer: client.identity, model: 'm', layers: 2, logger: silentLogger, liars: book })(third)
  assert.equal(guarded?.submitted, false)
  assert.deepEqual(guarded.admitted.map((x) => x.result).sort(), ['accepted', 'accepted', 'not_eligible'], 'the auditor and account 3; account 5 unstaked; the liar not hired')
  assert.equal(v4.stats.failed, failed4, 'the liar was not asked')
  const forced = await slashByEvidence(submitter, third, [signer(3).sign(third.attestation!), signer(4).sign(third.attestation!)], { disowned: (a) => book.disowned(a) })
  assert.deepEqual([forced.submitted, forced.admitted.map((x) => x.result)], [false, ['accepted', 'accepted', 'disowned']])
  assert.equal(await bonded(), parseEther('8100'), 'nothing slashed on the liar\'s word')

  // an honest provider: the auditor finds nothing, and honest hired verifiers answer ok with no on-chain verdict
  const honest = await run(93)
  assert.equal(honest.evidence.length, 0)
  assert.ok(honest.stats.passed >= 1)
  assert.ok(seen.commits.length >= 1)
  const c = decodeSignedCommitment(seen.commits[0]!)
  for (const port of [94, 95]) {
    const o = await (await hire(port)).check(seen.steps.slice(0, (c.index + 1) * 32), c)
    assert.equal(o.ok, true)
    assert.equal(o.verdict, undefined, 'no verdict over a passing commitment')
  }
  assert.equal(v3.stats.failed + v4.stats.failed, 5, 'the honest checks failed nothing')
  const honestAtt = commitmentAttestation(c)!
  const none = await slashByEvidence(submitter, { attestation: honestAtt, verdicts: [] }, await confirmWith({ commitment: c, steps: seen.steps.slice(0, (c.index + 1) * 32) }, [await hire(94), await hire(95)]))
  assert.equal(none.submitted, false)
  assert.equal(none.admitted.length, 0)
  assert.equal((await a2.stakeStatus()).bonded, parseEther('1000'))
})
