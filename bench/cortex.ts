/**
 * Cortex benchmark: a GPT-2 124M-shaped model with random weights (written to os.tmpdir()).
 *  - single process, our engine: TTFT, per-token p50/p95, tokens/s at batch 1, 4, 16 (fp32), batch 1 q8/q4;
 *  - 2-stage pipeline over loopback TCP (two processes, the real ConnectionManager): same figures.
 *  - decode rows (bench/cortex/decode.ts): ms/token at context 32 and 512 per KV layout with the ratio, sampled
 *    (temperature 0.8, top-p 0.9) vs greedy tokens/s, 8-bit top-1 agreement with fp32.
 * Usage: npm run bench -- cortex [--tokens N] [--layers L] [--skip-quant] [--only decode]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Identity } from '../src/crypto/identity.js'
import { randomBytes } from '../src/crypto/sign.js'
import { ConnectionManager } from '../src/transport/connection-manager.js'
import { transportConfigSchema } from '../src/transport/config.js'
import { Router } from '../src/transport/router.js'
import { StageEngine } from '../src/cortex/stage.js'
import { StageServer } from '../src/cortex/server.js'
import { LocalStageClient, PipelineSession, RemoteStageClient, type StageClient } from '../src/cortex/pipeline.js'
import { generate } from '../src/cortex/generate.js'
import { writeTinyModel } from '../src/cortex/testing/tiny-model.js'
import type { Link } from '../src/interfaces/link.js'
import { dialRaw, listenRaw } from './cortex/tcp-link.js'
import { contextRows, q8AgreementRow, samplingRow } from './cortex/decode.js'

const args = process.argv.slice(2)
const opt = (name: string, d: number): number => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : d }
const MODEL = 'bench-gpt2'
const L = opt('layers', 12)
const GEN = opt('tokens', 32)
const PROMPT = 16

async function node(dir: string): Promise<{ cm: ConnectionManager; router: Router }> {
  const router = new Router()
  const cm = new ConnectionManager({ identity: Identity.fromSeed(randomBytes(32)), config: transportConfigSchema.parse({ port: 0, host: '127.0.0.1', legacy: false }), dataDir: dir, router })
  await cm.start()
  return { cm, router }
}

/** Child process: serves layers [L/2, L) over TCP; prints its port. */
async function child(modelDir: string, transport: string): Promise<void> {
  const data = mkdtempSync(join(tmpdir(), 'zeone-bench-cm-'))
  const engine = await StageEngine.load(modelDir, { start: L / 2, end: L, maxSessions: 64 })
  let port: number
  let stop: () => Promise<void>
  if (transport === 'raw') {
    const router = new Router()
    const server = await listenRaw(router)
    new StageServer({ modelId: MODEL, engine, router, maxBatch: 16 }).start()
    port = (server.address() as { port: number }).port
    stop = async () => { server.close() }
  } else {
    const { cm, router } = await node(data)
    new StageServer({ modelId: MODEL, engine, router, maxBatch: 16 }).start()
    port = cm.listenAddress!.port
    stop = () => cm.stop()
  }
  process.stdout.write(`${JSON.stringify({ port })}\n`)
  process.stdin.resume()
  process.stdin.on('end', async () => { await stop(); rmSync(data, { recursive: true, force: true }); process.exit(0) })
}

const pct = (xs: number[], p: number): number => { const s = xs.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]! }
const r2 = (x: number): number => Math.round(x * 100) / 100

/** Runs B concurrent greedy generations; returns TTFT, per-token latency and aggregate tokens/s. */
async function run(makeChain: () => StageClient[], B: number): Promise<Record<string, number>> {
  const ttft: number[] = [], per: number[] = []
  let tokens = 0
  const t0 = performance.now()
  await Promise.all(Array.from({ length: B }, async (_, b) => {
    const s = new PipelineSession({ model: MODEL, layers: L, hidden: 768, vocab: 50257, chain: makeChain() })
    const prompt = Array.from({ length: PROMPT }, (_, i) => (i * 997 + b * 31) % 50257)
    let last = performance.now()
    let first = true
    for await (const _c of generate(s, prompt, { temperature: 0 }, { maxTokens: GEN })) {
      const now = performance.now()
      if (first) { ttft.push(now - last); first = false } else per.push(now - last)
      last = now
      tokens++
    }
  }))
  const wall = (performance.now() - t0) / 1000
  return { batch: B, tokens_per_s: r2(tokens / wall), ttft_ms_p50: r2(pct(ttft, 0.5)), token_ms_p50: r2(pct(per, 0.5)), token_ms_p95: r2(pct(per, 0.95)) }
}

async function main(): Promise<void> {
  if (args[0] === '--child') return child(args[1]!, args[2]!)
  const tmp = mkdtempSync(join(tmpdir(), 'zeone-bench-cortex-'))
  const kids: ChildProcess[] = []
  try {
    const t0 = performance.now()
    writeTinyModel(tmp, { family: 'gpt2', layers: L, hidden: 768, heads: 12, vocab: 50257, maxPositions: 1024, noTokenizer: true, std: 0.02, seed: 7 })
    const writeS = (performance.now() - t0) / 1000
    const decodeRows = async (): Promise<Record<string, unknown>> => {
      const e = await StageEngine.load(tmp, { start: 0, end: L })
      const sampling = await samplingRow(e, GEN, opt('rounds', 3))
      await e.close()
      return {
        sampled_vs_greedy_batch1: sampling,
        decode_ms_per_token_by_context: await contextRows(tmp, L, 32, 512, opt('decode-steps', 16), opt('rounds', 3)),
        q8_top1_agreement_with_fp32: args.includes('--skip-quant') ? 'skipped' : await q8AgreementRow(tmp, L, GEN),
      }
    }
    if (args.includes('--only') && args[args.indexOf('--only') + 1] === 'decode') {
      console.log(JSON.stringify({
        bench: 'cortex', only: 'decode',
        machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, load_avg_1m_at_start: r2(loadavg()[0]!) },
        model: { shape: 'gpt2-124M', layers: L, weights: 'random fp32', generated_tokens: GEN, ort_threads_per_stage: 1 },
        ...(await decodeRows()),
      }, null, 2))
      return
    }
    const me = new Uint8Array(32)
    const t1 = performance.now()
    const full = await StageEngine.load(tmp, { start: 0, end: L, maxSessions: 64 })
    const loadS = (performance.now() - t1) / 1000
    const fullSrv = new StageServer({ modelId: MODEL, engine: full, router: new Router(), maxBatch: 16 })
    // two processes: this one serves [0, L/2) locally, the child serves [L/2, L) over loopback TCP
    const head = await StageEngine.load(tmp, { start: 0, end: L / 2, maxSessions: 64 })
    const headSrv = new StageServer({ modelId: MODEL, engine: head, router: new Router(), maxBatch: 16 })
    let transport = args.includes('--raw') ? 'raw' : 'zeone-tcp'
    let link: Link | undefined
    let cm: ConnectionManager | undefined
    const cmDir = mkdtempSync(join(tmpdir(), 'zeone-bench-cm-'))
    for (const tr of transport === 'raw' ? ['raw'] : ['zeone-tcp', 'raw']) {
      transport = tr
      const kid = spawn(process.execPath, [...process.execArgv, process.argv[1]!, '--child', tmp, tr, '--layers', String(L)], { stdio: ['pipe', 'pipe', 'inherit'] })
      kids.push(kid)
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: kid.stdout! }).once('line', resolve)
        kid.once('exit', (c) => reject(new Error(`stage child exited ${c}`)))
      })
      const { port } = JSON.parse(line) as { port: number }
      try {
        if (tr === 'raw') link = await dialRaw(port)
        else { cm = (await node(cmDir)).cm; link = await cm.dial({ host: '127.0.0.1', port }) }
        break
      } catch (e) {
        console.error(`pipeline over ${tr} failed: ${(e as Error).message}`)
        kid.stdin?.end()
        if (tr === 'raw') throw e
      }
    }
    const singleChain = (): StageClient[] => [new LocalStageClient(fullSrv, me)]
    const pipeChain = (): StageClient[] => [new LocalStageClient(headSrv, me), new RemoteStageClient(link!, MODEL, L / 2, L, L, 768, 50257)]
    // batch 1: interleaved rounds so both configurations see the same background load; the median round counts
    const ROUNDS = opt('rounds', 3)
    const rounds: { single: Record<string, number>; pipeline: Record<string, number>; ratio: number }[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const a = await run(singleChain, 1)
      const b = await run(pipeChain, 1)
      rounds.push({ single: a, pipeline: b, ratio: r2(b.tokens_per_s! / a.tokens_per_s!) })
    }
    const med = rounds.slice().sort((x, y) => x.ratio - y.ratio)[Math.floor(ROUNDS / 2)]!
    const single: Record<string, unknown>[] = [med.single]
    const pipeline: Record<string, unknown>[] = [med.pipeline]
    for (const B of [4, 16]) {
      single.push(await run(singleChain, B))
      pipeline.push(await run(pipeChain, B))
    }
    link!.close()
    await cm?.stop()
    rmSync(cmDir, { recursive: true, force: true })
    headSrv.stop(); fullSrv.stop()
    await head.close(); await full.close()

    const quant: Record<string, unknown>[] = []
    if (!args.includes('--skip-quant')) {
      for (const bits of [8, 4] as const) {
        const q = await StageEngine.load(tmp, { start: 0, end: L, quantBits: bits })
        const srv = new StageServer({ modelId: MODEL, engine: q, router: new Router() })
        quant.push({ bits, ...(await run(() => [new LocalStageClient(srv, me)], 1)) })
        srv.stop()
        await q.close()
      }
    }

    console.log(JSON.stringify({
      bench: 'cortex',
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, load_avg_1m_at_end: r2(loadavg()[0]!) },
      model: { shape: 'gpt2-124M', layers: L, hidden: 768, vocab: 50257, weights: 'random fp32', prompt_tokens: PROMPT, generated_tokens: GEN, ort_threads_per_stage: 1 },
      setup_s: { write_model: r2(writeS), load_full_stage: r2(loadS) },
      single_process: single,
      single_process_quantised_batch1: quant,
      pipeline_transport: transport,
      pipeline_2_processes_tcp: pipeline,
      batch1_rounds_pipeline_over_single: rounds.map((r) => r.ratio),
      pipeline_vs_single_batch1: med.ratio,
      ...(await decodeRows()),
    }, null, 2))
  } finally {
    for (const k of kids) { k.stdin?.end(); k.kill() }
    rmSync(tmp, { recursive: true, force: true })
  }
}

main().catch((e) => { console.error(e); process.exit(1) })
