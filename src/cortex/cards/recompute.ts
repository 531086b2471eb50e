/**
 * Recomputes what a card binds from a model directory and compares: the weights root (weights-root.ts: the content
 * layer's per-file manifest roots folded into one), SHA-256 of config.json and tokenizer.json, and the architecture.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { sha256 } from '../../crypto/hash.js'
import { ModelDir } from '../model.js'
import { dirWeightsRoot } from './weights-root.js'
import { verifyCardSignature, type Architecture, type ModelCard } from './card.js'

export { weightsRootOf } from './weights-root.js'

export interface Recomputed { weightsRoot: Uint8Array; configHash: Uint8Array; tokenizerHash: Uint8Array; architecture: Architecture }

export async function recompute(dir: string): Promise<Recomputed> {
  const files = readdirSync(dir).filter((f) => f.endsWith('.safetensors'))
  const tokPath = join(dir, 'tokenizer.json')
  const m = new ModelDir(dir)
  let architecture: Architecture
  try {
    const c = m.config
    architecture = { family: c.family, layers: c.layers, hidden: c.hidden, heads: c.heads, vocab: c.vocabSize }
  } finally { m.close() }
  return {
    weightsRoot: await dirWeightsRoot(dir, files), configHash: sha256(readFileSync(join(dir, 'config.json'))),
    tokenizerHash: existsSync(tokPath) ? sha256(readFileSync(tokPath)) : new Uint8Array(32), architecture,
  }
}

export interface CardReport { ok: boolean; signature: boolean; weights: boolean; config: boolean; tokenizer: boolean; architecture: boolean; recomputed: Recomputed }

/** `zeone model verify`: recomputes and reports each binding of the card. */
export async function verifyCard(card: ModelCard, dir: string): Promise<CardReport> {
  const r = await recompute(dir)
  const eq = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0
  const rep = {
    signature: verifyCardSignature(card), weights: eq(card.weightsRoot, r.weightsRoot), config: eq(card.configHash, r.configHash),
    tokenizer: eq(card.tokenizerHash, r.tokenizerHash), architecture: JSON.stringify(card.architecture) === JSON.stringify(r.architecture),
  }
  return { ok: Object.values(rep).every(Boolean), ...rep, recomputed: r }
}
