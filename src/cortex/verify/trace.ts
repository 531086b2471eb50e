/**
 * A stage's trace: one row per forward step (the output at the step's last position: hidden states, or logits on
 * the last stage), cut into blocks of BLOCK rows. The prover builds commitments while it serves (TraceCommitter);
 * a verifier re-executes one block from the recorded step inputs on its own engine (replayBlock): the prefix in a
 * single forward pass (parallel, like a prefill), then the block's steps one by one, as the prover ran them.
 */
import type { ForwardOut, StageEngine } from '../stage.js'
import { BLOCK, commitBlock, DEFAULT_K } from './commit.js'

/** What a stage was given in one forward step. */
export interface StepInput { ids?: number[]; hidden?: Float32Array; T: number }

/** The row a step contributes: its last position's output. */
export function lastRow(out: Pick<ForwardOut, 'data'>, width: number): Float32Array {
  return out.data.subarray(out.data.length - width)
}

export function rowWidth(engine: Pick<StageEngine, 'last' | 'cfg'>): number {
  return engine.last ? engine.cfg.vocabSize : engine.cfg.hidden
}

/** Accumulates rows and returns a commitment every BLOCK rows. */
export class TraceCommitter {
  #buf: Float32Array
  #n = 0
  blocks = 0
  constructor(readonly width: number, readonly k = DEFAULT_K) { this.#buf = new Float32Array(BLOCK * width) }
  /** Adds one row; returns the block's commitment when it completed one. */
  push(row: Float32Array): { index: number; commitment: Uint8Array } | undefined {
    this.#buf.set(row, this.#n * this.width)
    if (++this.#n < BLOCK) return undefined
    this.#n = 0
    return { index: this.blocks++, commitment: commitBlock(this.#buf, this.k) }
  }
}

function concat(steps: StepInput[]): StepInput {
  if (steps[0]!.ids) return { ids: steps.flatMap((s) => s.ids!), T: steps.reduce((a, s) => a + s.T, 0) }
  const T = steps.reduce((a, s) => a + s.T, 0)
  const D = steps[0]!.hidden!.length / steps[0]!.T
  const h = new Float32Array(T * D)
  let o = 0
  for (const s of steps) { h.set(s.hidden!, o); o += s.hidden!.length }
  return { hidden: h, T }
}

let replays = 0

/** Re-executes block `index` of a trace from its step inputs; returns the block's rows (BLOCK x width). */
export async function replayBlock(engine: StageEngine, steps: StepInput[], index: number): Promise<Float32Array> {
  const from = index * BLOCK
  if (steps.length < from + BLOCK) throw new RangeError(`block ${index} needs ${from + BLOCK} steps, the trace has ${steps.length}`)
  const width = rowWidth(engine)
  const rows = new Float32Array(BLOCK * width)
  const sid = `verify:${++replays}`
  try {
    let j = from
    if (from > 0) await engine.forwardBatch([{ sid, ...concat(steps.slice(0, from)) }])
    for (; j < from + BLOCK; j++) {
      const [out] = await engine.forwardBatch([{ sid, ...steps[j]! }])
      rows.set(lastRow(out!, width), (j - from) * width)
    }
  } finally { engine.endSession(sid) }
  return rows
}

/** Runs steps on an engine as a prover serving them would, committing every block (bench and tests). */
export async function proveTrace(engine: StageEngine, steps: StepInput[], k = DEFAULT_K): Promise<Uint8Array[]> {
  const width = rowWidth(engine)
  const c = new TraceCommitter(width, k)
  const out: Uint8Array[] = []
  const sid = `prove:${++replays}`
  try {
    for (const s of steps) {
      const [o] = await engine.forwardBatch([{ sid, ...s }])
      const b = c.push(lastRow(o!, width))
      if (b) out.push(b.commitment)
    }
  } finally { engine.endSession(sid) }
  return out
}
