/**
 * Who checks a sampled block for the live auditor (audit.ts): either this node itself, re-executing the block on a
 * replica it drives (a Replayer: another provider's stage, or a local engine) and comparing with the commitment, or
 * a verifier it hires (check-client.ts: the `service:verify` service re-executes on its own replica and returns a
 * signed verdict, paid per check). Both answer the same question: does the signed commitment pass.
 */
import type { Verdict } from '../../economy/chain/verdicts.js'
import type { SignedCommitment } from './attest.js'
import { checkBlock, DEFAULT_TOLERANCE, type CheckResult, type Tolerance } from './commit.js'
import type { Replayer } from './replay.js'
import type { StepInput } from './trace.js'

export interface CheckOutcome {
  ok: boolean
  result: CheckResult
  /** A hired verifier's EIP-712 InferenceVerdict over the commitment's attestation (failed checks, staked verifiers). */
  verdict?: Verdict
  /** A hired verifier's signed answer as it came on the wire (CORTEX_CHECK_RESP body): what the auditor keeps as
   *  evidence when the verifier turns out to have lied (resolve.ts). */
  signed?: Uint8Array
  /** A hired check whose payment waits for the auditor's judgement (HireInit.deferPayment): records it as
   *  consumed in the ledger; called only for a verifier whose verdict held up, at most once. */
  pay?: () => void
}

export interface Checker {
  readonly id: string
  /** The node that re-executes (absent for a local engine). */
  readonly nodeId?: Uint8Array
  /** A hired verifier judged (this node saw no activations, so it signs no verdict of its own on this check). */
  readonly hired?: boolean
  /** `steps`: the stage's inputs up to the end of block `c.index`. */
  check(steps: StepInput[], c: SignedCommitment, signal?: AbortSignal): Promise<CheckOutcome>
}

/** This node checks: it re-executes through `r` and compares. */
export function replayChecker(r: Replayer, tol: Tolerance = DEFAULT_TOLERANCE): Checker {
  return {
    id: r.id, ...(r.nodeId ? { nodeId: r.nodeId } : {}),
    async check(steps, c, signal) {
      const result = checkBlock(c.commitment, await r.replay(steps, c.index, signal), tol)
      return { ok: result.ok, result }
    },
  }
}
