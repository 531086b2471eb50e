/**
 * Signed model cards (docs/protocol/model-cards.md): a card binds a model's weights (the content layer's per-file
 * Merkle roots, folded into one root), the hashes of config.json and tokenizer.json, the architecture, the license
 * and evaluation results with the hash of each evaluation set; the publisher signs it with its Ed25519 node key.
 * Deterministic CBOR; signature over "ZEONE-MODEL-CARD-v1" || CBOR(card without sig). The card id is SHA-256 of the
 * signed encoding.
 */
import { sha256 } from '../../crypto/hash.js'
import { verify } from '../../crypto/sign.js'
import { decode, encode, type CborValue } from '../../wire/cbor.js'
import { InvalidInputError } from '../../util/errors.js'

const DOMAIN = new TextEncoder().encode('ZEONE-MODEL-CARD-v1')
export const MAX_CARD_BYTES = 64 * 1024
export const MAX_EVALS = 64

export interface Architecture { family: string; layers: number; hidden: number; heads: number; vocab: number }
export interface EvalResult { name: string; metric: string; value: number; evalSetHash: Uint8Array }
export interface CardBody {
  model: string
  weightsRoot: Uint8Array
  configHash: Uint8Array
  tokenizerHash: Uint8Array
  architecture: Architecture
  license: string
  evals: EvalResult[]
  publisher: Uint8Array
  created: number
}
export interface ModelCard extends CardBody { sig: Uint8Array }
export interface CardSigner { publicKey: Uint8Array; sign(...parts: Uint8Array[]): Uint8Array }

function bodyValue(b: CardBody): Record<string, CborValue> {
  const a = b.architecture
  return {
    v: 1, model: b.model, wr: b.weightsRoot, cfg: b.configHash, tok: b.tokenizerHash,
    arch: { family: a.family, layers: a.layers, hidden: a.hidden, heads: a.heads, vocab: a.vocab },
    license: b.license, evals: b.evals.map((e) => ({ name: e.name, metric: e.metric, value: e.value, set: e.evalSetHash })),
    pub: b.publisher, created: b.created,
  }
}

export function signCard(signer: CardSigner, body: Omit<CardBody, 'publisher'>): ModelCard {
  const b: CardBody = { ...body, publisher: signer.publicKey }
  return { ...b, sig: signer.sign(DOMAIN, encode(bodyValue(b))) }
}

export const verifyCardSignature = (c: ModelCard): boolean => verify(c.publisher, c.sig, DOMAIN, encode(bodyValue(c)))
export const encodeCard = (c: ModelCard): Uint8Array => encode({ ...bodyValue(c), sig: c.sig })
export const cardId = (c: ModelCard): Uint8Array => sha256(encodeCard(c))

export function decodeCard(bytes: Uint8Array): ModelCard {
  const bad = (m: string): never => { throw new InvalidInputError('bad_card', m) }
  if (bytes.byteLength > MAX_CARD_BYTES) bad(`card over ${MAX_CARD_BYTES} bytes`)
  const o = decode(bytes, { maxDepth: 4, maxItems: 256, maxStringBytes: 4096 }) as Record<string, unknown>
  const isMap = (x: unknown): x is Record<string, unknown> => !!x && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Uint8Array) && !(x instanceof Map)
  if (!isMap(o) || o.v !== 1) bad('not a v1 model card')
  const by = (m: Record<string, unknown>, k: string, n: number): Uint8Array => { const v = m[k]; return v instanceof Uint8Array && v.byteLength === n ? v : bad(`${k} must be ${n} bytes`) }
  const tx = (m: Record<string, unknown>, k: string, max: number): string => { const v = m[k]; return typeof v === 'string' && v.length <= max ? v : bad(`${k} must be text of at most ${max} characters`) }
  const ui = (m: Record<string, unknown>, k: string): number => { const v = m[k]; return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : bad(`${k} must be an unsigned integer`) }
  const arch = o.arch
  if (!isMap(arch)) bad('arch must be a map')
  const a = arch as Record<string, unknown>
  if (!Array.isArray(o.evals) || o.evals.length > MAX_EVALS) bad(`evals must be a list of at most ${MAX_EVALS}`)
  const evals = (o.evals as unknown[]).map((e) => {
    if (!isMap(e)) bad('an eval must be a map')
    const m = e as Record<string, unknown>
    if (typeof m.value !== 'number' || !Number.isFinite(m.value)) bad('eval value must be a finite number')
    return { name: tx(m, 'name', 128), metric: tx(m, 'metric', 64), value: m.value as number, evalSetHash: by(m, 'set', 32) }
  })
  return {
    model: tx(o, 'model', 128), weightsRoot: by(o, 'wr', 32), configHash: by(o, 'cfg', 32), tokenizerHash: by(o, 'tok', 32),
    architecture: { family: tx(a, 'family', 16), layers: ui(a, 'layers'), hidden: ui(a, 'hidden'), heads: ui(a, 'heads'), vocab: ui(a, 'vocab') },
    license: tx(o, 'license', 128), evals, publisher: by(o, 'pub', 32), created: ui(o, 'created'), sig: by(o, 'sig', 64),
  }
}
