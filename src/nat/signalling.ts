/**
 * The one signalling round trip: a signed offer out (NAT_SIGNAL through a rendezvous, or NAT_SIGNAL_DELIVER over the
 * peer's own link for an upgrade), the signed answer back, with the times the synchronised pairs count from
 * (punch/sync.ts). Refusals become a NatError with the peer's code.
 */
import type { Link } from '../interfaces/link.js'
import type { Clock } from '../interfaces/clock.js'
import { NatError } from './errors.js'
import { decodeAnswer, encodeSignal, NatMessageType } from './messages.js'
import { controllingSyncAt } from './punch/sync.js'

export const SIGNAL_TIMEOUT_MS = 10_000

export interface SignalRound {
  answer: Uint8Array
  /** The clock time both sides agreed for the escalation (synchronised pairs). */
  syncAt: number
}

/**
 * Sends `offer` to `to` through `via` (a rendezvous: NAT_SIGNAL), or to the peer of `via` itself when `to` is absent
 * (NAT_SIGNAL_DELIVER over an existing, e.g. relayed, link).
 */
export async function signalRound(via: Link, offer: Uint8Array, o: {
  to?: Uint8Array; clock: Clock; escalateAfterMs: number; signal?: AbortSignal
}): Promise<SignalRound> {
  const type = o.to ? NatMessageType.NAT_SIGNAL : NatMessageType.NAT_SIGNAL_DELIVER
  const body = encodeSignal({ v: 1, ...(o.to ? { to: o.to } : {}), offer })
  const sentAt = o.clock.now()
  const reply = await via.request(type, body, { timeoutMs: SIGNAL_TIMEOUT_MS, ...(o.signal ? { signal: o.signal } : {}) })
  const syncAt = controllingSyncAt(sentAt, o.clock.now(), o.escalateAfterMs)
  const ans = decodeAnswer(reply.body)
  if (!ans.answer) throw new NatError('nat_signal_refused', `signalling refused: ${ans.error ?? reply.type}`)
  return { answer: ans.answer, syncAt }
}
