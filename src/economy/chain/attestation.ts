/**
 * Data attestations (docs/contracts.md §Staking and slashing): a provider's bound EVM key signs, with EIP-712,
 *   DataAttestation(bytes32 root, uint64 index, bytes32 dataHash)
 * under {name: "ZEONE Staking", version: "1", chainId, verifyingContract: staking}: "chunk `index` of the content
 * with Merkle root `root` hashes to `dataHash`". A provider serving a chunk attaches one; two attestations by the
 * same key for the same (root, index) with different hashes are a fraud proof anyone can submit to
 * `Staking.slashInvalidData` (the submitter earns `fraud_reward_bps` of the slash).
 */
import { bytesToHex, getAddress, hashTypedData, recoverTypedDataAddress, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import type { ChainClient } from './client.js'
import { ChainError } from './errors.js'

/** The (root, index, dataHash) triple every Staking statement signs: data attestations and inference verdicts. */
export const ATTESTED_FIELDS = [
  { name: 'root', type: 'bytes32' },
  { name: 'index', type: 'uint64' },
  { name: 'dataHash', type: 'bytes32' },
] as const

export const ATTESTATION_TYPES = { DataAttestation: ATTESTED_FIELDS } as const

/** The EIP-712 domain of the Staking contract (its constructor fixes name and version). */
export const stakingDomain = (chainId: bigint, staking: Address) =>
  ({ name: 'ZEONE Staking', version: '1', chainId, verifyingContract: getAddress(staking) }) as const

const UINT64_MAX = (1n << 64n) - 1n

export interface AttestationFields { chainId: bigint; staking: Address; root: Uint8Array; index: bigint; dataHash: Uint8Array }
export interface SignedAttestation { root: Hex; index: bigint; dataHash: Hex; signature: Hex }

function typed(f: AttestationFields) {
  if (f.root.length !== 32 || f.dataHash.length !== 32) throw new ChainError('bad_attestation', 'root and dataHash must be 32 bytes')
  if (f.index < 0n || f.index > UINT64_MAX) throw new ChainError('bad_attestation', 'index out of uint64 range')
  if (f.chainId <= 0n) throw new ChainError('bad_attestation', 'bad chain id')
  return {
    domain: stakingDomain(f.chainId, f.staking),
    types: ATTESTATION_TYPES,
    primaryType: 'DataAttestation' as const,
    message: { root: bytesToHex(f.root), index: f.index, dataHash: bytesToHex(f.dataHash) },
  }
}

/** The digest Staking.attestationDigest computes. */
export function attestationDigest(f: AttestationFields): Hex {
  return hashTypedData(typed(f))
}

/** Signs a data attestation with the node's EVM key (the one bound to its identity and holding its stake). */
export async function signDataAttestation(privateKey: Hex, f: AttestationFields): Promise<SignedAttestation> {
  const t = typed(f)
  const signature = await privateKeyToAccount(privateKey).signTypedData(t)
  return { root: t.message.root, index: f.index, dataHash: t.message.dataHash, signature }
}

/** The address that signed an attestation (for a fraud-proof collector). */
export async function attestationSigner(chainId: bigint, staking: Address, a: SignedAttestation): Promise<Address> {
  const t = typed({ chainId, staking, root: hexBytes(a.root), index: a.index, dataHash: hexBytes(a.dataHash) })
  return recoverTypedDataAddress({ ...t, signature: a.signature })
}

/**
 * Submits two conflicting attestations by `provider` as a fraud proof; refuses (without a transaction) a pair
 * that could not be one, so the submitter does not pay for a revert.
 */
export async function submitFraudProof(cl: ChainClient, provider: Address, a: SignedAttestation, b: SignedAttestation): Promise<void> {
  if (a.root !== b.root || a.index !== b.index) throw new ChainError('bad_attestation', 'the attestations are for different chunks')
  if (a.dataHash === b.dataHash) throw new ChainError('bad_attestation', 'the attestations agree: no fraud')
  const chainId = BigInt(cl.dep.chainId)
  for (const x of [a, b]) {
    if (getAddress(await attestationSigner(chainId, cl.dep.staking, x)) !== getAddress(provider)) {
      throw new ChainError('bad_attestation', 'an attestation is not signed by the provider')
    }
  }
  await cl.write(cl.dep.staking, 'Staking', 'slashInvalidData', [provider, a.root, a.index, a.dataHash, a.signature, b.dataHash, b.signature])
}

function hexBytes(h: Hex): Uint8Array {
  if (!/^0x[0-9a-fA-F]{64}$/.test(h)) throw new ChainError('bad_attestation', 'expected 32 bytes of hex')
  return Uint8Array.from(Buffer.from(h.slice(2), 'hex'))
}
