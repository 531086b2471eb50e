/**
 * Decode figures for the cortex bench (single process, batch 1): per-token cost at two context lengths for each KV
 * layout, sampled vs greedy tokens/s, and 8-bit top-1 agreement with fp32. Per-token figures are given as wall time
 * and as this process's CPU time (ORT runs on the calling thread with 1 intra-op thread), which is the steadier of
 * the two on a shared machine.
 */
import { StageEngine } from '../../src/cortex/stage.js'
import { argmax, Prng, sample, normalizeSampling } from '../../src/cortex/sampling.js'
import type { KvLayout } from '../../src/cortex/graph.js'

const r2 = (x: number): number => Math.round(x * 100) / 100
const med = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[xs.length >> 1]!
const prompt = (n: number, vocab: number): number[] => Array.from({ length: n }, (_, i) => (i * 997 + 13) % vocab)
let sidN = 0

/** Median wall and CPU ms of `steps` single-token decode steps after a prompt of `ctx` tokens. */
async function decodeAt(e: StageEngine, ctx: number, steps: number): Promise<{ wall: number; cpu: number }> {
  const sid = `d${sidN++}`
  const V = e.cfg.vocabSize
  try {
    let id = argmax((await e.forwardBatch([{ sid, ids: prompt(ctx, V), T: ctx }]))[0]!.data)
    const wall: number[] = [], cpu: number[] = []
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now(), c0 = process.cpuUsage()
      id = argmax((await e.forwardBatch([{ sid, ids: [id], T: 1 }]))[0]!.data)
      const c = process.cpuUsage(c0)
      wall.push(performance.now() - t0)
      cpu.push((c.user + c.system) / 1000)
    }
    return { wall: med(wall), cpu: med(cpu) }
  } finally { e.endSession(sid) }
}

/** ms/token at context `lo` and `hi` (rounds interleaved, best round kept) and the hi/lo ratio, per KV layout. */
export async function contextRows(dir: string, layers: number, lo: number, hi: number, steps: number, rounds: number): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = []
  for (const kvLayout of ['buffer', 'concat'] as KvLayout[]) {
    const e = await StageEngine.load(dir, { start: 0, end: layers, kvLayout })
    try {
      const at: Record<number, { wall: number; cpu: number }[]> = { [lo]: [], [hi]: [] }
      for (let r = 0; r < rounds; r++) for (const c of [lo, hi]) at[c]!.push(await decodeAt(e, c, steps))
      const best = (c: number, k: 'wall' | 'cpu'): number => Math.min(...at[c]!.map((x) => x[k]))
      rows.push({
        kv_layout: kvLayout,
        [`cpu_ms_per_token_ctx${lo}`]: r2(best(lo, 'cpu')), [`cpu_ms_per_token_ctx${hi}`]: r2(best(hi, 'cpu')), cpu_ratio: r2(best(hi, 'cpu') / best(lo, 'cpu')),
        [`wall_ms_per_token_ctx${lo}`]: r2(best(lo, 'wall')), [`wall_ms_per_token_ctx${hi}`]: r2(best(hi, 'wall')), wall_ratio: r2(best(hi, 'wall') / best(lo, 'wall')),
      })
    } finally { await e.close() }
  }
  return rows
}

/** End-to-end tokens/s (forward + token choice) greedy vs temperature 0.8 / top-p 0.9, interleaved rounds. */
export async function samplingRow(e: StageEngine, tokens: number, rounds: number): Promise<Record<string, number>> {
  const V = e.cfg.vocabSize
  const run = async (temperature: number): Promise<{ tps: number; pickMs: number }> => {
    const sid = `g${sidN++}`
    const p = normalizeSampling({ temperature, topP: temperature ? 0.9 : 1, seed: 1 })
    const rng = new Prng(p.seed)
    let pick = 0
    try {
      const t0 = performance.now()
      let logits = (await e.forwardBatch([{ sid, ids: prompt(16, V), T: 16 }]))[0]!.data
      for (let i = 0; i < tokens; i++) {
        const s0 = performance.now()
        const id = sample(logits, p, rng)
        pick += performance.now() - s0
        logits = (await e.forwardBatch([{ sid, ids: [id], T: 1 }]))[0]!.data
      }
      return { tps: tokens / ((performance.now() - t0) / 1000), pickMs: pick / tokens }
    } finally { e.endSession(sid) }
  }
  const g: number[] = [], s: number[] = [], gp: number[] = [], sp: number[] = []
  for (let r = 0; r < rounds; r++) {
    const a = await run(0), b = await run(0.8)
    g.push(a.tps); gp.push(a.pickMs); s.push(b.tps); sp.push(b.pickMs)
  }
  return {
    greedy_tokens_per_s: r2(med(g)), sampled_tokens_per_s: r2(med(s)), sampled_over_greedy: r2(med(s) / med(g)),
    greedy_pick_ms: r2(med(gp)), sampled_pick_ms: r2(med(sp)),
  }
}

/** Greedy decode with fp32 and 8-bit engines fed the same (fp32) tokens: share of steps whose top-1 agrees. */
export async function q8AgreementRow(dir: string, layers: number, tokens: number): Promise<Record<string, number>> {
  const [f, q] = await Promise.all([StageEngine.load(dir, { start: 0, end: layers }), StageEngine.load(dir, { start: 0, end: layers, quantBits: 8 })])
  try {
    const V = f.cfg.vocabSize
    let ids = prompt(16, V), agree = 0
    for (let i = 0; i < tokens; i++) {
      const [a] = await f.forwardBatch([{ sid: 'f', ids, T: ids.length }])
      const [b] = await q.forwardBatch([{ sid: 'q', ids, T: ids.length }])
      const top = argmax(a!.data)
      if (argmax(b!.data) === top) agree++
      ids = [top]
    }
    return { steps: tokens, top1_agreement: r2(agree / tokens) }
  } finally { await Promise.all([f.close(), q.close()]) }
}
