/**
 * Single node: our engine vs node-llama-cpp (llama.cpp, prebuilt CPU binary from bench/peers/llama) on the same
 * GPT-2 124M-shaped random weights, written as safetensors (ours) and GGUF F32 / Q8_0 (theirs). Greedy decoding,
 * batch 1, both with the same thread count. Reports tokens/s, TTFT and per-token p50/p95, and the ratios.
 * Usage: npm run bench -- cortex-llama [--tokens N] [--layers L] [--threads T]
 * Needs: (cd bench/peers/llama && npm i --omit=optional)
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
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
const stats = (ttft: number, per: number[]): Record<string, number> =>
  ({ tokens_per_s: r2(1000 / (per.reduce((a, b) => a + b, 0) / per.length)), ttft_ms: r2(ttft), token_ms_p50: r2(pct(per, 0.5)), token_ms_p95: r2(pct(per, 0.95)) })

async function ours(dir: string, quantBits: 0 | 8 | 4): Promise<Record<string, number>> {
  const e = await StageEngine.load(dir, { start: 0, end: L, quantBits, threads: THREADS })
  try {
    let t = performance.now()
    let id = argmax((await e.forwardBatch([{ sid: 's', ids: PROMPT, T: PROMPT.length }]))[0]!.data)
    const ttft = performance.now() - t
    const per: number[] = []
    for (let i = 1; i < GEN; i++) {
      t = performance.now()
      id = argmax((await e.forwardBatch([{ sid: 's', ids: [id], T: 1 }]))[0]!.data)
      per.push(performance.now() - t)
    }
    return stats(ttft, per)
  } finally { await e.close() }
}

interface LlamaLike {
  loadModel(o: { modelPath: string }): Promise<{ createContext(o: object): Promise<{ getSequence(): { evaluate(tokens: number[], o: object): AsyncIterable<number> }; dispose(): Promise<void> }>; dispose(): Promise<void> }>
  dispose(): Promise<void>
}

async function theirs(llama: LlamaLike, path: string): Promise<Record<string, number>> {
  const model = await llama.loadModel({ modelPath: path })
  const ctx = await model.createContext({ contextSize: 256, threads: THREADS, batchSize: 64 })
  try {
    const seq = ctx.getSequence()
    let t = performance.now()
    let ttft = 0
    const per: number[] = []
    let n = 0
    for await (const _tok of seq.evaluate(PROMPT, { temperature: 0 })) {
      const now = performance.now()
      if (n === 0) ttft = now - t; else per.push(now - t)
      t = now
      if (++n >= GEN) break
    }
    return stats(ttft, per)
  } finally { await ctx.dispose(); await model.dispose() }
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'zeone-bench-llama-'))
  try {
    writeTinyModel(tmp, { family: 'gpt2', layers: L, hidden: 768, heads: 12, vocab: 50257, maxPositions: 1024, noTokenizer: true, std: 0.02, seed: 7 })
    const res: Record<string, unknown> = {}
    res.ours_fp32 = await ours(tmp, 0)
    res.ours_q8 = await ours(tmp, 8)
    res.ours_q4 = await ours(tmp, 4)
    let llama: LlamaLike | undefined
    try {
      const mod = await import(pathToFileURL(resolve('bench/peers/llama/node_modules/node-llama-cpp/dist/index.js')).href) as { getLlama(o: object): Promise<LlamaLike> }
      llama = await mod.getLlama({ gpu: false, build: 'never', progressLogs: false, logLevel: 'error' })
    } catch (e) {
      res.llama_error = `node-llama-cpp unavailable (cd bench/peers/llama && npm i --omit=optional): ${(e as Error).message}`
    }
    if (llama) {
      for (const type of ['F32', 'Q8_0'] as const) {
        const p = join(tmp, `model-${type}.gguf`)
        writeGpt2Gguf(tmp, p, type)
        res[`llama_cpp_${type.toLowerCase()}`] = await theirs(llama, p)
        rmSync(p)
      }
      await llama.dispose()
      const tps = (k: string): number => (res[k] as Record<string, number>).tokens_per_s
      res.ratio_ours_over_llama_fp32 = r2(tps('ours_fp32') / tps('llama_cpp_f32'))
      res.ratio_ours_q8_over_llama_q8_0 = r2(tps('ours_q8') / tps('llama_cpp_q8_0'))
      res.ratio_ours_q4_over_llama_q8_0 = r2(tps('ours_q4') / tps('llama_cpp_q8_0'))
    }
    console.log(JSON.stringify({
      bench: 'cortex-llama',
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      model: { shape: 'gpt2-124M', layers: L, weights: 'random', prompt_tokens: PROMPT.length, generated_tokens: GEN, threads: THREADS, batch: 1 },
      ...res,
    }, null, 2))
  } finally { rmSync(tmp, { recursive: true, force: true }) }
}

main().catch((e) => { console.error(e); process.exit(1) })
