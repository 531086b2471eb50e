/**
 * The prover side of one stage session: chains the step inputs, collects one row per step and, every BLOCK rows,
 * returns the block's commitment signed by the stage's node identity (returned to the client with the step's
 * reply). The session nonce is drawn here, fresh per session start, so an honest stage never signs two different
 * commitments for one (root, index).
 */
import { randomBytes } from '../../crypto/sign.js'
import { blockDataHash, chainInput, inferenceRoot, INPUT_GENESIS, signCommitment, type InferenceRef, type SignedCommitment, type Signer } from './attest.js'
import { DEFAULT_K } from './commit.js'
import { TraceCommitter, type StepInput } from './trace.js'

/** Signs (root, index, dataHash) as the Staking contract's DataAttestation with the stage's bound EVM key. */
export type EvmAttester = (root: Uint8Array, index: number, dataHash: Uint8Array) => Uint8Array

export class StageProver {
  readonly ref: InferenceRef
  #input: Uint8Array = INPUT_GENESIS
  #rows: TraceCommitter

  constructor(readonly signer: Signer, ref: Omit<InferenceRef, 'nonce'>, width: number, k = DEFAULT_K, readonly evm?: EvmAttester) {
    this.ref = { ...ref, nonce: randomBytes(16) }
    this.#rows = new TraceCommitter(width, k)
  }

  /** One served step: its input and the row it produced (its last position's output). */
  step(input: StepInput, row: Float32Array): SignedCommitment | undefined {
    this.#input = chainInput(this.#input, input)
    const b = this.#rows.push(row)
    if (!b) return undefined
    const c = signCommitment(this.signer, this.ref, b.index, this.#input, b.commitment)
    if (this.evm) c.evmSig = this.evm(inferenceRoot(this.ref), b.index, blockDataHash(this.#input, b.commitment))
    return c
  }
}
