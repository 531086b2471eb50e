/**
 * Rendezvous role: a NAT_SIGNAL from a linked peer is forwarded as NAT_SIGNAL_DELIVER to the addressee (which must
 * also be linked here) and the addressee's answer is relayed back. The rendezvous cannot alter what it forwards:
 * offers and answers are signed by their senders (candidates.ts). Rate-limited per sender. The offer is verified
 * here too (signed by the sender, addressed to the target, every candidate valid), so a malformed one never reaches
 * the addressee, and the forwarded DELIVER carries `obs`: the IP the sender's link comes from, the one address the
 * addressee may punch towards before the sender proved any other.
 */
import type { Clock } from '../interfaces/clock.js'
import type { Handler, Link } from '../interfaces/link.js'
import { ZeoneError } from '../util/errors.js'
import type { NatConfig } from './config.js'
import { NatError } from './errors.js'
import { decodeAnswer, decodeSignal, encodeAnswer, encodeSignal, NatMessageType } from './messages.js'
import { candidateFamily, decodeCandidateSet } from './punch/candidates.js'

/** The IP literal of a link's remote address, as a candidate host would spell it (no IPv4-mapped form). */
export function observedHost(host: string): string | undefined {
  const h = host.toLowerCase().startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host
  return candidateFamily(h) ? h : undefined
}

/** Senders tracked by the rate limiter before it starts over (bounded memory). */
const MAX_TRACKED = 4096

export function createRendezvousHandler(init: { links: { get(id: Uint8Array): Link | undefined }; config: NatConfig; clock: Clock }): Handler {
  const rate = new Map<string, { t: number; n: number }>()
  const allow = (key: string): boolean => {
    const now = init.clock.now()
    const e = rate.get(key)
    if (!e || now - e.t >= 1000) {
      if (rate.size >= MAX_TRACKED) rate.clear()
      rate.set(key, { t: now, n: 1 })
      return true
    }
    return ++e.n <= init.config.signalsPerSecond
  }
  return async (msg) => {
    const reply = msg.reply
    if (!reply) return
    const answer = (error: string): void => { reply(NatMessageType.NAT_SIGNAL_ANSWER, encodeAnswer({ v: 1, error })) }
    const m = decodeSignal(msg.body)
    if (!m.to) throw new NatError('nat_bad_signal', 'NAT_SIGNAL without `to`')
    if (!init.config.forwardSignals) return answer('not a rendezvous')
    if (!allow(msg.link.peer.nodeIdB64)) return answer('rate limited')
    const target = init.links.get(m.to)
    if (!target) return answer('peer not connected here')
    try {
      decodeCandidateSet(m.offer, msg.link.peer.nodeId, m.to, init.clock.now())
    } catch (err) {
      return answer(err instanceof ZeoneError ? err.code : 'bad offer')
    }
    const obs = observedHost(msg.link.peer.remoteAddr.host)
    try {
      const r = await target.request(NatMessageType.NAT_SIGNAL_DELIVER, encodeSignal({ v: 1, from: msg.link.peer.nodeId, offer: m.offer, ...(obs ? { obs } : {}) }), { timeoutMs: 8000 })
      reply(NatMessageType.NAT_SIGNAL_ANSWER, encodeAnswer(decodeAnswer(r.body)))
    } catch (err) {
      answer(err instanceof ZeoneError ? err.code : 'forward failed')
    }
  }
}
