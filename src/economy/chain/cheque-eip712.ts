/**
 * The EIP-712 part of a cheque (docs/contracts.md §Cheques): the debtor's bound EVM key signs
 *   Cheque(address debtor, address creditor, uint256 cumulativeAmount, uint64 serial, uint64 expires)
 * under the domain {name: "ZEONE Settlement", version: "1", chainId, verifyingContract: escrow}.
 * `signOnchainPart` builds the `onchain` field of E's cheque; `verifyOnchainPart` is the synchronous
 * OnchainVerifier E's checkCheque calls (same rules as the escrow: exact signer, low-s, v in {27, 28}).
 */
import { secp256k1 } from '@noble/curves/secp256k1'
import { bytesToHex, getAddress, hashTypedData, hexToBytes, type Address, type Hex } from 'viem'
import { privateKeyToAccount, privateKeyToAddress, publicKeyToAddress } from 'viem/accounts'
import { ChainError } from './errors.js'
import type { OnchainPart } from '../cheque.js'

export const CHEQUE_DOMAIN_NAME = 'ZEONE Settlement'
export const CHEQUE_DOMAIN_VERSION = '1'
export const CHEQUE_TYPES = {
  Cheque: [
    { name: 'debtor', type: 'address' },
    { name: 'creditor', type: 'address' },
    { name: 'cumulativeAmount', type: 'uint256' },
    { name: 'serial', type: 'uint64' },
    { name: 'expires', type: 'uint64' },
  ],
} as const

const UINT64_MAX = (1n << 64n) - 1n
const HALF_N = secp256k1.CURVE.n >> 1n

/** The fields the EIP-712 signature covers. */
export interface OnchainChequeFields {
  chainId: bigint
  escrow: Uint8Array
  debtorEvm: Uint8Array
  creditorEvm: Uint8Array
  amountWei: bigint
  serial: bigint
  expires: bigint
}

/** The cheque's `onchain` field: one definition, in the off-chain cheque module. */
export type { OnchainPart }

const addr = (b: Uint8Array, what: string): Address => {
  if (b.length !== 20) throw new ChainError('bad_cheque', `${what} must be 20 bytes`)
  return getAddress(bytesToHex(b))
}

export function chequeDigest(f: OnchainChequeFields): Hex {
  if (f.serial < 0n || f.serial > UINT64_MAX || f.expires < 0n || f.expires > UINT64_MAX) {
    throw new ChainError('bad_cheque', 'serial/expires out of uint64 range')
  }
  if (f.amountWei < 0n || f.amountWei >= 1n << 256n || f.chainId <= 0n) throw new ChainError('bad_cheque', 'amount/chainId out of range')
  return hashTypedData({
    domain: { name: CHEQUE_DOMAIN_NAME, version: CHEQUE_DOMAIN_VERSION, chainId: f.chainId, verifyingContract: addr(f.escrow, 'escrow') },
    types: CHEQUE_TYPES,
    primaryType: 'Cheque',
    message: {
      debtor: addr(f.debtorEvm, 'debtorEvm'), creditor: addr(f.creditorEvm, 'creditorEvm'),
      cumulativeAmount: f.amountWei, serial: f.serial, expires: f.expires,
    },
  })
}

/** Signs the EIP-712 cheque with the debtor's EVM key and returns E's `onchain` part. */
export async function signOnchainPart(privateKey: Hex, f: Omit<OnchainChequeFields, 'debtorEvm'>): Promise<OnchainPart> {
  const account = privateKeyToAccount(privateKey)
  const debtorEvm = hexToBytes(account.address)
  const digest = chequeDigest({ ...f, debtorEvm })
  const sig = await account.sign({ hash: digest })
  return { chainId: f.chainId, escrow: f.escrow, debtorEvm, creditorEvm: f.creditorEvm, amountWei: f.amountWei, sig: hexToBytes(sig) }
}

/** Recovers the signer of a 65-byte (r, s, v) signature over `digest`, or undefined if malformed / high-s. */
export function recoverSigner(digest: Hex, sig: Uint8Array): Address | undefined {
  if (sig.length !== 65) return undefined
  const v = sig[64]!
  if (v !== 27 && v !== 28) return undefined
  try {
    const s = secp256k1.Signature.fromCompact(sig.subarray(0, 64))
    if (s.s > HALF_N) return undefined
    const pub = s.addRecoveryBit(v - 27).recoverPublicKey(hexToBytes(digest).slice())
    return publicKeyToAddress(bytesToHex(pub.toRawBytes(false)))
  } catch {
    return undefined
  }
}

/** True iff `part.sig` is the debtor EVM key's EIP-712 signature over (part, serial, expires). */
export function verifyOnchainPart(part: OnchainPart, serial: bigint, expires: bigint): boolean {
  try {
    const digest = chequeDigest({ ...part, serial, expires })
    const signer = recoverSigner(digest, part.sig)
    return signer !== undefined && signer === getAddress(bytesToHex(part.debtorEvm))
  } catch {
    return false
  }
}

/** Adapter for E's `AcceptContext.onchainVerifier`; optionally pins the chain and escrow we settle on. */
export function makeOnchainVerifier(expect?: { chainId: bigint; escrow: Uint8Array }):
  (c: { serial: bigint; expires: bigint; onchain?: OnchainPart }) => boolean {
  return (c) => {
    if (c.onchain === undefined) return true
    if (expect !== undefined) {
      if (c.onchain.chainId !== expect.chainId) return false
      if (bytesToHex(c.onchain.escrow).toLowerCase() !== bytesToHex(expect.escrow).toLowerCase()) return false
    }
    return verifyOnchainPart(c.onchain, c.serial, c.expires)
  }
}

/** Signs a digest synchronously (RFC 6979, low-s) and returns r || s || v with v in {27, 28}. */
export function signDigestSync(privateKey: Hex, digest: Hex): Uint8Array {
  const sig = secp256k1.sign(hexToBytes(digest), hexToBytes(privateKey), { lowS: true })
  const out = new Uint8Array(65)
  out.set(sig.toCompactRawBytes(), 0)
  out[64] = 27 + sig.recovery
  return out
}

export interface OnchainSignerInit {
  /** The debtor's (our) EVM key, bound to our Ed25519 identity. */
  privateKey: Hex
  chainId: bigint
  escrow: Uint8Array
  /** ZEO wei per ledger micro-credit. */
  weiPerMicroCredit: bigint
  /** The creditor's bound EVM address, if known now (synchronous: a cache the settlement client fills). */
  creditorEvmOf(creditor: Uint8Array): Uint8Array | undefined
}

/**
 * The synchronous `onchainSigner` hook of E's Economy (src/economy/economy.ts): adds the EIP-712 part to a cheque
 * we issue, with amountWei = cumulative micro-credits * weiPerMicroCredit. Returns undefined (an off-chain-only
 * cheque) while the creditor's EVM address is unknown.
 */
export function makeOnchainSigner(init: OnchainSignerInit): (f: { creditor: Uint8Array; amount: bigint; serial: bigint; expires: bigint }) => OnchainPart | undefined {
  const debtorEvm = hexToBytes(privateKeyToAddress(init.privateKey))
  return (f) => {
    const creditorEvm = init.creditorEvmOf(f.creditor)
    if (creditorEvm === undefined) return undefined
    const fields = { chainId: init.chainId, escrow: init.escrow, debtorEvm, creditorEvm, amountWei: f.amount * init.weiPerMicroCredit, serial: f.serial, expires: f.expires }
    const sig = signDigestSync(init.privateKey, chequeDigest(fields))
    return { chainId: fields.chainId, escrow: fields.escrow, debtorEvm, creditorEvm, amountWei: fields.amountWei, sig }
  }
}
