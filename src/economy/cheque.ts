/**
 * Cumulative cheques (IOU 0x50), docs/protocol/economy.md §2. The debtor signs the cumulative amount it owes the
 * creditor; a later cheque (higher serial, amount not lower) supersedes every earlier one, so there is nothing to
 * double-spend and the creditor keeps only the latest. The same bytes are cashed by the on-chain escrow, which
 * checks the optional `onchain` part (an EIP-712 signature by the debtor's bound EVM key; verified by a hook the
 * settlement client provides, here only its shape is checked).
 */
import { decode, encode, type CborValue } from '../wire/cbor.js'
import { verify } from '../crypto/sign.js'
import { equalBytes } from '../util/bytes.js'
import { amount as ledgerAmount, asMap, bytes, checkKeys, cborUint, uint, type CborMap } from './codec-util.js'
import { ChequeRejectedError, EconomyProtocolError } from './errors.js'

export const CHEQUE_DOMAIN = new TextEncoder().encode('ZEONE-CHEQUE-v1')
export const CHEQUE_VERSION = 1
/** An encoded cheque is never larger than this (the on-chain part included). */
export const MAX_CHEQUE_BYTES = 512

export interface OnchainPart {
  chainId: bigint
  /** 20-byte escrow contract address. */
  escrow: Uint8Array
  debtorEvm: Uint8Array
  creditorEvm: Uint8Array
  /** Cumulative amount in ZEO wei, 0 .. 2^256-1 (the escrow's uint256). */
  amountWei: bigint
  /** 65-byte EIP-712 signature (r, s, v) by `debtorEvm`. */
  sig: Uint8Array
}

export interface ChequeFields {
  debtor: Uint8Array
  creditor: Uint8Array
  /** Cumulative micro-credits. */
  amount: bigint
  serial: bigint
  /** Unix seconds. */
  expires: bigint
  onchain?: OnchainPart
}

export interface Cheque extends ChequeFields { sig: Uint8Array }

/** What can sign a cheque: a node Identity satisfies it. */
export interface ChequeSigner {
  readonly publicKey: Uint8Array
  sign(...parts: Uint8Array[]): Uint8Array
}

/**
 * Verifies the `onchain` part; provided by the settlement client (src/economy/chain/cheque-guard.ts): true, false
 * (`bad_onchain`), or a refusal with its own code (wrong payee, rate, binding, deposit coverage).
 */
export type OnchainVerifier = (cheque: Cheque) => boolean | { code: string; message: string }

const U64_MAX = (1n << 64n) - 1n
const U256_LIMIT = 1n << 256n

/**
 * `onchain.amountWei` on the wire (docs/protocol/economy.md §2): a CBOR unsigned integer up to 2^64-1 (as before,
 * so existing cheques and vectors keep their bytes), above that a byte string holding the value big-endian in the
 * fewest bytes (9..32, first byte non-zero). Exactly one encoding per value, so decode(encode(x)) re-signs the same.
 */
export function encodeWei(v: bigint): number | bigint | Uint8Array {
  if (v < 0n || v >= U256_LIMIT) throw new RangeError('amountWei out of uint256 range')
  if (v <= U64_MAX) return cborUint(v)
  const out: number[] = []
  for (let x = v; x > 0n; x >>= 8n) out.unshift(Number(x & 0xffn))
  return Uint8Array.from(out)
}

function decodeWei(m: CborMap, k: string, what: string): bigint {
  const v = m[k]
  if (!(v instanceof Uint8Array)) return uint(m, k, what)
  if (v.byteLength < 9 || v.byteLength > 32 || v[0] === 0) {
    throw new EconomyProtocolError('bad_payload', `${what}: ${k} as bytes must be 9..32 bytes without a leading zero`)
  }
  let x = 0n
  for (const b of v) x = (x << 8n) | BigInt(b)
  return x
}

function onchainToCbor(o: OnchainPart): CborValue {
  return {
    chainId: cborUint(o.chainId), escrow: o.escrow, debtorEvm: o.debtorEvm, creditorEvm: o.creditorEvm,
    amountWei: encodeWei(o.amountWei), sig: o.sig,
  }
}

function body(c: ChequeFields): CborMap {
  const m: CborMap = {
    v: CHEQUE_VERSION, debtor: c.debtor, creditor: c.creditor, amount: cborUint(c.amount),
    serial: cborUint(c.serial), expires: cborUint(c.expires),
  }
  if (c.onchain) m.onchain = onchainToCbor(c.onchain)
  return m
}

/** The bytes the debtor's Ed25519 key signs: "ZEONE-CHEQUE-v1" || CBOR(map without sig). */
export function chequeSigningBytes(c: ChequeFields): Uint8Array {
  const b = encode(body(c))
  const out = new Uint8Array(CHEQUE_DOMAIN.length + b.length)
  out.set(CHEQUE_DOMAIN, 0)
  out.set(b, CHEQUE_DOMAIN.length)
  return out
}

export function signCheque(signer: ChequeSigner, fields: Omit<ChequeFields, 'debtor'>): Cheque {
  const f: ChequeFields = { ...fields, debtor: signer.publicKey }
  if (f.onchain) checkOnchainShape(f.onchain)
  return { ...f, sig: signer.sign(chequeSigningBytes(f)) }
}

export function encodeCheque(c: Cheque): Uint8Array {
  return encode({ ...body(c), sig: c.sig })
}

const REQUIRED = ['v', 'debtor', 'creditor', 'amount', 'serial', 'expires', 'sig'] as const
const ONCHAIN_KEYS = ['chainId', 'escrow', 'debtorEvm', 'creditorEvm', 'amountWei', 'sig'] as const

/** Decodes a cheque strictly (exact fields, sizes, version). Does not verify the signature. */
export function decodeCheque(b: Uint8Array): Cheque {
  if (b.byteLength > MAX_CHEQUE_BYTES) throw new ChequeRejectedError('bad_cheque', `cheque of ${b.byteLength} bytes exceeds ${MAX_CHEQUE_BYTES}`)
  let m: CborMap
  try {
    m = asMap(decode(b, { maxDepth: 2, maxItems: 16, maxStringBytes: 128 }), 'cheque')
    checkKeys(m, REQUIRED, ['onchain'], 'cheque')
    if (m.v !== CHEQUE_VERSION) throw new EconomyProtocolError('bad_payload', `unsupported cheque version ${String(m.v)}`)
    const c: Cheque = {
      debtor: bytes(m, 'debtor', 32, 'cheque'), creditor: bytes(m, 'creditor', 32, 'cheque'),
      // amount and serial stop at 2^63-1 (what the ledger holds; docs/protocol/economy.md §1)
      amount: ledgerAmount(m, 'amount', 'cheque'), serial: ledgerAmount(m, 'serial', 'cheque'), expires: uint(m, 'expires', 'cheque'),
      sig: bytes(m, 'sig', 64, 'cheque'),
    }
    // serials start at 1 (0 is "no cheque held" in the ledger)
    if (c.serial === 0n) throw new EconomyProtocolError('bad_payload', 'cheque: serial must be at least 1')
    if (m.onchain !== undefined) {
      const o = asMap(m.onchain, 'cheque.onchain')
      checkKeys(o, ONCHAIN_KEYS, [], 'cheque.onchain')
      c.onchain = {
        chainId: uint(o, 'chainId', 'onchain'), escrow: bytes(o, 'escrow', 20, 'onchain'),
        debtorEvm: bytes(o, 'debtorEvm', 20, 'onchain'), creditorEvm: bytes(o, 'creditorEvm', 20, 'onchain'),
        amountWei: decodeWei(o, 'amountWei', 'onchain'), sig: bytes(o, 'sig', 65, 'onchain'),
      }
    }
    return c
  } catch (err) {
    if (err instanceof ChequeRejectedError) throw err
    throw new ChequeRejectedError('bad_cheque', `malformed cheque: ${(err as Error).message}`, { cause: err })
  }
}

function checkOnchainShape(o: OnchainPart): void {
  const ok = o.escrow.byteLength === 20 && o.debtorEvm.byteLength === 20 && o.creditorEvm.byteLength === 20 &&
    o.sig.byteLength === 65 && o.chainId >= 0n && o.amountWei >= 0n && o.amountWei < U256_LIMIT
  if (!ok) throw new ChequeRejectedError('bad_cheque', 'malformed onchain part')
}

export function verifyChequeSignature(c: Cheque): boolean {
  return verify(c.debtor, c.sig, chequeSigningBytes(c))
}

export interface AcceptContext {
  /** The node id the cheque must come from (the link's proven peer). */
  debtor: Uint8Array
  /** Our own node id. */
  creditor: Uint8Array
  /** Latest cheque we hold from this debtor, if any. */
  previous?: { amount: bigint; serial: bigint }
  /** Unix seconds now. */
  nowSec: bigint
  onchainVerifier?: OnchainVerifier
}

/**
 * Decides whether a received cheque supersedes the one we hold. Returns 'new' (accept), 'duplicate' (same serial
 * and amount: idempotent, nothing to do), or throws ChequeRejectedError: bad_signature, wrong_party,
 * cheque_backwards, cheque_expired, bad_onchain, or the verifier's own code (onchain_*).
 */
export function checkCheque(c: Cheque, ctx: AcceptContext): 'new' | 'duplicate' {
  if (!equalBytes(c.debtor, ctx.debtor) || !equalBytes(c.creditor, ctx.creditor)) {
    throw new ChequeRejectedError('wrong_party', 'cheque names the wrong debtor or creditor')
  }
  if (!verifyChequeSignature(c)) throw new ChequeRejectedError('bad_signature', 'cheque signature does not verify')
  const prev = ctx.previous
  if (prev && c.serial === prev.serial && c.amount === prev.amount) return 'duplicate'
  if (prev && (c.serial <= prev.serial || c.amount < prev.amount)) {
    throw new ChequeRejectedError('cheque_backwards', `cheque serial ${c.serial}/amount ${c.amount} does not supersede ${prev.serial}/${prev.amount}`)
  }
  if (c.expires <= ctx.nowSec) throw new ChequeRejectedError('cheque_expired', 'cheque already expired')
  const onchain = c.onchain && ctx.onchainVerifier ? ctx.onchainVerifier(c) : true
  if (onchain === false) throw new ChequeRejectedError('bad_onchain', 'on-chain signature of the cheque does not verify')
  if (onchain !== true) throw new ChequeRejectedError(onchain.code, onchain.message)
  return 'new'
}
