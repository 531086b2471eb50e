/**
 * Evaluation attestations: a node that reproduced an evaluation of a card signs "card X scores `value` on `name`
 * (`metric`) over the evaluation set with hash S" and publishes it as the data of a DHT provider record under
 * SHA-1("cortex-card:" || hex(card id)) (provider data is at most 1024 bytes; an attestation is about 250).
 * The attestation carries its own Ed25519 signature, so it stands without the DHT record that carried it.
 */
import { sha1 } from '../../crypto/hash.js'
import { verify } from '../../crypto/sign.js'
import { decode, encode } from '../../wire/cbor.js'
import type { ProviderDirectory } from '../../interfaces/providers.js'
import { InvalidInputError } from '../../util/errors.js'
import { toHex } from '../../util/bytes.js'
import type { CardSigner } from './card.js'

const DOMAIN = new TextEncoder().encode('ZEONE-CARD-ATTEST-v1')

export interface EvalAttestation { cardId: Uint8Array; name: string; metric: string; value: number; evalSetHash: Uint8Array; attester: Uint8Array; sig: Uint8Array }

const body = (a: Omit<EvalAttestation, 'sig'>): Uint8Array => encode({ v: 1, card: a.cardId, name: a.name, metric: a.metric, value: a.value, set: a.evalSetHash, by: a.attester })

export function signAttestation(s: CardSigner, a: Omit<EvalAttestation, 'sig' | 'attester'>): EvalAttestation {
  const b = { ...a, attester: s.publicKey }
  return { ...b, sig: s.sign(DOMAIN, body(b)) }
}
export const verifyAttestation = (a: EvalAttestation): boolean => verify(a.attester, a.sig, DOMAIN, body(a))
export const encodeAttestation = (a: EvalAttestation): Uint8Array => encode({ v: 1, card: a.cardId, name: a.name, metric: a.metric, value: a.value, set: a.evalSetHash, by: a.attester, sig: a.sig })

export function decodeAttestation(b: Uint8Array): EvalAttestation {
  const bad = (m: string): never => { throw new InvalidInputError('bad_attestation', m) }
  if (b.byteLength > 1024) bad('attestation over 1024 bytes')
  const o = decode(b, { maxDepth: 1, maxItems: 16, maxStringBytes: 256 }) as Record<string, unknown>
  if (!o || typeof o !== 'object' || Array.isArray(o) || o instanceof Uint8Array || o instanceof Map || o.v !== 1) bad('not a v1 attestation')
  const by = (k: string, n: number): Uint8Array => { const v = o[k]; return v instanceof Uint8Array && v.byteLength === n ? v : bad(`${k} must be ${n} bytes`) }
  const tx = (k: string, max: number): string => { const v = o[k]; return typeof v === 'string' && v.length <= max ? v : bad(`${k} must be short text`) }
  if (typeof o.value !== 'number' || !Number.isFinite(o.value)) bad('value must be a finite number')
  return { cardId: by('card', 32), name: tx('name', 128), metric: tx('metric', 64), value: o.value as number, evalSetHash: by('set', 32), attester: by('by', 32), sig: by('sig', 64) }
}

export const attestationKey = (cardId: Uint8Array): Uint8Array => sha1(new TextEncoder().encode(`cortex-card:${toHex(cardId)}`))

export function publishAttestation(p: ProviderDirectory, a: EvalAttestation): Promise<void> {
  return p.provide(attestationKey(a.cardId), encodeAttestation(a))
}

/**
 * Valid attestations of a card found in the DHT: each record's data must decode, be signed by its attester, name
 * this card, and come from a provider record published by the attester itself (one per node).
 */
export async function findAttestations(p: ProviderDirectory, cardId: Uint8Array, opts: { signal?: AbortSignal } = {}): Promise<EvalAttestation[]> {
  const recs = await p.findProviders(attestationKey(cardId), { limit: 64, ...(opts.signal ? { signal: opts.signal } : {}) })
  return validAttestations(recs, cardId)
}

/** The records' valid attestations of `cardId` (see findAttestations); for callers that fetched the records. */
export function validAttestations(recs: { nodeId: Uint8Array; data?: Uint8Array }[], cardId: Uint8Array): EvalAttestation[] {
  const out: EvalAttestation[] = []
  for (const r of recs) {
    if (!r.data) continue
    try {
      const a = decodeAttestation(r.data)
      if (verifyAttestation(a) && Buffer.compare(a.cardId, cardId) === 0 && Buffer.compare(a.attester, r.nodeId) === 0) out.push(a)
    } catch { /* a malformed record is skipped */ }
  }
  return out
}
