/**
 * Signed activation commitments (docs/protocol/verified-inference.md). A stage commits, per block of one
 * inference, to (the hash chain of the step inputs it was given up to the block's end, the block's commitment):
 *   root     = SHA-256("ZEONE-INFER-v1" || u16 len || model id || weights root (32) || u32 start || u32 end || nonce (16))
 *   dataHash = SHA-256(inputHash || commitment)
 * and signs (root, index, dataHash) twice: with its Ed25519 node identity (the wire evidence) and, when it has a
 * staked EVM key, as the Staking contract's EIP-712 DataAttestation(root, index, dataHash) (the on-chain evidence).
 * The nonce is the stage's own, fresh per session start, so an honest stage never signs two different dataHash
 * values for one (root, index): two such signatures are an equivocation anyone can prove.
 */
import { sha256 } from '../../crypto/hash.js'
import { verify } from '../../crypto/sign.js'
import { decode, encode } from '../../wire/cbor.js'
import { InvalidInputError } from '../../util/errors.js'
import { MAX_K } from './commit.js'
import type { StepInput } from './trace.js'

const te = new TextEncoder()
const ROOT_DOMAIN = te.encode('ZEONE-INFER-v1')
const SIG_DOMAIN = te.encode('ZEONE-INFER-COMMIT-v1')
const INPUT_DOMAIN = te.encode('ZEONE-INFER-INPUT-v1')

export interface InferenceRef { model: string; weightsRoot: Uint8Array; start: number; end: number; nonce: Uint8Array }
export interface SignedCommitment {
  ref: InferenceRef; index: number; inputHash: Uint8Array; commitment: Uint8Array; signer: Uint8Array; sig: Uint8Array
  /** The same (root, index, dataHash) as the Staking contract's EIP-712 DataAttestation, signed by the stage's bound
   *  EVM key (65 bytes r || s || v), when it has one: what a fraud proof submits (onchain.ts). */
  evmSig?: Uint8Array
}
export interface Signer { publicKey: Uint8Array; sign(...parts: Uint8Array[]): Uint8Array }

const u32 = (n: number): Uint8Array => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n); return b }
const u64 = (n: number): Uint8Array => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n)); return b }

export function inferenceRoot(r: InferenceRef): Uint8Array {
  const m = te.encode(r.model)
  const len = new Uint8Array([m.length >> 8, m.length & 0xff])
  return sha256(ROOT_DOMAIN, len, m, r.weightsRoot, u32(r.start), u32(r.end), r.nonce)
}

export const blockDataHash = (inputHash: Uint8Array, commitment: Uint8Array): Uint8Array => sha256(inputHash, commitment)

/** Extends the input hash chain by one step (ids as u32, hidden states as their float32 bytes). */
export function chainInput(prev: Uint8Array, s: StepInput): Uint8Array {
  const body = s.ids ? Uint8Array.from(s.ids.flatMap((i) => [...u32(i)])) : new Uint8Array(s.hidden!.buffer, s.hidden!.byteOffset, s.hidden!.byteLength)
  return sha256(INPUT_DOMAIN, prev, u32(s.T), new Uint8Array([s.ids ? 0 : 1]), body)
}
export const INPUT_GENESIS = new Uint8Array(32)

const sigParts = (root: Uint8Array, index: number, dataHash: Uint8Array): Uint8Array[] => [SIG_DOMAIN, root, u64(index), dataHash]

export function signCommitment(signer: Signer, ref: InferenceRef, index: number, inputHash: Uint8Array, commitment: Uint8Array): SignedCommitment {
  const sig = signer.sign(...sigParts(inferenceRoot(ref), index, blockDataHash(inputHash, commitment)))
  return { ref, index, inputHash, commitment, signer: signer.publicKey, sig }
}

export function verifyCommitment(c: SignedCommitment): boolean {
  return verify(c.signer, c.sig, ...sigParts(inferenceRoot(c.ref), c.index, blockDataHash(c.inputHash, c.commitment)))
}

/**
 * Two validly signed commitments by one key for the same (root, index) with different data: the objective
 * inconsistency (equivocation) that needs no re-execution to prove.
 */
export function isEquivocation(a: SignedCommitment, b: SignedCommitment): boolean {
  if (!verifyCommitment(a) || !verifyCommitment(b)) return false
  if (Buffer.compare(a.signer, b.signer) !== 0 || a.index !== b.index) return false
  if (Buffer.compare(inferenceRoot(a.ref), inferenceRoot(b.ref)) !== 0) return false
  return Buffer.compare(blockDataHash(a.inputHash, a.commitment), blockDataHash(b.inputHash, b.commitment)) !== 0
}

export function encodeSignedCommitment(c: SignedCommitment): Uint8Array {
  const r = c.ref
  return encode({ v: 1, model: r.model, wr: r.weightsRoot, start: r.start, end: r.end, nonce: r.nonce, i: c.index, in: c.inputHash, c: c.commitment, pk: c.signer, sig: c.sig, ...(c.evmSig ? { es: c.evmSig } : {}) })
}

export function decodeSignedCommitment(b: Uint8Array): SignedCommitment {
  const bad = (m: string): never => { throw new InvalidInputError('bad_commitment', m) }
  if (b.byteLength > 4096) bad('signed commitment too large')
  const o = decode(b, { maxDepth: 1, maxItems: 16, maxStringBytes: 2 + 2 * MAX_K }) as Record<string, unknown>
  if (!o || typeof o !== 'object' || Array.isArray(o) || o instanceof Uint8Array || o instanceof Map || o.v !== 1) bad('not a v1 signed commitment')
  const by = (k: string, n?: number): Uint8Array => { const v = o[k]; return v instanceof Uint8Array && (n === undefined || v.byteLength === n) ? v : bad(`${k} must be ${n ?? ''} bytes`) }
  const ui = (k: string): number => { const v = o[k]; return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : bad(`${k} must be a u32`) }
  if (typeof o.model !== 'string' || o.model.length > 128) bad('model must be text of at most 128 characters')
  return {
    ref: { model: o.model as string, weightsRoot: by('wr', 32), start: ui('start'), end: ui('end'), nonce: by('nonce', 16) },
    index: ui('i'), inputHash: by('in', 32), commitment: by('c'), signer: by('pk', 32), sig: by('sig', 64),
    ...(o.es !== undefined ? { evmSig: by('es', 65) } : {}),
  }
}
