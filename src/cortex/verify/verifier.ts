/**
 * The verifier: given the step inputs a client sent a stage and the signed commitments the stage returned, checks
 * the signatures and the input binding of every commitment, then re-executes a random sample of blocks on its own
 * engine (another provider's copy of the claimed model) and checks each against its commitment. A failure is
 * evidence: a trust event against the provider, and the signed commitment for a fraud proof (onchain.ts).
 */
import type { TrustSink } from '../../interfaces/trust.js'
import type { StageEngine } from '../stage.js'
import { checkBlock, DEFAULT_TOLERANCE, type CheckResult, type Tolerance } from './commit.js'
import { chainInput, INPUT_GENESIS, verifyCommitment, type SignedCommitment } from './attest.js'
import { BLOCK } from './commit.js'
import { replayBlock, type StepInput } from './trace.js'

export interface VerifyInit {
  engine: StageEngine
  /** Uniform draws in [0, 1) choosing the sampled blocks (an unpredictable source in production). */
  random: () => number
  /** Blocks re-executed per trace. @default 1 */
  samples?: number
  tolerance?: Tolerance
  trust?: TrustSink
}

export type Verdict =
  | { ok: true; checked: number[] }
  | { ok: false; reason: 'bad_signature' | 'wrong_inputs' | 'missing_block' | 'failed_check'; index: number; commitment?: SignedCommitment; result?: CheckResult }

/** The input hash chain after every step. */
export function inputChain(steps: StepInput[]): Uint8Array[] {
  const out: Uint8Array[] = []
  let h: Uint8Array = INPUT_GENESIS
  for (const s of steps) { h = chainInput(h, s); out.push(h) }
  return out
}

export async function verifyTrace(v: VerifyInit, provider: Uint8Array, steps: StepInput[], commitments: SignedCommitment[]): Promise<Verdict> {
  const blocks = Math.floor(steps.length / BLOCK)
  const chain = inputChain(steps)
  const byIndex = new Map<number, SignedCommitment>()
  const fail = (reason: Exclude<Verdict, { ok: true }>['reason'], index: number, commitment?: SignedCommitment, result?: CheckResult): Verdict => {
    // a missing block may be a cut stream; anything else is the provider's signed word against the computation
    if (reason !== 'missing_block') v.trust?.report(provider, reason === 'bad_signature' ? 'invalid_message' : 'invalid_inference', `${reason} at block ${index}`)
    return { ok: false, reason, index, ...(commitment ? { commitment } : {}), ...(result ? { result } : {}) }
  }
  for (const c of commitments) {
    if (Buffer.compare(c.signer, provider) !== 0 || !verifyCommitment(c)) return fail('bad_signature', c.index)
    if (c.index >= blocks || Buffer.compare(c.inputHash, chain[(c.index + 1) * BLOCK - 1]!) !== 0) return fail('wrong_inputs', c.index, c)
    byIndex.set(c.index, c)
  }
  const want = Math.min(v.samples ?? 1, blocks)
  const picked = new Set<number>()
  while (picked.size < want) picked.add(Math.min(blocks - 1, Math.floor(v.random() * blocks)))
  const checked: number[] = []
  for (const b of [...picked].sort((x, y) => x - y)) {
    const c = byIndex.get(b)
    if (!c) return fail('missing_block', b)
    const r = checkBlock(c.commitment, await replayBlock(v.engine, steps, b), v.tolerance ?? DEFAULT_TOLERANCE)
    if (!r.ok) return fail('failed_check', b, c, r)
    checked.push(b)
  }
  return { ok: true, checked }
}
