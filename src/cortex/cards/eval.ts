/**
 * The evaluation runner behind `zeone model eval|attest` (issue 21 item 3): computes a card's evaluation metric over
 * a local evaluation set on this node's own copy of the model, and hashes the set exactly as a card binds it
 * (SHA-256 of the file's bytes). An evaluation set is JSON Lines, one kind per file:
 *  - {"text": "..."}: metric `perplexity` = exp(mean next-token negative log-likelihood over every text's tokens);
 *  - {"prompt": "...", "choices": ["...", ...], "answer": i}: metric `accuracy` = the fraction of items whose
 *    highest-likelihood continuation (summed token log-probabilities) is the answer.
 * Likelihoods are computed in float64 from the engine's fp32 logits, one decode step per token (the same path as
 * generation), so two honest nodes reproduce a value to about 1e-6 relative.
 */
import { sha256 } from '../../crypto/hash.js'
import { InvalidInputError } from '../../util/errors.js'
import type { StageEngine } from '../stage.js'

export const MAX_EVAL_SET_BYTES = 16 << 20
export const MAX_EVAL_ITEMS = 10_000
/** Relative difference within which a reproduced value confirms a claimed one. */
export const REPRODUCE_RTOL = 1e-3

export type EvalMetric = 'perplexity' | 'accuracy'
export type EvalItem = { text: string } | { prompt: string; choices: string[]; answer: number }
export interface EvalSet { metric: EvalMetric; items: EvalItem[]; hash: Uint8Array }
export interface EvalOutcome { metric: EvalMetric; value: number; items: number; tokens: number }

const bad = (m: string): never => { throw new InvalidInputError('bad_eval_set', m) }

export function parseEvalSet(bytes: Uint8Array): EvalSet {
  if (bytes.byteLength > MAX_EVAL_SET_BYTES) bad(`evaluation set over ${MAX_EVAL_SET_BYTES} bytes`)
  const lines = new TextDecoder('utf-8', { fatal: true }).decode(bytes).split('\n').filter((l) => l.trim() !== '')
  if (!lines.length) bad('the evaluation set has no items')
  if (lines.length > MAX_EVAL_ITEMS) bad(`the evaluation set has over ${MAX_EVAL_ITEMS} items`)
  const items = lines.map((l, i): EvalItem => {
    let o: unknown
    try { o = JSON.parse(l) } catch { return bad(`line ${i + 1} is not JSON`) }
    if (!o || typeof o !== 'object' || Array.isArray(o)) bad(`line ${i + 1} is not an object`)
    const r = o as Record<string, unknown>
    if (typeof r.text === 'string') return { text: r.text }
    const ch = r.choices
    if (typeof r.prompt !== 'string' || !r.prompt || !Array.isArray(ch) || ch.length < 2 || ch.length > 16 || !ch.every((c) => typeof c === 'string' && c.length > 0)) {
      return bad(`line ${i + 1} is neither {"text"} nor {"prompt", "choices" (2..16 non-empty), "answer"}`)
    }
    if (typeof r.answer !== 'number' || !Number.isInteger(r.answer) || r.answer < 0 || r.answer >= ch.length) bad(`line ${i + 1}: answer must index the choices`)
    return { prompt: r.prompt, choices: ch as string[], answer: r.answer as number }
  })
  const kinds = new Set(items.map((x) => ('text' in x ? 'perplexity' : 'accuracy')))
  if (kinds.size !== 1) bad('an evaluation set holds one kind of item')
  return { metric: [...kinds][0] as EvalMetric, items, hash: sha256(bytes) }
}

/** log p(ids[j] | context, ids[..j]) summed; `context` is prefilled first (or ids[0] is, with no context). */
async function logLikelihood(e: StageEngine, context: number[], ids: number[], sid: string, signal?: AbortSignal): Promise<{ sum: number; n: number }> {
  const seq = [...context, ...ids].slice(0, e.maxContext)
  const first = Math.max(1, context.length)
  if (seq.length <= first) return { sum: 0, n: 0 }
  let sum = 0, n = 0
  try {
    let [out] = await e.forwardBatch([{ sid, ids: seq.slice(0, first), T: first }])
    for (let j = first; j < seq.length; j++) {
      signal?.throwIfAborted()
      sum += logSoftmaxAt(out!.data, seq[j]!)
      n++
      if (j + 1 < seq.length) [out] = await e.forwardBatch([{ sid, ids: [seq[j]!], T: 1 }])
    }
  } finally { e.endSession(sid) }
  return { sum, n }
}

function logSoftmaxAt(logits: Float32Array, id: number): number {
  let max = -Infinity
  for (const v of logits) if (v > max) max = v
  let s = 0
  for (const v of logits) s += Math.exp(v - max)
  return logits[id]! - max - Math.log(s)
}

/** Runs the set on an engine serving every layer (first and last stage in one). */
export async function runEval(e: StageEngine, tok: { encode(s: string): number[] }, set: EvalSet, signal?: AbortSignal): Promise<EvalOutcome> {
  if (!e.first || !e.last) throw new InvalidInputError('bad_engine', 'an evaluation needs every layer of the model')
  let tokens = 0
  if (set.metric === 'perplexity') {
    let sum = 0, n = 0
    for (const [i, it] of set.items.entries()) {
      const r = await logLikelihood(e, [], tok.encode((it as { text: string }).text), `eval:${i}`, signal)
      sum += r.sum; n += r.n
    }
    if (!n) bad('no text in the evaluation set has two tokens')
    return { metric: 'perplexity', value: Math.exp(-sum / n), items: set.items.length, tokens: n }
  }
  let correct = 0
  for (const [i, raw] of set.items.entries()) {
    const it = raw as { prompt: string; choices: string[]; answer: number }
    const ctx = tok.encode(it.prompt)
    let best = -1, bestScore = -Infinity
    for (const [c, choice] of it.choices.entries()) {
      const r = await logLikelihood(e, ctx, tok.encode(choice), `eval:${i}:${c}`, signal)
      tokens += r.n
      if (r.n && r.sum > bestScore) { bestScore = r.sum; best = c }
    }
    if (best === it.answer) correct++
  }
  return { metric: 'accuracy', value: correct / set.items.length, items: set.items.length, tokens }
}

/** Whether `got` reproduces a claimed value (relative, with an absolute floor for values near 0). */
export const reproduces = (claimed: number, got: number): boolean => Math.abs(claimed - got) <= REPRODUCE_RTOL * Math.max(Math.abs(claimed), 1e-3)
