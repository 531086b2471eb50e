/**
 * Verified inference bench (issue 21 item 4): TOPLOC-style activation commitments on self-made random-weight models.
 * A provider serves a trace of decode steps and commits every 32 rows; a verifier re-executes one random block
 * on the claimed fp32 model and checks the commitment within the tolerance.
 *  - detection rate, each over --trials runs: swapped model, 4-bit weights claimed as fp32, one tampered layer;
 *  - false positives over --honest runs: half an fp32 provider, half the same weights rounded to fp16;
 *  - proof bytes per 32 tokens; verifier cost (one block re-executed) as a fraction of generating --long tokens.
 * Both a middle stage (rows = hidden states) and a last stage (rows = logits) are measured.
 * Usage: npm run bench -- verify [--trials 100] [--honest 1000] [--long 256] [--only stage|last]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { StageEngine } from '../src/cortex/stage.js'
import { Prng } from '../src/cortex/sampling.js'
import { BLOCK, checkBlock, DEFAULT_K, DEFAULT_TOLERANCE } from '../src/cortex/verify/commit.js'
import { proveTrace, replayBlock, type StepInput } from '../src/cortex/verify/trace.js'
import { writeBenchModels } from './verify/models.js'

const args = process.argv.slice(2)
const opt = (name: string, d: number): number => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : d }
const only = ((): string | undefined => { const i = args.indexOf('--only'); return i >= 0 ? args[i + 1] : undefined })()
const TRIALS = opt('trials', 100)
const HONEST = opt('honest', 1000)
const LONG = opt('long', 256)
const L = 4, D = 128, V = 320
const STEPS = 2 * BLOCK

/** A random token trace: a prompt of 4..15 ids (one step) then one id per step. */
function idTrace(rng: Prng, steps: number): StepInput[] {
  const plen = 4 + Math.floor(rng.next() * 12)
  const out: StepInput[] = [{ ids: Array.from({ length: plen }, () => Math.floor(rng.next() * V)), T: plen }]
  for (let i = 1; i < steps; i++) out.push({ ids: [Math.floor(rng.next() * V)], T: 1 })
  return out
}

async function scenario(name: string, range: { start: number; end: number }, dirs: ReturnType<typeof writeBenchModels>): Promise<Record<string, unknown>> {
  const load = (dir: string, quantBits: 0 | 4 = 0): Promise<StageEngine> => StageEngine.load(dir, { ...range, quantBits, maxSessions: 4 })
  const verifier = await load(dirs.claimed)
  const providers = {
    honest32: await load(dirs.claimed), honest16: await load(dirs.fp16),
    swapped: await load(dirs.swapped), q4: await load(dirs.claimed, 4), tampered: await load(dirs.tampered),
  }
  const rng = new Prng(2026)
  const run = async (p: StageEngine): Promise<{ ok: boolean; matched: number; k: number; median: number; proofBytes: number }> => {
    const steps = idTrace(rng, STEPS)
    const commits = await proveTrace(p, steps)
    const b = Math.floor(rng.next() * commits.length)
    const rows = await replayBlock(verifier, steps, b)
    const r = checkBlock(commits[b]!, rows)
    return { ...r, proofBytes: commits[b]!.byteLength }
  }
  const detect = async (p: StageEngine): Promise<{ detected: number; trials: number; rate: number; worstMatched: number }> => {
    let detected = 0, worst = 0
    for (let i = 0; i < TRIALS; i++) { const r = await run(p); if (!r.ok) detected++; worst = Math.max(worst, r.matched / r.k) }
    return { detected, trials: TRIALS, rate: detected / TRIALS, worstMatched: Number(worst.toFixed(3)) }
  }
  const honest = async (): Promise<Record<string, unknown>> => {
    let fp = 0, minMatched = 1, maxMedian = 0, bytes = 0
    for (let i = 0; i < HONEST; i++) {
      const r = await run(i % 2 ? providers.honest16 : providers.honest32)
      if (!r.ok) fp++
      minMatched = Math.min(minMatched, r.matched / r.k); maxMedian = Math.max(maxMedian, r.median); bytes = r.proofBytes
    }
    return { runs: HONEST, falsePositives: fp, minMatchedFraction: Number(minMatched.toFixed(3)), maxMedianRelErr: Number(maxMedian.toExponential(2)), proofBytesPer32Tokens: bytes }
  }
  // cost: generating LONG tokens step by step (with commitments) vs re-executing one random block of it
  const cost = async (): Promise<Record<string, number>> => {
    const steps = idTrace(rng, LONG)
    const t0 = performance.now()
    const commits = await proveTrace(providers.honest32, steps)
    const gen = performance.now() - t0
    const b = commits.length - 1
    const t1 = performance.now()
    const r = checkBlock(commits[b]!, await replayBlock(verifier, steps, b))
    const ver = performance.now() - t1
    if (!r.ok) throw new Error('honest cost run failed its check')
    return { tokens: LONG, blocks: commits.length, generateMs: Number(gen.toFixed(1)), verifyOneBlockMs: Number(ver.toFixed(1)), verifierCostFraction: Number((ver / gen).toFixed(4)), proofBytesTotal: commits.reduce((a, c) => a + c.byteLength, 0) }
  }
  try {
    const out = {
      name, layers: `${range.start}:${range.end}`, rows: verifier.last ? `logits (${V})` : `hidden (${D})`,
      honest: await honest(),
      swappedModel: await detect(providers.swapped),
      q4ClaimedAsFp32: await detect(providers.q4),
      singleTamperedLayer: await detect(providers.tampered),
      cost: await cost(),
    }
    return out
  } finally {
    for (const e of [verifier, ...Object.values(providers)]) await e.close()
  }
}

const root = mkdtempSync(join(tmpdir(), 'zeone-bench-verify-'))
try {
  const dirs = writeBenchModels(root, { family: 'llama', layers: L, hidden: D, heads: 4, vocab: V, maxPositions: LONG + 32, noTokenizer: true }, { layer: 1, rel: 0.1 })
  const results: Record<string, unknown>[] = []
  if (only !== 'last') results.push(await scenario('middle stage', { start: 0, end: L - 1 }, dirs))
  if (only !== 'stage') results.push(await scenario('last stage', { start: 0, end: L }, dirs))
  console.log(JSON.stringify({
    bench: 'verify', machine: { cpus: cpus().length, model: cpus()[0]?.model, load: loadavg().map((x) => Number(x.toFixed(2))), node: process.version },
    model: { family: 'llama', layers: L, hidden: D, vocab: V, tamper: 'layer 1, every weight + N(0, (0.1 std)^2)' },
    commitment: { block: BLOCK, k: DEFAULT_K, tolerance: DEFAULT_TOLERANCE },
    results,
  }, null, 2))
} finally { rmSync(root, { recursive: true, force: true }) }
