/**
 * Single node: our engine vs node-llama-cpp (llama.cpp, prebuilt CPU binary from bench/peers/llama) on the same
 * GPT-2 124M-shaped random weights, written as safetensors (ours) and GGUF F32 / Q8_0 (theirs). Greedy decoding,
 * batch 1, both with the same thread count. Reports tokens/s, TTFT and per-token p50/p95, and the ratios; our 8-bit
 * variants (the default per-channel QGEMM, MatMulNBits block 32 and 128) with their top-1 agreement with our fp32.
 * Each also reports the median ms per token the process's threads spent runnable but waiting for a CPU (Linux
 * schedstat, summed over threads: for llama.cpp its evaluation thread and the JS thread, which can overlap, so the sum
 * can exceed the wall time): on a shared machine most of the wall time is that wait, so the CPU ratio is the steadier
 * comparison of the engines.
 * Usage: npm run bench -- cortex-llama [--tokens N] [--layers L] [--threads T]
 * Needs: (cd bench/peers/llama && npm i --omit=optional)
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { StageEngine } from '../src/cortex/stage.js'
import { argmax } from '../src/cortex/sampling.js'
import { writeTinyModel } from '../src/cortex/testing/tiny-model.js'
import { writeGpt2Gguf } from './cortex/gguf.js'

const args = process.argv.slice(2)
const opt = (name: string, d: number): number => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : d }
const L = opt('layers', 12)
const GEN = opt('tokens', 32)
const THREADS = opt('threads', 1)
const PROMPT = Array.from({ length: 16 }, (_, i) => 300 + i * 7)
const pct = (xs: number[], p: number): number => { const s = xs.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]! }
const r2 = (x: number): number => Math.round(x * 100) / 100
/** cpu: this process's CPU ms per decode step (both engines compute on threads of this process), steadier than wall
 * time on a loaded machine. */
const stats = (ttft: number, per: number[], cpu: number[], wait: number[]): Record<string, number> =>
  ({ tokens_per_s: r2(1000 / (per.reduce((a, b) => a + b, 0) / per.length)), ttft_ms: r2(ttft), token_ms_p50: r2(pct(per, 0.5)), token_ms_p95: r2(pct(per, 0.95)), cpu_ms_per_token_p50: r2(pct(cpu, 0.5)), runq_wait_ms_per_token_p50: r2(pct(wait, 0.5)) })
const cpuMs = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1000
/** Linux: ms this process's threads have spent runnable but waiting for a CPU (/proc/self/task/N/schedstat, field 2),
 * summed; NaN elsewhere. On a shared machine it tells how much of a token's wall time was the scheduler's, not ours. */
function runqWaitMs(): number {
  try {
    let ns = 0
    for (const t of readdirSync('/proc/self/task')) { try { ns += Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[1]) } catch { /* thread ended */ } }
    return ns / 1e6
  } catch { return NaN }
}

let sidN = 0
async function ours(e: StageEngine): Promise<Record<string, number>> {
  const sid = `s${sidN++}`
  try {
    let t = performance.now()
    let id = argmax((await e.forwardBatch([{ sid, ids: PROMPT, T: PROMPT.length }]))[0]!.data)
    const ttft = performance.now() - t
    const per: number[] = [], cpu: number[] = [], wait: number[] = []
    for (let i = 1; i < GEN; i++) {
      t = performance.now()
      const c0 = process.cpuUsage(), w0 = runqWaitMs()
      id = argmax((await e.forwardBatch([{ sid, ids: [id], T: 1 }]))[0]!.data)
      cpu.push(cpuMs(process.cpuUsage(c0)))
      wait.push(runqWaitMs() - w0)
      per.push(performance.now() - t)
    }
    return stats(ttft, per, cpu, wait)
  } finally { e.endSession(sid) }
}

interface LlamaModelLike { createContext(o: object): Promise<{ getSequence(): { evaluate(tokens: number[], o: object): AsyncIterable<number> }; dispose(): Promise<void> }>; dispose(): Promise<void> }
interface LlamaLike {
  loadModel(o: { modelPath: string }): Promise<LlamaModelLike>
  dispose(): Promise<void>
}

async function theirs(model: LlamaModelLike): Promise<Record<string, number>> {
  const ctx = await model.createContext({ contextSize: 256, threads: THREADS, batchSize: 64 })
  try {
    const seq = ctx.getSequence()
    let t = performance.now()
    let ttft = 0
    const per: number[] = [], cpu: number[] = [], wait: number[] = []
    let n = 0
    let c0 = process.cpuUsage(), w0 = runqWaitMs()
    for await (const _tok of seq.evaluate(PROMPT, { temperature: 0 })) {
      const now = performance.now()
      const w = runqWaitMs()
      if (n === 0) ttft = now - t; else { per.push(now - t); cpu.push(cpuMs(process.cpuUsage(c0))); wait.push(w - w0) }
      c0 = process.cpuUsage()
      w0 = w
      t = now
      if (++n >= GEN) break
    }
    return stats(ttft, per, cpu, wait)
  } finally { await ctx.dispose() }
}

/** Greedy fp32 decode; each quantised engine is fed the same tokens: share of steps whose top-1 agrees, mean relative logit error. */
async function agreement(engines: Record<string, StageEngine>): Promise<Record<string, Record<string, number>>> {
  const steps = opt('agree-steps', 64)
  const out: Record<string, Record<string, number>> = {}
  const keys = Object.keys(engines).filter((k) => k !== 'ours_fp32')
  let ids = PROMPT
  for (let i = 0; i < steps; i++) {
    const ref = (await engines.ours_fp32!.forwardBatch([{ sid: 'agree', ids, T: ids.length }]))[0]!.data
    const top = argmax(ref)
    for (const k of keys) {
      const y = (await engines[k]!.forwardBatch([{ sid: 'agree', ids, T: ids.length }]))[0]!.data
      let num = 0, den = 0
      for (let j = 0; j < ref.length; j++) { num += (y[j]! - ref[j]!) ** 2; den += ref[j]! ** 2 }
      const o = (out[k] ??= { steps, top1_agreement: 0, mean_rel_logit_error: 0 })
      if (argmax(y) === top) o.top1_agreement! += 1 / steps
      o.mean_rel_logit_error! += Math.sqrt(num / den) / steps
    }
    ids = [top]
  }
  for (const o of Object.values(out)) { o.top1_agreement = r2(o.top1_agreement!); o.mean_rel_logit_error = Math.round(o.mean_rel_logit_error! * 1e5) / 1e5 }
  for (const e of Object.values(engines)) e.endSession('agree')
  return out
}

async function main(): Promise<void> {
  const load0 = r2(loadavg()[0]!)
  const tmp = mkdtempSync(join(tmpdir(), 'zeone-bench-llama-'))
  try {
    writeTinyModel(tmp, { family: 'gpt2', layers: L, hidden: 768, heads: 12, vocab: 50257, maxPositions: 1024, noTokenizer: true, std: 0.02, seed: 7 })
    const res: Record<string, unknown> = {}
    const engines: Record<string, StageEngine> = {}
    // ours_q8: the default 8-bit kernel (qgemm); the MatMulNBits variants are named
    const variants = [['ours_fp32', {}], ['ours_q8', { quantBits: 8 }], ['ours_q8_nbits', { quantBits: 8, int8Kernel: 'nbits' }],
      ['ours_q8_b128', { quantBits: 8, int8Kernel: 'nbits', quantBlock: 128 }], ['ours_q4', { quantBits: 4 }]] as const
    for (const [k, o] of variants) engines[k] = await StageEngine.load(tmp, { start: 0, end: L, threads: THREADS, ...o })
    const models: Record<string, LlamaModelLike> = {}
    let llama: LlamaLike | undefined
    try {
      const mod = await import(pathToFileURL(resolve('bench/peers/llama/node_modules/node-llama-cpp/dist/index.js')).href) as { getLlama(o: object): Promise<LlamaLike> }
      llama = await mod.getLlama({ gpu: false, build: 'never', progressLogs: false, logLevel: 'error' })
      for (const type of ['F32', 'Q8_0'] as const) {
        const p = join(tmp, `model-${type}.gguf`)
        writeGpt2Gguf(tmp, p, type)
        models[`llama_cpp_${type.toLowerCase()}`] = await llama.loadModel({ modelPath: p })
      }
    } catch (e) {
      res.llama_error = `node-llama-cpp unavailable (cd bench/peers/llama && npm i --omit=optional): ${(e as Error).message}`
    }
    // interleaved rounds so every configuration sees the same background load; the median round per configuration counts
    const ROUNDS = opt('rounds', 3)
    const runs: Record<string, Record<string, number>[]> = {}
    for (let r = 0; r < ROUNDS; r++) {
      for (const k of ['ours_fp32', 'llama_cpp_f32', 'ours_q8', 'llama_cpp_q8_0', 'ours_q8_nbits', 'ours_q8_b128', 'ours_q4']) {
        const x = k.startsWith('ours') ? await ours(engines[k]!) : models[k] ? await theirs(models[k]!) : undefined
        if (x) (runs[k] ??= []).push(x)
      }
    }
    for (const [k, xs] of Object.entries(runs)) res[k] = xs.slice().sort((a, b) => a.tokens_per_s! - b.tokens_per_s!)[Math.floor(xs.length / 2)]
    res.agreement_with_fp32 = await agreement(engines)
    for (const e of Object.values(engines)) await e.close()
    for (const m of Object.values(models)) await m.dispose()
    await llama?.dispose()
    if (models.llama_cpp_f32) {
      const tps = (k: string): number => (res[k] as Record<string, number>).tokens_per_s!
      res.ratio_ours_over_llama_fp32 = r2(tps('ours_fp32') / tps('llama_cpp_f32'))
      res.ratio_ours_q8_over_llama_q8_0 = r2(tps('ours_q8') / tps('llama_cpp_q8_0'))
      res.ratio_ours_q8_nbits_over_llama_q8_0 = r2(tps('ours_q8_nbits') / tps('llama_cpp_q8_0'))
      res.ratio_ours_q8_b128_over_llama_q8_0 = r2(tps('ours_q8_b128') / tps('llama_cpp_q8_0'))
      res.ratio_ours_q4_over_llama_q8_0 = r2(tps('ours_q4') / tps('llama_cpp_q8_0'))
      // by CPU time per token (llama.cpp's over ours: > 1 = we spend less CPU per token)
      const cpu = (k: string): number => (res[k] as Record<string, number>).cpu_ms_per_token_p50!
      res.cpu_ratio_llama_fp32_over_ours_fp32 = r2(cpu('llama_cpp_f32') / cpu('ours_fp32'))
      for (const k of ['ours_q8', 'ours_q8_nbits', 'ours_q8_b128', 'ours_q4']) res[`cpu_ratio_llama_q8_0_over_${k}`] = r2(cpu('llama_cpp_q8_0') / cpu(k))
    }
    console.log(JSON.stringify({
      bench: 'cortex-llama',
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, load_avg_1m_at_start: load0, load_avg_1m_at_end: r2(loadavg()[0]!) },
      rounds: opt('rounds', 3),
      model: { shape: 'gpt2-124M', layers: L, weights: 'random', prompt_tokens: PROMPT.length, generated_tokens: GEN, threads: THREADS, batch: 1 },
      ...res,
    }, null, 2))
  } finally { rmSync(tmp, { recursive: true, force: true }) }
}

main().catch((e) => { console.error(e); process.exit(1) })
