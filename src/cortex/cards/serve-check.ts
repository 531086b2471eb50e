/**
 * The stage-side gate of model cards: a stage configured with a card refuses to serve weights whose recomputed
 * root (or config, tokenizer, architecture) differs from the card, or a card whose publisher signature fails.
 */
import { readFileSync, statSync } from 'node:fs'
import { InferenceError } from '../errors.js'
import { decodeCard, MAX_CARD_BYTES, type ModelCard } from './card.js'
import { verifyCard } from './recompute.js'

export async function checkServeCard(cardPath: string, dir: string): Promise<ModelCard> {
  if (statSync(cardPath).size > MAX_CARD_BYTES) throw new InferenceError('bad_card', `${cardPath} is over ${MAX_CARD_BYTES} bytes`)
  const card = decodeCard(new Uint8Array(readFileSync(cardPath)))
  const r = await verifyCard(card, dir)
  if (!r.ok) {
    const failed = (['signature', 'weights', 'config', 'tokenizer', 'architecture'] as const).filter((k) => !r[k])
    throw new InferenceError('card_mismatch', `refusing to serve ${dir}: it does not match its model card (${failed.join(', ')})`)
  }
  return card
}
