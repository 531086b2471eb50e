/**
 * The generation loop: prefill the prompt, then sample one token per step until a stop condition. Streams
 * `{id, text}` chunks (text is only complete UTF-8; stop strings are held back until they cannot match).
 */
import { normalizeSampling, Prng, sample, type SamplingParams, type StopParams } from './sampling.js'
import type { Tokenizer } from './tokenizer.js'

export interface Forwarder {
  /** Runs new tokens; returns the logits of the last one. */
  step(ids: number[], signal?: AbortSignal): Promise<Float32Array>
  /** Optional: runs new tokens and samples where the logits are (the last stage), with the caller's draw `u`. */
  stepSample?(ids: number[], sample: { temperature: number; topK: number; topP: number; u: number }, signal?: AbortSignal): Promise<number>
  end(): void
}

export interface GenChunk { id: number; text: string }
export interface GenResult { ids: number[]; text: string; reason: 'stop' | 'length' }

export async function* generate(fw: Forwarder, prompt: number[], sampling: SamplingParams, stop: StopParams, tok?: Tokenizer, signal?: AbortSignal): AsyncGenerator<GenChunk, GenResult> {
  const p = normalizeSampling(sampling)
  const rng = new Prng(p.seed)
  const stopIds = new Set(stop.stopTokens ?? [])
  const stopStrs = (stop.stopStrings ?? []).filter((s) => s.length > 0)
  const dec = tok?.streamDecoder()
  const ids: number[] = []
  let text = '', held = ''
  // both paths consume exactly one PRNG draw per sampled token, so they produce the same stream
  const pick = async (input: number[]): Promise<number> => fw.stepSample
    ? fw.stepSample(input, { temperature: p.temperature, topK: p.topK, topP: p.topP, u: p.temperature > 0 ? rng.next() : 0 }, signal)
    : sample(await fw.step(input, signal), p, rng)
  try {
    let id = await pick(prompt)
    while (ids.length < stop.maxTokens) {
      signal?.throwIfAborted()
      if (stopIds.has(id)) return { ids, text, reason: 'stop' }
      ids.push(id)
      held += dec ? dec.push(id) : ''
      const hit = stopStrs.map((s) => held.indexOf(s)).filter((i) => i >= 0)
      if (hit.length) { const cut = held.slice(0, Math.min(...hit)); text += cut; yield { id, text: cut }; return { ids, text, reason: 'stop' } }
      const keep = stopStrs.reduce((k, s) => { for (let n = Math.min(s.length - 1, held.length); n > 0; n--) if (s.startsWith(held.slice(-n))) return Math.max(k, n); return k }, 0)
      const emit = held.slice(0, held.length - keep)
      held = held.slice(held.length - keep)
      text += emit
      yield { id, text: emit }
      if (ids.length >= stop.maxTokens) break
      id = await pick([id])
    }
    text += held + (dec ? dec.flush() : '')
    return { ids, text, reason: 'length' }
  } finally {
    fw.end()
  }
}

/** Runs `generate` to completion. */
export async function generateAll(fw: Forwarder, prompt: number[], sampling: SamplingParams, stop: StopParams, tok?: Tokenizer): Promise<GenResult> {
  const it = generate(fw, prompt, sampling, stop, tok)
  for (;;) {
    const r = await it.next()
    if (r.done) return r.value
  }
}
