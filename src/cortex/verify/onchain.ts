/**
 * The on-chain side of verified inference (docs/protocol/verified-inference.md §On chain): a stage's commitment as
 * the Staking contract's DataAttestation(root, index, dataHash) signed by its staked (bound) EVM key; a verifier's
 * InferenceVerdict over the same triple; and the two fraud proofs Staking accepts:
 *  - equivocation: two attestations by one key for one (root, index) with different dataHash (slashInvalidData);
 *  - failed check: the provider's attestation plus verdicts of a quorum of staked inference verifiers
 *    (slashByVerdict). The contract checks signatures, stakes and distinctness; it does not re-run the model.
 */
import { bytesToHex, getAddress, hashTypedData, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import type { ChainClient } from '../../economy/chain/client.js'
import { ChainError } from '../../economy/chain/errors.js'
import { attestationDigest, ATTESTED_FIELDS, signDataAttestation, stakingDomain, submitFraudProof, type SignedAttestation } from '../../economy/chain/attestation.js'
import { signDigestSync } from '../../economy/chain/cheque-eip712.js'
import { blockDataHash, inferenceRoot, type SignedCommitment } from './attest.js'
import type { EvmAttester } from './prover.js'

export const VERDICT_TYPES = { InferenceVerdict: ATTESTED_FIELDS } as const

export interface ChainDomain { chainId: bigint; staking: Address }
export interface Verdict { verifier: Address; signature: Hex }

/** The provider's commitment as a DataAttestation signed by its EVM key. */
export function attestCommitment(privateKey: Hex, d: ChainDomain, c: SignedCommitment): Promise<SignedAttestation> {
  return signDataAttestation(privateKey, { chainId: d.chainId, staking: d.staking, root: inferenceRoot(c.ref), index: BigInt(c.index), dataHash: blockDataHash(c.inputHash, c.commitment) })
}

function verdictTyped(d: ChainDomain, a: Pick<SignedAttestation, 'root' | 'index' | 'dataHash'>) {
  return {
    domain: stakingDomain(d.chainId, d.staking),
    types: VERDICT_TYPES, primaryType: 'InferenceVerdict' as const,
    message: { root: a.root, index: a.index, dataHash: a.dataHash },
  }
}

/** What Staking.verdictDigest computes. */
export const verdictDigest = (d: ChainDomain, a: Pick<SignedAttestation, 'root' | 'index' | 'dataHash'>): Hex => hashTypedData(verdictTyped(d, a))

/** A verifier's verdict: it re-executed the block and the attested commitment failed the check. */
export async function signVerdict(privateKey: Hex, d: ChainDomain, a: Pick<SignedAttestation, 'root' | 'index' | 'dataHash'>): Promise<Verdict> {
  const acct = privateKeyToAccount(privateKey)
  return { verifier: acct.address, signature: await acct.signTypedData(verdictTyped(d, a)) }
}

/** Submits a failed-check fraud proof (verdicts sorted by address, as the contract requires). */
export async function submitVerdictProof(cl: ChainClient, provider: Address, a: SignedAttestation, verdicts: Verdict[]): Promise<void> {
  const v = [...verdicts].sort((x, y) => (BigInt(x.verifier) < BigInt(y.verifier) ? -1 : 1))
  for (let i = 1; i < v.length; i++) if (getAddress(v[i]!.verifier) === getAddress(v[i - 1]!.verifier)) throw new ChainError('bad_attestation', 'a verifier appears twice')
  await cl.write(cl.dep.staking, 'Staking', 'slashByVerdict', [provider, a.root, a.index, a.dataHash, a.signature, v.map((x) => x.verifier), v.map((x) => x.signature)])
}

/** Submits an equivocation (two conflicting attestations by one provider) through slashInvalidData. */
export const submitEquivocation = (cl: ChainClient, provider: Address, a: SignedAttestation, b: SignedAttestation): Promise<void> => submitFraudProof(cl, provider, a, b)

/** A stage prover's synchronous EVM attester (StageServerInit.prover.evm): the node's bound key signs each block. */
export function evmAttester(privateKey: Hex, d: ChainDomain): EvmAttester {
  return (root, index, dataHash) => signDigestSync(privateKey, attestationDigest({ chainId: d.chainId, staking: d.staking, root, index: BigInt(index), dataHash }))
}

/** The provider's DataAttestation carried in a signed commitment (undefined when the stage signed none). */
export function commitmentAttestation(c: SignedCommitment): SignedAttestation | undefined {
  if (!c.evmSig) return undefined
  return { root: bytesToHex(inferenceRoot(c.ref)), index: BigInt(c.index), dataHash: bytesToHex(blockDataHash(c.inputHash, c.commitment)), signature: bytesToHex(c.evmSig) }
}
