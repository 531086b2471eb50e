/**
 * BATCH frames (type 0x0d, docs/protocol.md §4.8): several small messages sealed as one v1/v2 frame, so one AEAD
 * (or one v1 signature) covers them all. Plaintext = repeated items `[type : 1][length : 4, big-endian][envelope]`.
 */
import { registerMessageTypes } from './message-types.js'
import { ProtocolErrorBase } from './errors.js'

export const SessionType = { BATCH: 0x0d } as const
registerMessageTypes('session', SessionType)

export const BATCH_ITEM_HEADER = 5

export class BatchError extends ProtocolErrorBase {
  override readonly name = 'BatchError'
  constructor(message: string) { super('bad_batch', message) }
}

/** Calls `each(type, envelope)` for every item; throws BatchError on a truncated item or a nested batch. */
export function forEachBatchItem(pt: Uint8Array, each: (type: number, envelope: Uint8Array) => void): void {
  let o = 0
  const view = new DataView(pt.buffer, pt.byteOffset, pt.byteLength)
  while (o < pt.byteLength) {
    if (pt.byteLength - o < BATCH_ITEM_HEADER) throw new BatchError('truncated batch item header')
    const type = pt[o]!
    const len = view.getUint32(o + 1)
    o += BATCH_ITEM_HEADER
    if (len > pt.byteLength - o) throw new BatchError('batch item longer than the frame')
    if (type === SessionType.BATCH) throw new BatchError('nested batch')
    each(type, pt.subarray(o, o + len))
    o += len
  }
}

/** Encodes items into one BATCH plaintext (tests and tools; the transport packs batches in place). */
export function encodeBatch(items: Array<{ type: number; envelope: Uint8Array }>): Uint8Array {
  const out = new Uint8Array(items.reduce((n, i) => n + BATCH_ITEM_HEADER + i.envelope.byteLength, 0))
  const view = new DataView(out.buffer)
  let o = 0
  for (const i of items) {
    out[o] = i.type
    view.setUint32(o + 1, i.envelope.byteLength)
    out.set(i.envelope, o + BATCH_ITEM_HEADER)
    o += BATCH_ITEM_HEADER + i.envelope.byteLength
  }
  return out
}
