/**
 * Live verified inference bench (issue 21 item 4): real pipeline generations over the in-process network
 * (MemoryNetwork: real StageServers, wire encoding, signed commitments), audited by the coordinator's LiveAuditor,
 * which re-executes the committed block of every stage on an honest replica found through the stage directory.
 * A trial is one audited block: a generation of --blocks blocks of 32 steps (a prompt step, then decode steps) gives
 * that many checks per stage, each block re-executed from its own prefix (so the blocks are separate checks):
 *  - detection over --trials checks each: the last stage (layers 2:4) served by a swapped model, by 4-bit weights
 *    claimed as fp32, by the claimed model with layer 2 tampered (every weight + N(0, (0.1 std)^2));
 *  - false positives over --honest checks (both stages): honest stages, every other generation both served from
 *    fp16-rounded weights;
 *  - proof bytes per 32 tokens (the commitment, and the signed commitment on the wire with both signatures);
 *  - verifier cost: time to re-execute one block on the replica vs time to generate it (--long tokens, rate 1).
 * Usage: npm run bench -- verify-live [--trials 100] [--honest 1000] [--blocks 4] [--long 256]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { generatePrivateKey } from 'viem/accounts'
import { MemoryNetwork, type MemoryNode } from '../src/transport/memory.js'
import { StageEngine } from '../src/cortex/stage.js'
import { StageServer } from '../src/cortex/server.js'
import { StaticStageDirectory } from '../src/cortex/directory.js'
import { PipelineSession, RemoteStageClient } from '../src/cortex/pipeline.js'
import { generateAll } from '../src/cortex/generate.js'
import { Prng } from '../src/cortex/sampling.js'
import { Identity } from '../src/crypto/identity.js'
import { LiveAuditor } from '../src/cortex/verify/audit.js'
import { clientReplayer, directoryReplayers, type Replayer } from '../src/cortex/verify/replay.js'
import { evmAttester } from '../src/cortex/verify/onchain.js'
import { BLOCK, DEFAULT_K, DEFAULT_TOLERANCE } from '../src/cortex/verify/commit.js'
import { writeBenchModels } from './verify/models.js'

const args = process.argv.slice(2)
const opt = (name: string, d: number): number => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : d }
const TRIALS = opt('trials', 100), HONEST = opt('honest', 1000), LONG = opt('long', 256), BLOCKS = opt('blocks', 4)
const progress = (m: string): void => { process.stderr.write(`[verify-live ${new Date().toISOString().slice(11, 19)}] ${m}\n`) }
const L = 4, D = 128, V = 320
const dims = { hidden: D, vocab: V, layers: L }
const domain = { chainId: 31337n, staking: '0x5FbDB2315678afecb367f032d93F642f64180aa3' as const }
const evmKey = generatePrivateKey()
const net = new MemoryNetwork()
const at = (port: number) => ({ host: '10.9.0.1', port })
const nodes: MemoryNode[] = [], servers: StageServer[] = []
const idOf = (n: number): Identity => Identity.fromSeed(new Uint8Array(32).fill(n))

async function serve(port: number, dir: string, start: number, end: number, quantBits: 0 | 4 = 0): Promise<void> {
  const node = net.createNode(idOf(port), at(port))
  const engine = await StageEngine.load(dir, { start, end, quantBits, maxSessions: 8 })
  const s = new StageServer({ modelId: 'm', engine, router: node.router, maxSessionsPerPeer: 8, prover: { signer: node.identity, evm: evmAttester(evmKey, domain) } })
  s.start(); nodes.push(node); servers.push(s)
}

const root = mkdtempSync(join(tmpdir(), 'zeone-bench-verify-live-'))
try {
  const dirs = writeBenchModels(root, { family: 'llama', layers: L, hidden: D, heads: 4, vocab: V, maxPositions: Math.max(LONG, BLOCKS * BLOCK) + 64, noTokenizer: true }, { layer: 2, rel: 0.1 })
  const client = net.createNode(idOf(1), at(1))
  nodes.push(client)
  const P = { first: 10, first16: 11, last: 20, last16: 21, swapped: 30, q4: 31, tampered: 32, replicaFirst: 40, replicaLast: 41 }
  await serve(P.first, dirs.claimed, 0, 2); await serve(P.first16, dirs.fp16, 0, 2)
  await serve(P.last, dirs.claimed, 2, 4); await serve(P.last16, dirs.fp16, 2, 4)
  await serve(P.swapped, dirs.swapped, 2, 4); await serve(P.q4, dirs.claimed, 2, 4, 4); await serve(P.tampered, dirs.tampered, 2, 4)
  await serve(P.replicaFirst, dirs.claimed, 0, 2); await serve(P.replicaLast, dirs.claimed, 2, 4)
  const links = new Map<number, RemoteStageClient>()
  const stage = async (port: number, start: number, end: number): Promise<RemoteStageClient> => {
    let c = links.get(port)
    if (!c) { c = new RemoteStageClient(await client.dial(at(port)), 'm', start, end, L, D, V); links.set(port, c) }
    return c
  }
  const replayers = directoryReplayers(new StaticStageDirectory(client, [at(P.replicaFirst), at(P.replicaLast)]), client, 'm', dims, client.identity.publicKey)
  const rng = new Prng(2026)
  let wireBytes = 0
  const trial = async (first: number, last: number, onlyLast = false, tokens = BLOCKS * BLOCK) => {
    const auditor = new LiveAuditor({ random: () => rng.next(), rate: 1, replayerFor: (st, ex) => (onlyLast && st.start === 0 ? Promise.resolve(undefined) : replayers(st, ex)) })
    const chain = [await stage(first, 0, 2), await stage(last, 2, 4)]
    // record one commitment's size on the wire
    const s = new PipelineSession({ model: 'm', ...dims, chain, audit: { observe: (i, st, pos, input, out) => { if (out.commit) wireBytes = out.commit.byteLength; auditor.observe(i, st, pos, input, out) } } })
    const plen = 4 + Math.floor(rng.next() * 12)
    await generateAll(s, Array.from({ length: plen }, () => Math.floor(rng.next() * V)), { temperature: 0.8, seed: Math.floor(rng.next() * 1e9) }, { maxTokens: tokens })
    await auditor.settled()
    return auditor
  }
  const detect = async (name: string, port: number) => {
    let trials = 0, detected = 0, minMatched = 1, maxMatched = 0
    const t0 = performance.now()
    while (trials < TRIALS) {
      const a = await trial(P.first, port, true)
      if (a.stats.checked !== BLOCKS) throw new Error(`${a.stats.checked} checks ran, expected ${BLOCKS}`)
      const hits = a.evidence.filter((e) => e.stage.start === 2 && e.reason === 'failed_check').slice(0, TRIALS - trials)
      for (const h of hits) { const f = h.result!.matched / h.result!.k; minMatched = Math.min(minMatched, f); maxMatched = Math.max(maxMatched, f) }
      detected += hits.length
      trials += Math.min(BLOCKS, TRIALS - trials)
    }
    progress(`${name}: ${detected}/${trials}`)
    return { trials, detected, rate: detected / trials, matchedFraction: { min: Number(minMatched.toFixed(3)), max: Number(maxMatched.toFixed(3)) }, seconds: Number(((performance.now() - t0) / 1000).toFixed(1)) }
  }
  const honest = async () => {
    let fp = 0, checks = 0, gens = 0
    const t0 = performance.now()
    while (checks < HONEST) {
      const a = gens++ % 2 ? await trial(P.first16, P.last16) : await trial(P.first, P.last)
      checks += a.stats.checked
      fp += a.evidence.length
      if (gens % 25 === 0) progress(`honest: ${checks} checks, ${fp} false positives`)
    }
    return { checks, generations: gens, falsePositives: fp, seconds: Number(((performance.now() - t0) / 1000).toFixed(1)) }
  }
  // verifier cost: generate LONG tokens unaudited, then re-execute one block of each stage on the replicas
  const cost = async () => {
    const seen: { i: number; steps: import('../src/cortex/verify/trace.js').StepInput[] }[] = [{ i: 0, steps: [] }, { i: 1, steps: [] }]
    const chain = [await stage(P.first, 0, 2), await stage(P.last, 2, 4)]
    const s = new PipelineSession({ model: 'm', ...dims, chain, audit: { observe: (i, _s, _p, input) => { seen[i]!.steps.push({ T: input.T, ...(input.ids ? { ids: input.ids.slice() } : { hidden: input.hidden!.slice() }) }) } } })
    const t0 = performance.now()
    await generateAll(s, [1, 2, 3, 4, 5, 6, 7, 8], { temperature: 0.8, seed: 3 }, { maxTokens: LONG })
    const gen = performance.now() - t0
    const blocks = Math.floor(seen[0]!.steps.length / BLOCK)
    const reps: Replayer[] = [clientReplayer(await stage(P.replicaFirst, 0, 2), D), clientReplayer(await stage(P.replicaLast, 2, 4), V)]
    const timeBlock = async (b: number): Promise<number> => {
      const t = performance.now()
      for (const k of [0, 1]) await reps[k]!.replay(seen[k]!.steps.slice(0, (b + 1) * BLOCK), b)
      return performance.now() - t
    }
    const firstBlock = await timeBlock(0), lastBlock = await timeBlock(blocks - 1)
    const perBlockGen = gen / blocks
    return {
      tokens: LONG, blocks, generateMs: Number(gen.toFixed(1)), generateMsPerBlock: Number(perBlockGen.toFixed(1)),
      reexecuteBlockMs: { first: Number(firstBlock.toFixed(1)), last: Number(lastBlock.toFixed(1)) },
      // re-executing one sampled block (both stages) against generating the whole answer, and per checked block
      verifierCostFraction: { oneBlockOfAnswer: Number((lastBlock / gen).toFixed(4)), perCheckedBlock: Number((((firstBlock + lastBlock) / 2) / perBlockGen).toFixed(3)) },
    }
  }
  const results = {
    swappedModel: await detect('swapped', P.swapped),
    q4ClaimedAsFp32: await detect('q4', P.q4),
    singleTamperedLayer: await detect('tampered', P.tampered),
    honest: await honest(),
    cost: await cost(),
    proofBytesPer32Tokens: { commitment: 2 + 2 * DEFAULT_K, signedOnWire: wireBytes },
  }
  console.log(JSON.stringify({
    bench: 'verify-live', machine: { cpus: cpus().length, model: cpus()[0]?.model, load: loadavg().map((x) => Number(x.toFixed(2))), node: process.version },
    model: { family: 'llama', layers: L, hidden: D, vocab: V, stages: ['0:2 (hidden rows)', '2:4 (logit rows)'], cheat: 'last stage', tamper: 'layer 2, every weight + N(0, (0.1 std)^2)' },
    commitment: { block: BLOCK, k: DEFAULT_K, tolerance: DEFAULT_TOLERANCE }, audit: `rate 1: every block re-executed on an honest replica; ${BLOCKS} blocks (${BLOCKS * BLOCK} steps) per generation; detection checks the last stage only`,
    results,
  }, null, 2))
} finally {
  for (const s of servers) { s.stop(); await s.engine.close() }
  for (const n of nodes) n.stop()
  rmSync(root, { recursive: true, force: true })
}
