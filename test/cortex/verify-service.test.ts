/**
 * The verifier service (issue 21 item 4, "the client, or a verifier it pays"): verifiers announce `service:verify`
 * provider records with a price per check; a client's live auditor hires them per sampled block; each answered
 * check is one `cortex:verify` request in both ledgers (real SQLite economies, same units and credits). Hostile
 * cases: a cheating provider, a lying verifier, a silent one, a forged verdict, a client that does not pay, an
 * oversized request. Real stages and engines (ONNX), in-memory links; the provider-record table below stands in
 * for the DHT's (which has its own tests): each node provides records under its own id and address.
 * Why this file is long: every case shares the same loaded engines, verifiers and ledgers (loading them per file
 * would multiply the suite's time); the cases are the service's honest path, its refusals and the audit policies.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { MemoryNetwork, type MemoryNode } from '../../src/transport/memory.js'
import { StageEngine } from '../../src/cortex/stage.js'
import { StageServer } from '../../src/cortex/server.js'
import { PipelineSession, RemoteStageClient } from '../../src/cortex/pipeline.js'
import { generateAll } from '../../src/cortex/generate.js'
import { Prng } from '../../src/cortex/sampling.js'
import { LiveAuditor } from '../../src/cortex/verify/audit.js'
import { decodeSignedCommitment, encodeSignedCommitment, type SignedCommitment } from '../../src/cortex/verify/attest.js'
import { VerifierServer } from '../../src/cortex/verify/check-server.js'
import { directoryCheckers, findVerifiers, hiredChecker } from '../../src/cortex/verify/check-client.js'
import { CheckType, decodeCheckReq, encodeCheckReq, encodeCheckVerdict, encodeVerifierAnnouncement, payMessage, verdictMessage, verifierKey, VERIFY_SERVICE } from '../../src/cortex/verify/check-wire.js'
import { checkQuote } from '../../src/cortex/pay/quote.js'
import type { StepInput } from '../../src/cortex/verify/trace.js'
import type { ProviderDirectory, ProviderRecord } from '../../src/interfaces/providers.js'
import type { Economy } from '../../src/economy/economy.js'
import { RecordingTrust } from '../content/helpers.js'
import { config, makeEconomy } from '../economy/helpers.js'
import { identity, refClock, tempDir, tinyModel } from './helpers.js'
import { verdictSigner, type VerdictSigner } from '../../src/economy/chain/verdicts.js'
import { StaticStageDirectory } from '../../src/cortex/directory.js'
import { networkAuditor } from '../../src/cortex/verify/replay.js'
import { LiarBook } from '../../src/cortex/verify/resolve.js'
import { silentLogger } from '../../src/interfaces/logger.js'
import { decodeCheckVerdict } from '../../src/cortex/verify/check-wire.js'

const PRICE = 5n
// a staked verifier's key (no chain here: the verdict is signed, never submitted); resolve.ts must disown it
const LIAR_EVM = verdictSigner(`0x${'17'.repeat(32)}`, 31337n, '0x5FbDB2315678afecb367f032d93F642f64180aa3')
const model = 'm-verify'
const opts = { family: 'llama' as const, layers: 2, hidden: 32, heads: 4, kvHeads: 2, vocab: 300, maxPositions: 160 }
const claimed = tinyModel({ ...opts, seed: 51 }), swapped = tinyModel({ ...opts, seed: 52 })
const tmp = tempDir('zeone-verify-svc-')
const net = new MemoryNetwork({ clock: refClock })
const at = (port: number) => ({ host: '10.0.11.1', port })
const rawCfg = { pricing: { epochMs: 86_400_000, services: { [VERIFY_SERVICE]: { unit: 'request', price: Number(PRICE) } } } }
// one pricing epoch for the whole file: the dynamic rate stays at 1, so list price = charge on both sides
const cfg = config(rawCfg)

/** Provider records, as each node announces them (node id and address filled in from the announcing node). */
class Records {
  recs: ProviderRecord[] = []
  as(n: MemoryNode): ProviderDirectory {
    return {
      provide: async (key, data) => { this.recs.push({ key, nodeId: n.identity.publicKey, addrs: [n.addr], ...(data ? { data } : {}), expires: Date.now() + 3_600_000 }) },
      unprovide: (key) => { this.recs = this.recs.filter((r) => !(Buffer.compare(r.key, key) === 0 && Buffer.compare(r.nodeId, n.identity.publicKey) === 0)) },
      findProviders: async (key) => this.recs.filter((r) => Buffer.compare(r.key, key) === 0),
    }
  }
}

let client: MemoryNode
let ecoClient: Economy
const ecos = new Map<number, { eco: Economy; file: string }>()
const nodes: MemoryNode[] = [], stops: (() => void)[] = [], engines: StageEngine[] = []
const verifiers = new Map<number, VerifierServer>()

const node = (port: number): MemoryNode => { const n = net.createNode(identity(port), at(port)); nodes.push(n); return n }
async function stage(port: number, dir: string): Promise<void> {
  const n = node(port), engine = await StageEngine.load(dir, { start: 0, end: 2 })
  const s = new StageServer({ modelId: model, engine, router: n.router, prover: { signer: n.identity } })
  s.start(); stops.push(() => s.stop()); engines.push(engine)
}
async function verifier(port: number, dir: string, o: { debtLimit?: number; maxSteps?: number; maxRequestBytes?: number; evm?: VerdictSigner } = {}): Promise<MemoryNode> {
  const n = node(port), engine = await StageEngine.load(dir, { start: 0, end: 2 })
  const file = `v${port}.sqlite`
  const eco = makeEconomy(join(tmp.dir, file), n.identity, refClock, o.debtLimit !== undefined ? config({ ...rawCfg, debtLimit: o.debtLimit }) : cfg)
  ecos.set(port, { eco, file })
  const v = new VerifierServer({ modelId: model, engine, router: n.router, signer: n.identity, price: () => checkQuote(eco.pricing), usage: eco, trust: eco.trust,
    ...(o.maxSteps ? { maxSteps: o.maxSteps } : {}), ...(o.maxRequestBytes ? { maxRequestBytes: o.maxRequestBytes } : {}), ...(o.evm ? { evm: o.evm } : {}) })
  v.start(); stops.push(() => v.stop()); engines.push(engine); verifiers.set(port, v)
  return n
}

before(async () => {
  client = node(10)
  ecoClient = makeEconomy(join(tmp.dir, 'client.sqlite'), client.identity, refClock, cfg)
  await stage(11, claimed.dir) // honest provider
  await stage(12, swapped.dir) // a provider serving another model than the one it claims
  await verifier(21, claimed.dir); await verifier(22, claimed.dir)
  // a lying verifier: its replica is not the claimed model, and its EVM key signs the false fail verdicts it gives
  await verifier(23, swapped.dir, { evm: LIAR_EVM })
  await verifier(24, claimed.dir, { debtLimit: 12 }) // extends 12 micro-credits of credit: two checks and a half
  await verifier(25, claimed.dir, { maxSteps: 40, maxRequestBytes: 16 << 10 })
  const silent = node(26)
  silent.router.handle(CheckType.CORTEX_CHECK, () => { /* never answers */ })
  const forger = node(27), other = identity(99)
  forger.router.handle(CheckType.CORTEX_CHECK, (m) => {
    const r = decodeCheckReq(m.body, { maxSteps: 4096, maxRequestBytes: 1 << 24, hidden: 32 })
    const c = decodeSignedCommitment(r.commit)
    const body = { cid: r.cid, ok: true, index: c.index, root: new Uint8Array(32), dataHash: new Uint8Array(32), matched: 128, k: 128 }
    m.reply?.(CheckType.CORTEX_CHECK_RESP, encodeCheckVerdict({ ...body, signer: other.publicKey, sig: other.sign(...verdictMessage(body)) }))
  })
})
after(async () => {
  for (const s of stops) s()
  for (const e of engines) await e.close()
  for (const n of nodes) n.stop()
  ecoClient.close()
  for (const { eco } of ecos.values()) eco.close()
  claimed.cleanup(); swapped.cleanup(); tmp.cleanup()
})

/** Units and credits of `cortex:verify` the ledger in `file` holds for `peer` as `kind`, read from its SQLite file. */
function ledger(eco: Economy, file: string, peer: Uint8Array, kind: 'charged' | 'billed'): { units: number; amount: number } {
  eco.flush()
  const db = new Database(join(tmp.dir, file), { readonly: true })
  try {
    const r = db.prepare('SELECT COALESCE(SUM(units), 0) AS u, COALESCE(SUM(amount), 0) AS a FROM txlog WHERE kind = ? AND service = ? AND peer = ?').get(kind, VERIFY_SERVICE, Buffer.from(peer)) as { u: number | bigint; a: number | bigint }
    return { units: Number(r.u), amount: Number(r.a) }
  } finally { db.close() }
}
const nodeAt = (port: number): MemoryNode => nodes.find((n) => n.addr.port === port)!
const served = (port: number) => ledger(ecos.get(port)!.eco, ecos.get(port)!.file, client.identity.publicKey, 'charged')
const consumed = (port: number) => ledger(ecoClient, 'client.sqlite', nodeAt(port).identity.publicKey, 'billed')

/** Verifier records announced by the given verifier ports, in that order (hiring picks the first that fits). */
function records(ports: number[]): Records {
  const r = new Records()
  for (const p of ports) {
    const v = verifiers.get(p)
    if (v) v.announce(r.as(nodeAt(p)))
    else void r.as(nodeAt(p)).provide(new Uint8Array(verifierKeyOf()), announcement())
  }
  return r
}
// the silent and forging nodes announce like a real verifier would
const verifierKeyOf = () => verifierKey(model)
const announcement = () => encodeVerifierAnnouncement({ model, start: 0, end: 2, layers: 2, price: PRICE })

const seen: { steps: StepInput[]; commits: SignedCommitment[] } = { steps: [], commits: [] }
async function audited(providerPort: number, recs: Records, timeoutMs = 60_000, make?: (trust: RecordingTrust) => LiveAuditor): Promise<{ auditor: LiveAuditor; trust: RecordingTrust }> {
  const trust = new RecordingTrust()
  const rng = new Prng(8)
  const auditor = make?.(trust) ?? new LiveAuditor({
    random: () => rng.next(), rate: 1, trust,
    checkerFor: directoryCheckers(recs.as(client), client, { signer: client.identity, model, layers: 2, usage: ecoClient, trust, timeoutMs, self: client.identity.publicKey }),
  })
  seen.steps = []; seen.commits = []
  const s = new PipelineSession({ model, layers: 2, hidden: 32, vocab: 300, chain: [new RemoteStageClient(await client.dial(at(providerPort)), model, 0, 2, 2, 32, 300)],
    audit: { observe(i, st, pos, input, out) {
      seen.steps.push({ T: input.T, ...(input.ids ? { ids: input.ids.slice() } : {}) })
      if (out.commit) seen.commits.push(decodeSignedCommitment(out.commit))
      auditor.observe(i, st, pos, input, out)
    } } })
  await generateAll(s, [7, 8, 9], { temperature: 0.7, seed: 6 }, { maxTokens: 64 })
  await auditor.settled()
  return { auditor, trust }
}
const stepsFor = (c: SignedCommitment): StepInput[] => seen.steps.slice(0, (c.index + 1) * 32)

test('verifiers are found through their provider records, with their price per check', async () => {
  const found = await findVerifiers(records([21, 22]).as(client), model)
  assert.deepEqual(found.map((f) => [f.addrs[0]!.port, f.start, f.end, f.layers, f.price]), [[21, 0, 2, 2, PRICE], [22, 0, 2, 2, PRICE]])
  assert.deepEqual(await findVerifiers(records([21]).as(client), 'other-model'), [])
})

test('an honest audited generation: every sampled block is checked by a hired verifier, and both ledgers record each check at its price', async () => {
  const { auditor, trust } = await audited(11, records([21]))
  assert.equal(auditor.stats.commitments, 2)
  assert.equal(auditor.stats.passed, 2)
  assert.equal(auditor.evidence.length, 0)
  assert.deepEqual(trust.events, [])
  assert.deepEqual(served(21), { units: 2, amount: 2 * Number(PRICE) })
  assert.deepEqual(consumed(21), served(21), 'the client and the verifier agree on checks and credits')
})

test('a provider running another model: the hired check fails, a second hired verifier confirms, the provider gets a trust event; both checks are paid', async () => {
  const before21 = served(21).units, before22 = served(22).units
  const { auditor, trust } = await audited(12, records([21, 22]))
  assert.ok(auditor.evidence.length >= 1)
  assert.ok(auditor.evidence.every((e) => e.reason === 'failed_check' && e.replayer!.includes('+')))
  assert.ok(trust.of(nodeAt(12), 'invalid_inference').length >= 1)
  assert.equal(auditor.stats.disputed, 0)
  assert.ok(served(21).units > before21 && served(22).units > before22)
  for (const p of [21, 22]) assert.deepEqual(consumed(p), served(p))
})

test('a lying verifier cannot frame an honest provider: a second verifier passes the block, no evidence, no trust event against the provider', async () => {
  const { auditor, trust } = await audited(11, records([23, 21]))
  assert.equal(auditor.stats.disputed, 2)
  assert.equal(auditor.evidence.length, 0)
  assert.deepEqual(trust.of(nodeAt(11)), [])
  assert.equal(verifiers.get(23)!.stats.failed, 2, 'the liar said fail twice')
})

test('a silent verifier: the check times out and is skipped, nothing is paid', async () => {
  const { auditor } = await audited(11, records([26]), 300)
  assert.equal(auditor.stats.skipped, 2)
  assert.equal(auditor.stats.checked, 0)
  assert.deepEqual(consumed(26), { units: 0, amount: 0 })
})

test('a forged verdict (signed by another node, about nothing) is refused, reported and not paid', async () => {
  await audited(11, records([21]))
  const c = seen.commits[0]!
  const trust = new RecordingTrust()
  const h = hiredChecker(await client.dial(at(27)), { signer: client.identity, model, price: PRICE, usage: ecoClient, trust })
  await assert.rejects(h.check(stepsFor(c), c), /another node/)
  assert.equal(trust.of(nodeAt(27), 'invalid_message').length, 1)
  assert.deepEqual(consumed(27), { units: 0, amount: 0 })
})

test('a client that does not pay: no signed promise or too low a price gets no check; past the debt limit the verifier serves nothing', async () => {
  await audited(11, records([21]))
  const c = seen.commits[0]!
  const link = await client.dial(at(24))
  const req = (o: { price?: bigint; pay?: Uint8Array } = {}) => {
    const cid = new Uint8Array(16).fill(Math.floor(Math.random() * 256))
    const commit = encodeSignedCommitment(c)
    const price = o.price ?? PRICE
    const pay = o.pay ?? client.identity.sign(...payMessage(nodeAt(24).identity.publicKey, client.identity.publicKey, cid, price, commit))
    return link.request(CheckType.CORTEX_CHECK, encodeCheckReq({ cid, model, commit, steps: stepsFor(c), price, pay }), { timeoutMs: 60_000 })
  }
  await assert.rejects(req({ pay: new Uint8Array(64) }), (e: Error & { code?: string }) => e.code === 'unpaid')
  await assert.rejects(req({ price: PRICE - 1n }), (e: Error & { code?: string }) => e.code === 'unpaid')
  assert.deepEqual(served(24), { units: 0, amount: 0 }, 'refused requests cost nothing and did no work')
  // the client never settles: the verifier serves it until its debt passes the limit (12), then refuses
  let answered = 0
  for (let i = 0; i < 5; i++) {
    try { const r = await req(); assert.equal(r.type, CheckType.CORTEX_CHECK_RESP); answered++ } catch (e) {
      assert.equal((e as { code?: string }).code, 'debt_limit'); break
    }
  }
  assert.equal(answered, 3, 'served at owed 0, 5 and 10; refused at 15 > 12')
  assert.deepEqual(served(24), { units: 3, amount: 15 })
})

test('oversized requests are refused before any work: too many steps, too many bytes', async () => {
  await audited(11, records([21]))
  const c = seen.commits[1]! // block 1: 64 steps, over this verifier's 40
  const link = await client.dial(at(25))
  const send = (steps: StepInput[]) => {
    const cid = new Uint8Array(16).fill(3), commit = encodeSignedCommitment(c)
    const pay = client.identity.sign(...payMessage(nodeAt(25).identity.publicKey, client.identity.publicKey, cid, PRICE, commit))
    return link.request(CheckType.CORTEX_CHECK, encodeCheckReq({ cid, model, commit, steps, price: PRICE, pay }), { timeoutMs: 60_000 })
  }
  await assert.rejects(send(stepsFor(c)), (e: Error & { code?: string }) => e.code === 'too_large' && /64 steps/.test(e.message))
  await assert.rejects(send([{ ids: Array.from({ length: 8000 }, (_, i) => 70_000 + i), T: 8000 }]), (e: Error & { code?: string }) => e.code === 'too_large' && /bytes/.test(e.message))
  assert.equal(verifiers.get(25)!.stats.served, 0)
  assert.deepEqual(served(25), { units: 0, amount: 0 })
})

test('steps that are not the inputs the provider committed to get no verdict and cost nothing', async () => {
  await audited(11, records([21]))
  const c = seen.commits[0]!
  const steps = stepsFor(c).map((s, j) => (j === 5 ? { T: s.T, ids: s.ids!.map((x) => (x + 1) % 300) } : s))
  const before = served(22)
  const cid = new Uint8Array(16).fill(9), commit = encodeSignedCommitment(c)
  const pay = client.identity.sign(...payMessage(nodeAt(22).identity.publicKey, client.identity.publicKey, cid, PRICE, commit))
  const link = await client.dial(at(22))
  await assert.rejects(link.request(CheckType.CORTEX_CHECK, encodeCheckReq({ cid, model, commit, steps, price: PRICE, pay }), { timeoutMs: 60_000 }),
    (e: Error & { code?: string }) => e.code === 'bad_input' && /hash/.test(e.message))
  assert.deepEqual(served(22), before)
})

/** The auditor a node builds from cortex.audit (verify/replay.ts networkAuditor): no replicas, hired verifiers only. */
const hiredAuditor = (recs: Records, o: { hire: number; maxPrice?: bigint; liars?: LiarBook }) => (trust: RecordingTrust): LiveAuditor => networkAuditor({
  rate: 1, directory: new StaticStageDirectory(client, []), links: client, model, dims: { hidden: 32, vocab: 300, layers: 2 }, self: client.identity.publicKey,
  usage: ecoClient, trust, logger: silentLogger,
  policy: { verifiers: 'hired', hire: o.hire, providers: recs.as(client), signer: client.identity, ...(o.maxPrice !== undefined ? { maxPrice: o.maxPrice } : {}), ...(o.liars ? { liars: o.liars } : {}) },
})
const delta = (port: number, f: (p: number) => { units: number; amount: number }) => { const b = f(port).units; return () => f(port).units - b }

test('cortex.audit.verifiers = hired: routine checks of a swapped model go to two hired verifiers found through provider records; both fail it, both are paid on both ledgers', async () => {
  const s21 = delta(21, served), s22 = delta(22, served), c21 = delta(21, consumed), c22 = delta(22, consumed)
  const { auditor, trust } = await audited(12, records([21, 22]), 60_000, hiredAuditor(records([21, 22]), { hire: 2 }))
  assert.equal(auditor.stats.commitments, 2)
  assert.deepEqual([auditor.stats.checked, auditor.stats.failed, auditor.stats.passed, auditor.stats.disputed, auditor.lies.length], [2, 2, 0, 0, 0])
  assert.equal(auditor.evidence.length, 2)
  for (const e of auditor.evidence) {
    assert.equal(e.reason, 'failed_check')
    assert.match(e.replayer!, /^verify:.+\+verify:.+$/)
    assert.deepEqual(e.judges!.map((j) => Buffer.from(j).toString('hex')).sort(), [21, 22].map((p) => Buffer.from(nodeAt(p).identity.publicKey).toString('hex')).sort())
  }
  assert.equal(trust.of(nodeAt(12), 'invalid_inference').length, 2)
  // every sampled block checked by both hired verifiers, each check in both SQLite ledgers at the price
  assert.deepEqual([s21(), s22(), c21(), c22()], [2, 2, 2, 2])
  for (const p of [21, 22]) assert.deepEqual(consumed(p), served(p))
})

test('cortex.audit: an honest stage passes hired checks (paid); verifiers above maxPricePerCheck are not hired and nothing is paid', async () => {
  const s21 = delta(21, served), c21 = delta(21, consumed)
  const honest = await audited(11, records([21]), 60_000, hiredAuditor(records([21]), { hire: 1 }))
  assert.deepEqual([honest.auditor.stats.passed, honest.auditor.evidence.length, s21(), c21()], [2, 0, 2, 2])
  const cheap = await audited(12, records([21]), 60_000, hiredAuditor(records([21]), { hire: 1, maxPrice: PRICE - 1n }))
  assert.deepEqual([cheap.auditor.stats.skipped, cheap.auditor.stats.checked, s21(), c21()], [2, 0, 2, 2])
})

test('a verifier that fails an honest stage is outvoted by two more: a trust event against it, its checks unpaid, its signed verdict and EVM verdict kept and disowned', async () => {
  const book = new LiarBook()
  const s23 = delta(23, served), c23 = delta(23, consumed), c21 = delta(21, consumed), c22 = delta(22, consumed)
  const { auditor, trust } = await audited(11, records([23, 21, 22]), 60_000, hiredAuditor(records([23, 21, 22]), { hire: 1, liars: book }))
  assert.equal(auditor.stats.passed, 2)
  assert.equal(auditor.evidence.length, 0, 'no evidence against the honest stage')
  assert.deepEqual(trust.of(nodeAt(11)), [])
  // per block: the liar fails it, 21 passes (a tie), 22 passes: 2 to 1
  assert.ok(auditor.lies.length >= 1 && auditor.lies.every((l) => Buffer.compare(l.verifier!, nodeAt(23).identity.publicKey) === 0))
  const lies = auditor.lies.length
  assert.equal(trust.of(nodeAt(23), 'invalid_inference').length, lies)
  assert.equal(s23(), lies, 'the liar answered (and its ledger charged) each check it lied on')
  assert.equal(c23(), 0, 'the client never paid it')
  assert.ok(c21() >= 1 && c22() >= 1, 'the verifiers that outvoted it were paid')
  for (const l of auditor.lies) {
    assert.equal(l.claimed, 'fail')
    const v = decodeCheckVerdict(l.signed!)
    assert.equal(v.ok, false)
    assert.equal(Buffer.compare(v.signer, nodeAt(23).identity.publicKey), 0)
    assert.equal(l.verdict!.verifier.toLowerCase(), LIAR_EVM.address.toLowerCase())
    assert.equal(l.outvotedBy.length, 2)
  }
  assert.equal(book.isLiar(nodeAt(23).identity.publicKey), true)
  assert.equal(book.disowned(LIAR_EVM.address), true, 'its EVM key never counts toward a slash')
  // the next audit does not ask the liar at all
  const again = await audited(11, records([23, 21, 22]), 60_000, hiredAuditor(records([23, 21, 22]), { hire: 1, liars: book }))
  assert.equal(again.auditor.stats.passed, 2)
  assert.equal(again.auditor.lies.length, 0)
  assert.equal(s23(), lies)
})

test('a verifier that passes a swapped model is outvoted: the provider is caught, the liar gets a trust event and is not paid, the honest verifiers are', async () => {
  const s23 = delta(23, served), c23 = delta(23, consumed), c21 = delta(21, consumed), c22 = delta(22, consumed)
  const { auditor, trust } = await audited(12, records([23, 21, 22]), 60_000, hiredAuditor(records([23, 21, 22]), { hire: 2 }))
  // per block: the liar (its replica is the swapped model) passes, 21 fails: a tie; 22 breaks it
  assert.deepEqual([auditor.stats.failed, auditor.lies.length, auditor.stats.disputed], [2, 2, 0])
  assert.equal(trust.of(nodeAt(12), 'invalid_inference').length, 2)
  assert.equal(trust.of(nodeAt(23), 'invalid_inference').length, 2)
  for (const l of auditor.lies) {
    assert.equal(l.claimed, 'pass')
    assert.equal(decodeCheckVerdict(l.signed!).ok, true)
    assert.equal(l.verdict, undefined)
  }
  for (const e of auditor.evidence) assert.equal(e.judges!.length, 2, 'the two honest verifiers are the evidence\'s judges')
  assert.deepEqual([s23(), c23(), c21(), c22()], [2, 0, 2, 2])
})

test('one check per verifier and block: asking a hired verifier again about the same commitment neither sends nor pays a second check', async () => {
  await audited(11, records([21]))
  const c = seen.commits[0]!
  const s21 = delta(21, served), c21 = delta(21, consumed)
  const h = hiredChecker(await client.dial(at(21)), { signer: client.identity, model, price: PRICE, usage: ecoClient })
  const [a, b] = [await h.check(stepsFor(c), c), await h.check(stepsFor(c), c)]
  assert.equal(a, b)
  assert.equal(a.ok, true)
  assert.deepEqual([s21(), c21()], [1, 1])
  // another block is another check
  await h.check(stepsFor(seen.commits[1]!), seen.commits[1]!)
  assert.deepEqual([s21(), c21()], [2, 2])
})
