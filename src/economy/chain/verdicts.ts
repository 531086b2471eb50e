/**
 * Inference verdicts on chain (docs/protocol/verified-inference.md §On chain): a staked verifier's EIP-712
 *   InferenceVerdict(bytes32 root, uint64 index, bytes32 dataHash)
 * under the Staking domain, signed by the node's bound EVM key after its own re-execution failed a provider's
 * attested commitment; and the quorum collector that turns verdicts into a `Staking.slashByVerdict` proof. The
 * collector admits only verdicts the contract would accept (signature by the named verifier, a registered,
 * unbanned Inference provider with `verifierMinStake` bonded, not the accused, not already counted), so a proof it
 * submits is not wasted gas on a verdict that cannot count. Layer-neutral: it knows (root, index, dataHash), never
 * models or activations.
 */
import { bytesToHex, getAddress, hashTypedData, hexToBytes, recoverAddress, type Address, type Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import type { ChainClient } from './client.js'
import { ChainError } from './errors.js'
import { attestationDigest, ATTESTED_FIELDS, stakingDomain, type SignedAttestation } from './attestation.js'
import { signDigestSync } from './cheque-eip712.js'

export const VERDICT_TYPES = { InferenceVerdict: ATTESTED_FIELDS } as const
const INFERENCE = 3 // Staking.Kind.Inference

export interface VerdictFields { chainId: bigint; staking: Address; root: Hex; index: bigint; dataHash: Hex }
export interface Verdict { verifier: Address; signature: Hex }

/** What Staking.verdictDigest(root, index, dataHash) computes. */
export const verdictDigestOf = (f: VerdictFields): Hex => hashTypedData({
  domain: stakingDomain(f.chainId, f.staking), types: VERDICT_TYPES, primaryType: 'InferenceVerdict',
  message: { root: f.root, index: f.index, dataHash: f.dataHash },
})

/** Signs verdicts with one EVM key (synchronously: secp256k1 over the digest, 65 bytes r || s || v). */
export interface VerdictSigner {
  readonly address: Address
  sign(a: Pick<SignedAttestation, 'root' | 'index' | 'dataHash'>): Verdict
}

export function verdictSigner(privateKey: Hex, chainId: bigint, staking: Address): VerdictSigner {
  const address = privateKeyToAddress(privateKey)
  return {
    address,
    sign: (a) => ({ verifier: address, signature: bytesToHex(signDigestSync(privateKey, verdictDigestOf({ chainId, staking, ...a }))) }),
  }
}

export type AdmitResult = 'accepted' | 'duplicate' | 'bad_signature' | 'accused' | 'not_eligible'

/**
 * Collects verdicts over one attested commitment until `Staking.verdictQuorum` distinct eligible verifiers signed,
 * then submits the slashByVerdict proof. The accused is the attestation's signer (recovered, as the contract does).
 */
export class VerdictQuorum {
  readonly accused: Address
  #verdicts = new Map<Address, Verdict>()
  #chainId: bigint

  private constructor(readonly client: ChainClient, readonly att: SignedAttestation, accused: Address) {
    this.accused = accused
    this.#chainId = BigInt(client.dep.chainId)
  }

  /** Opens a collector for `att`; throws bad_attestation when its signature does not recover to an address. */
  static async open(client: ChainClient, att: SignedAttestation): Promise<VerdictQuorum> {
    const digest = attestationDigest({ chainId: BigInt(client.dep.chainId), staking: client.dep.staking, root: hexToBytes(att.root), index: att.index, dataHash: hexToBytes(att.dataHash) })
    let accused: Address
    try { accused = await recoverAddress({ hash: digest, signature: att.signature }) } catch (err) {
      throw new ChainError('bad_attestation', `the attestation signature does not recover: ${(err as Error).message}`)
    }
    return new VerdictQuorum(client, att, getAddress(accused))
  }

  get count(): number { return this.#verdicts.size }
  get verdicts(): Verdict[] { return [...this.#verdicts.values()] }

  /** Checks one verdict as the contract will and keeps it when it counts. */
  async add(v: Verdict): Promise<AdmitResult> {
    let who: Address
    try { who = getAddress(v.verifier) } catch { return 'bad_signature' }
    if (who === this.accused) return 'accused'
    if (this.#verdicts.has(who)) return 'duplicate'
    const digest = verdictDigestOf({ chainId: this.#chainId, staking: this.client.dep.staking, root: this.att.root, index: this.att.index, dataHash: this.att.dataHash })
    let signer: Address
    try { signer = getAddress(await recoverAddress({ hash: digest, signature: v.signature })) } catch { return 'bad_signature' }
    if (signer !== who) return 'bad_signature'
    if (!(await this.eligible(who))) return 'not_eligible'
    this.#verdicts.set(who, { verifier: who, signature: v.signature })
    return 'accepted'
  }

  /** A registered, unbanned Inference provider with at least verifierMinStake bonded (what slashByVerdict checks). */
  async eligible(who: Address): Promise<boolean> {
    const s = this.client.dep.staking
    const [acct, min] = await Promise.all([
      this.client.read<{ bonded: bigint; kind: number; banned: boolean }>(s, 'Staking', 'accountOf', [who]),
      this.client.read<bigint>(s, 'Staking', 'verifierMinStake'),
    ])
    return Number(acct.kind) === INFERENCE && !acct.banned && acct.bonded >= min
  }

  /** The contract's quorum (0 = the verdict path is off). */
  quorum(): Promise<bigint> { return this.client.read<bigint>(this.client.dep.staking, 'Staking', 'verdictQuorum') }

  async ready(): Promise<boolean> { const q = await this.quorum(); return q > 0n && BigInt(this.count) >= q }

  /** Submits the proof (verdicts in ascending address order); throws no_quorum below the contract's quorum. */
  async submit(): Promise<void> {
    const q = await this.quorum()
    if (q === 0n || BigInt(this.count) < q) throw new ChainError('no_quorum', `${this.count} eligible verdicts, the quorum is ${q}`)
    const v = this.verdicts.sort((x, y) => (BigInt(x.verifier) < BigInt(y.verifier) ? -1 : 1))
    const a = this.att
    await this.client.write(this.client.dep.staking, 'Staking', 'slashByVerdict', [this.accused, a.root, a.index, a.dataHash, a.signature, v.map((x) => x.verifier), v.map((x) => x.signature)])
  }
}
