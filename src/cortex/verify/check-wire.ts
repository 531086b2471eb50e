/**
 * The verifier service's wire (docs/protocol/verified-inference.md §Verifier service): CORTEX_CHECK (0x78) carries
 * a signed commitment, the step inputs of the stage up to the block's end, and the client's signed promise to pay
 * `price` for this check; CORTEX_CHECK_RESP (0x79) the verifier's signed verdict. Announcements (provider records
 * under SHA-1("service:verify:<model>")) name the layers the verifier re-executes and its price per check.
 * Every decoder bounds sizes and types; violations throw InvalidInputError('bad_message').
 */
import { sha1, sha256 } from '../../crypto/hash.js'
import { verify } from '../../crypto/sign.js'
import { decode, encode } from '../../wire/cbor.js'
import { registerMessageTypes } from '../../wire/message-types.js'
import { InvalidInputError } from '../../util/errors.js'
import { MAX_MODEL_ID, PROTOCOL_VERSION, SID_BYTES } from '../messages.js'
import type { StepInput } from './trace.js'

export const CheckType = { CORTEX_CHECK: 0x78, CORTEX_CHECK_RESP: 0x79 } as const
registerMessageTypes('cortex', CheckType)

/** Service name of the per-check ledger entries (unit: request) and of the provider records. */
export const VERIFY_SERVICE = 'cortex:verify'
export const verifierKey = (model: string): Uint8Array => sha1(new TextEncoder().encode(`service:verify:${model}`))

const te = new TextEncoder()
const PAY_DOMAIN = te.encode('ZEONE-CORTEX-CHECK-PAY-v1')
const VERDICT_DOMAIN = te.encode('ZEONE-CORTEX-VERDICT-v1')
const MAX_U63 = (1n << 63n) - 1n

const bad = (m: string): never => { throw new InvalidInputError('bad_message', m) }
const u64 = (x: bigint | number): Uint8Array => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(x)); return b }
const u32 = (x: number): Uint8Array => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, x); return b }

function map(b: Uint8Array, limits: { maxItems: number; maxStringBytes: number; maxDepth: number }): Record<string, unknown> {
  const o = decode(b, limits) as Record<string, unknown>
  if (!o || typeof o !== 'object' || Array.isArray(o) || o instanceof Uint8Array || o instanceof Map) bad('body is not a map')
  if (o.v !== PROTOCOL_VERSION) bad('unsupported version')
  return o
}
const by = (o: Record<string, unknown>, k: string, n?: number): Uint8Array => {
  const v = o[k]
  return v instanceof Uint8Array && (n === undefined || v.byteLength === n) ? v : bad(`${k} must be ${n ?? ''} bytes`)
}
const ui = (o: Record<string, unknown>, k: string): number => {
  const v = o[k]
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : bad(`${k} must be a u32`)
}
const amount = (o: Record<string, unknown>, k: string): bigint => {
  const v = o[k]
  const b = typeof v === 'number' && Number.isInteger(v) && v >= 0 ? BigInt(v) : typeof v === 'bigint' && v >= 0n ? v : bad(`${k} must be an unsigned integer`)
  return b > MAX_U63 ? bad(`${k} must be below 2^63`) : b
}

// ---- announcement -------------------------------------------------------------------------------------------

export interface VerifierAnnouncement { model: string; start: number; end: number; layers: number; price: bigint }
export const encodeVerifierAnnouncement = (a: VerifierAnnouncement): Uint8Array =>
  encode({ v: PROTOCOL_VERSION, model: a.model, start: a.start, end: a.end, layers: a.layers, price: a.price })
export function decodeVerifierAnnouncement(b: Uint8Array): VerifierAnnouncement | null {
  try {
    const o = map(b, { maxDepth: 1, maxItems: 16, maxStringBytes: MAX_MODEL_ID })
    if (typeof o.model !== 'string') return null
    const a = { model: o.model, start: ui(o, 'start'), end: ui(o, 'end'), layers: ui(o, 'layers'), price: amount(o, 'price') }
    return a.end > a.start && a.end <= a.layers ? a : null
  } catch { return null }
}

// ---- request ------------------------------------------------------------------------------------------------

/** The client's promise: "I pay `price` to `verifier` for check `cid` of commitment `c`" (Ed25519 by the client). */
export const payMessage = (verifier: Uint8Array, client: Uint8Array, cid: Uint8Array, price: bigint, commit: Uint8Array): Uint8Array[] =>
  [PAY_DOMAIN, verifier, client, cid, u64(price), sha256(commit)]

export interface CheckReq {
  cid: Uint8Array
  model: string
  /** The provider's signed commitment, as it came on the wire (attest.ts encoding). */
  commit: Uint8Array
  /** Step inputs up to the block's end: token ids (first stage) or hidden states (float32, T x hidden). */
  steps: StepInput[]
  price: bigint
  /** Client's signature over payMessage. */
  pay: Uint8Array
}

export function encodeCheckReq(r: CheckReq): Uint8Array {
  const steps = r.steps.map((s) => s.ids ? s.ids : new Uint8Array(s.hidden!.buffer, s.hidden!.byteOffset, s.hidden!.byteLength).slice())
  return encode({ v: PROTOCOL_VERSION, cid: r.cid, model: r.model, c: r.commit, steps, price: r.price, pay: r.pay })
}

export interface CheckLimits { maxSteps: number; maxRequestBytes: number; hidden: number }

/** Decodes a request; hidden steps are split by the verifier's hidden size (`limits.hidden`). */
export function decodeCheckReq(b: Uint8Array, limits: CheckLimits): CheckReq {
  if (b.byteLength > limits.maxRequestBytes) throw new InvalidInputError('too_large', `check request of ${b.byteLength} bytes, at most ${limits.maxRequestBytes}`)
  const o = map(b, { maxDepth: 3, maxItems: Math.max(limits.maxSteps, 8192), maxStringBytes: limits.maxRequestBytes })
  if (typeof o.model !== 'string' || Buffer.byteLength(o.model) > MAX_MODEL_ID) bad('model must be text')
  const raw = o.steps
  if (!Array.isArray(raw) || raw.length < 1) bad('steps must be a non-empty array')
  if ((raw as unknown[]).length > limits.maxSteps) throw new InvalidInputError('too_large', `${(raw as unknown[]).length} steps, at most ${limits.maxSteps}`)
  const steps: StepInput[] = (raw as unknown[]).map((s) => {
    if (Array.isArray(s)) {
      if (s.length < 1 || !s.every((i) => typeof i === 'number' && Number.isInteger(i) && i >= 0 && i <= 0xffffffff)) bad('ids must be unsigned integers')
      return { ids: s as number[], T: s.length }
    }
    if (!(s instanceof Uint8Array) || s.byteLength === 0 || s.byteLength % (4 * limits.hidden) !== 0) bad(`a hidden step must be T x ${limits.hidden} float32`)
    const h = new Float32Array(new Uint8Array(s as Uint8Array).buffer)
    return { hidden: h, T: h.length / limits.hidden }
  })
  if (!steps.every((s) => (s.ids !== undefined) === (steps[0]!.ids !== undefined))) bad('steps mix ids and hidden states')
  return { cid: by(o, 'cid', SID_BYTES), model: o.model as string, commit: by(o, 'c'), steps, price: amount(o, 'price'), pay: by(o, 'pay', 64) }
}

// ---- verdict ------------------------------------------------------------------------------------------------

export interface SignedCheckVerdict {
  cid: Uint8Array
  ok: boolean
  index: number
  /** The commitment's root and dataHash (attest.ts): what the verdict is about. */
  root: Uint8Array
  dataHash: Uint8Array
  matched: number
  k: number
  /** The verifier's node key and its Ed25519 signature over verdictMessage. */
  signer: Uint8Array
  sig: Uint8Array
  /** Failed checks by a staked verifier: its EIP-712 InferenceVerdict (65 bytes) and EVM address (20). */
  evmSig?: Uint8Array
  evm?: Uint8Array
}

export const verdictMessage = (v: Pick<SignedCheckVerdict, 'cid' | 'ok' | 'index' | 'root' | 'dataHash' | 'matched' | 'k'>): Uint8Array[] =>
  [VERDICT_DOMAIN, v.cid, v.root, u64(v.index), v.dataHash, new Uint8Array([v.ok ? 1 : 0]), u32(v.matched), u32(v.k)]

export const verifyCheckVerdict = (v: SignedCheckVerdict): boolean => verify(v.signer, v.sig, ...verdictMessage(v))

export function encodeCheckVerdict(v: SignedCheckVerdict): Uint8Array {
  return encode({ v: PROTOCOL_VERSION, cid: v.cid, ok: v.ok, i: v.index, root: v.root, dh: v.dataHash, m: v.matched, k: v.k, pk: v.signer, sig: v.sig,
    ...(v.evmSig && v.evm ? { es: v.evmSig, ev: v.evm } : {}) })
}

export function decodeCheckVerdict(b: Uint8Array): SignedCheckVerdict {
  if (b.byteLength > 1024) bad('verdict too large')
  const o = map(b, { maxDepth: 1, maxItems: 16, maxStringBytes: 128 })
  if (typeof o.ok !== 'boolean') bad('ok must be a boolean')
  return {
    cid: by(o, 'cid', SID_BYTES), ok: o.ok as boolean, index: ui(o, 'i'), root: by(o, 'root', 32), dataHash: by(o, 'dh', 32),
    matched: ui(o, 'm'), k: ui(o, 'k'), signer: by(o, 'pk', 32), sig: by(o, 'sig', 64),
    ...(o.es !== undefined || o.ev !== undefined ? { evmSig: by(o, 'es', 65), evm: by(o, 'ev', 20) } : {}),
  }
}
