/**
 * Cortex wire messages (types 0x70-0x7f, CBOR bodies; normative spec: docs/protocol/cortex.md).
 * Every decoder bounds sizes and checks field types; violations throw InvalidInputError('bad_message').
 */
import { decode, encode, type CborValue } from '../wire/cbor.js'
import { registerMessageTypes } from '../wire/message-types.js'
import { InvalidInputError } from '../util/errors.js'

export const CortexType = {
  CORTEX_INFO: 0x70,
  CORTEX_INFO_RESP: 0x71,
  CORTEX_FORWARD: 0x72,
  CORTEX_FORWARD_RESP: 0x73,
  CORTEX_END: 0x74,
  CORTEX_GENERATE: 0x75,
  CORTEX_TOKEN: 0x76,
  CORTEX_CANCEL: 0x77,
  /** Client -> server: signed cumulative count of tokens received (pay per token, src/cortex/pay/receipt.ts). */
  CORTEX_RECEIPT: 0x7c,
} as const
registerMessageTypes('cortex', CortexType)

export const PROTOCOL_VERSION = 1
export const SID_BYTES = 16
export const MAX_MODEL_ID = 128
export const MAX_IDS = 8192
export const MAX_PROMPT_BYTES = 64 * 1024

const LIMITS = { maxDepth: 3, maxItems: MAX_IDS, maxStringBytes: 64 * 1024 * 1024 }

function bad(msg: string): never { throw new InvalidInputError('bad_message', msg) }

function obj(body: Uint8Array): Record<string, unknown> {
  const v = decode(body, LIMITS)
  if (!v || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || v instanceof Map) bad('body is not a map')
  const o = v as Record<string, unknown>
  if (o.v !== PROTOCOL_VERSION) bad(`unsupported cortex message version ${String(o.v)}`)
  return o
}
const uint = (o: Record<string, unknown>, k: string, max = 0xffffffff): number => {
  const v = o[k]
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) bad(`${k} must be an unsigned integer <= ${max}`)
  return v
}
const text = (o: Record<string, unknown>, k: string, max: number): string => {
  const v = o[k]
  if (typeof v !== 'string' || Buffer.byteLength(v) > max) bad(`${k} must be text of at most ${max} bytes`)
  return v
}
const bytes = (o: Record<string, unknown>, k: string, len?: number): Uint8Array => {
  const v = o[k]
  if (!(v instanceof Uint8Array) || (len !== undefined && v.byteLength !== len)) bad(`${k} must be ${len ?? ''} bytes`)
  return v
}
const num = (o: Record<string, unknown>, k: string, d: number): number => {
  const v = o[k]
  if (v === undefined) return d
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${k} must be a number`)
  return v
}
/** An unsigned amount up to 2^63-1 (CBOR carries it as a number when safe, else a bigint). */
const amount = (o: Record<string, unknown>, k: string): bigint | undefined => {
  const v = o[k]
  if (v === undefined) return undefined
  const b = typeof v === 'number' && Number.isInteger(v) && v >= 0 ? BigInt(v) : typeof v === 'bigint' && v >= 0n ? v : bad(`${k} must be an unsigned integer`)
  if (b > (1n << 63n) - 1n) bad(`${k} must be below 2^63`)
  return b
}
const clean = (o: Record<string, CborValue | undefined>): Record<string, CborValue> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Record<string, CborValue>

export interface InfoResp { model: string; family: string; start: number; end: number; layers: number; capacity: number; sessions: number }
export const encodeInfoReq = (): Uint8Array => encode({ v: PROTOCOL_VERSION })
export const decodeInfoReq = (b: Uint8Array): void => { obj(b) }
export const encodeInfoResp = (r: InfoResp): Uint8Array => encode({ v: PROTOCOL_VERSION, ...r })
export function decodeInfoResp(b: Uint8Array): InfoResp {
  const o = obj(b)
  const r = { model: text(o, 'model', MAX_MODEL_ID), family: text(o, 'family', 16), start: uint(o, 'start'), end: uint(o, 'end'), layers: uint(o, 'layers'), capacity: uint(o, 'capacity'), sessions: uint(o, 'sessions') }
  if (r.end <= r.start || r.end > r.layers) bad('layer range is empty or outside the model')
  return r
}

export interface ForwardReq {
  sid: Uint8Array
  model: string
  /** Cache length the sender expects before this step (ignored when stateless). */
  pos: number
  /** Token ids (first stage). */
  ids?: number[]
  /** Hidden states, tensor codec (later stages). */
  x?: Uint8Array
  stateless?: boolean
  /** Last stage only: sample here and reply with the token instead of the logits. */
  sample?: TailSample
}
/** Sampling done on the last stage: parameters plus the coordinator's PRNG draw `u` in [0, 1). */
export interface TailSample { temperature: number; topK: number; topP: number; u: number }
export function encodeForwardReq(r: ForwardReq): Uint8Array {
  const smp = r.sample ? { temp: r.sample.temperature, topK: r.sample.topK, topP: r.sample.topP, u: r.sample.u } : undefined
  return encode(clean({ v: PROTOCOL_VERSION, sid: r.sid, model: r.model, pos: r.pos, ids: r.ids, x: r.x, stateless: r.stateless ? true : undefined, sample: smp }))
}
export function decodeForwardReq(b: Uint8Array): ForwardReq {
  const o = obj(b)
  const r: ForwardReq = { sid: bytes(o, 'sid', SID_BYTES), model: text(o, 'model', MAX_MODEL_ID), pos: uint(o, 'pos') }
  if (o.ids !== undefined) {
    if (!Array.isArray(o.ids) || o.ids.length < 1 || o.ids.length > MAX_IDS || !o.ids.every((i) => typeof i === 'number' && Number.isInteger(i) && i >= 0 && i <= 0xffffffff)) bad('ids must be 1..8192 unsigned integers')
    r.ids = o.ids as number[]
  }
  if (o.x !== undefined) r.x = bytes(o, 'x')
  if ((r.ids === undefined) === (r.x === undefined)) bad('exactly one of ids and x is required')
  if (o.stateless !== undefined) { if (typeof o.stateless !== 'boolean') bad('stateless must be a boolean'); r.stateless = o.stateless }
  if (o.sample !== undefined) {
    const sm = o.sample as Record<string, unknown>
    if (!sm || typeof sm !== 'object' || Array.isArray(sm) || sm instanceof Uint8Array) bad('sample must be a map')
    const smp = { temperature: num(sm, 'temp', 0), topK: uint(sm, 'topK', 1_000_000), topP: num(sm, 'topP', 1), u: num(sm, 'u', 0) }
    if (smp.temperature < 0 || smp.temperature > 10 || smp.topP <= 0 || smp.topP > 1 || smp.u < 0 || smp.u >= 1) bad('sample parameters out of range')
    r.sample = smp
  }
  return r
}

/**
 * Reply: `y` (hidden states or logits, tensor codec) or, when the request asked the last stage to sample, `tok`.
 * `commit`: on the step that completes a block of 32, the stage's signed activation commitment for it
 * (src/cortex/verify/attest.ts, docs/protocol/verified-inference.md).
 */
export interface ForwardResp { pos: number; y?: Uint8Array; tok?: number; commit?: Uint8Array }
export const MAX_COMMIT_BYTES = 4096
export const encodeForwardResp = (r: ForwardResp): Uint8Array => encode(clean({ v: PROTOCOL_VERSION, pos: r.pos, y: r.y, tok: r.tok, commit: r.commit }))
export function decodeForwardResp(b: Uint8Array): ForwardResp {
  const o = obj(b)
  const r: ForwardResp = { pos: uint(o, 'pos') }
  if (o.y !== undefined) r.y = bytes(o, 'y')
  if (o.tok !== undefined) r.tok = uint(o, 'tok')
  if (o.commit !== undefined) { r.commit = bytes(o, 'commit'); if (r.commit.byteLength > MAX_COMMIT_BYTES) bad('commit too large') }
  if ((r.y === undefined) === (r.tok === undefined)) bad('exactly one of y and tok is required')
  return r
}

export const encodeEnd = (sid: Uint8Array): Uint8Array => encode({ v: PROTOCOL_VERSION, sid })
export const decodeEnd = (b: Uint8Array): Uint8Array => bytes(obj(b), 'sid', SID_BYTES)

/**
 * `fit`: maxTokens is a default the coordinator shortens to what the context (and the budget) leaves (absent =
 * false). `budget`: the most micro-credits the client pays for this generation (absent = unbounded).
 */
export interface GenerateReq { gid: Uint8Array; model: string; prompt: string; maxTokens: number; fit?: boolean; temperature: number; topK: number; topP: number; seed: number; budget?: bigint }
export function encodeGenerate(r: GenerateReq): Uint8Array {
  return encode(clean({ v: PROTOCOL_VERSION, gid: r.gid, model: r.model, prompt: r.prompt, max: r.maxTokens, fit: r.fit ? true : undefined, temp: r.temperature, topK: r.topK, topP: r.topP, seed: r.seed, budget: r.budget }))
}
export function decodeGenerate(b: Uint8Array): GenerateReq {
  const o = obj(b)
  const r: GenerateReq = {
    gid: bytes(o, 'gid', SID_BYTES), model: text(o, 'model', MAX_MODEL_ID), prompt: text(o, 'prompt', MAX_PROMPT_BYTES),
    maxTokens: uint(o, 'max', MAX_IDS), fit: o.fit === undefined ? false : o.fit === true || bad('fit must be true when present'), temperature: num(o, 'temp', 0), topK: uint(o, 'topK'), topP: num(o, 'topP', 1), seed: uint(o, 'seed'),
  }
  const budget = amount(o, 'budget')
  if (budget !== undefined) r.budget = budget
  return r
}

/**
 * `promptTokens` (wire `pt`): the prompt's length in tokens, sent on the acceptance (seq 0), with the quote: `price`
 * micro-credits per token and `window`, the most tokens streamed ahead of the client's receipts. `n` (on done): the
 * tokens the server says it streamed; the client pays only what arrived, whatever `n` says.
 */
export interface TokenMsg { gid: Uint8Array; seq: number; ids: number[]; text: string; done: boolean; reason?: string; promptTokens?: number; price?: bigint; window?: number; n?: number }
export function encodeToken(t: TokenMsg): Uint8Array {
  return encode(clean({ v: PROTOCOL_VERSION, gid: t.gid, seq: t.seq, ids: t.ids, text: t.text, done: t.done, reason: t.reason, pt: t.promptTokens, price: t.price, win: t.window, n: t.n }))
}
export function decodeToken(b: Uint8Array): TokenMsg {
  const o = obj(b)
  if (!Array.isArray(o.ids) || o.ids.length > MAX_IDS || !o.ids.every((i) => typeof i === 'number' && Number.isInteger(i) && i >= 0)) bad('ids must be unsigned integers')
  if (typeof o.done !== 'boolean') bad('done must be a boolean')
  const t: TokenMsg = { gid: bytes(o, 'gid', SID_BYTES), seq: uint(o, 'seq'), ids: o.ids as number[], text: text(o, 'text', MAX_PROMPT_BYTES), done: o.done }
  if (o.reason !== undefined) t.reason = text(o, 'reason', 256)
  if (o.pt !== undefined) t.promptTokens = uint(o, 'pt', 1 << 20)
  const price = amount(o, 'price')
  if (price !== undefined) t.price = price
  if (o.win !== undefined) t.window = uint(o, 'win', MAX_IDS)
  if (o.n !== undefined) t.n = uint(o, 'n')
  return t
}

export const encodeCancel = (gid: Uint8Array): Uint8Array => encode({ v: PROTOCOL_VERSION, gid })
export const decodeCancel = (b: Uint8Array): Uint8Array => bytes(obj(b), 'gid', SID_BYTES)
