/**
 * The addressee's side of a punch (NAT_SIGNAL_DELIVER): verifies the signed offer, answers, and punches towards the
 * sender. The sender chose to call us, so what it names is not trusted: admission per peer and globally
 * (InboundPunchGate), no birthday sockets beyond the inbound bound, unprompted checks and TCP connects only to the IP
 * its link was observed at, the rest only once it checked in. When the pair rules out every direct path, the answer
 * carries our own TURN relayed address (answerTurn), as the caller's first offer does on its side.
 */
import type { Link } from '../interfaces/link.js'
import { equalBytes, toB64 } from '../util/bytes.js'
import type { NatLinks } from './adoption.js'
import { directOpen, outcomeOf } from './connect.js'
import type { NatCore } from './core.js'
import type { NatBehavior } from './discovery.js'
import { NatError } from './errors.js'
import { runLadder, type AnyStep } from './ladder.js'
import { decodeSignal, encodeAnswer, NatMessageType } from './messages.js'
import { pairLabel } from './metrics.js'
import type { PunchedPath, PunchSession } from './punch/session.js'
import { planFor } from './punch/strategy.js'
import { observedHost } from './rendezvous.js'
import type { TurnLeg } from './turn/leg.js'
import type { Socket } from 'node:net'
import type { Rinfo } from './socket.js'

type Reply = (t: number, b: Uint8Array) => boolean

export async function onDeliver(core: NatCore, links: NatLinks, link: Link, body: Uint8Array, reply?: Reply): Promise<void> {
  if (!reply) return
  const refuse = (result: string, code: string): void => {
    core.metrics.inbound.inc({ result })
    reply(NatMessageType.NAT_SIGNAL_ANSWER, encodeAnswer({ v: 1, error: code }))
  }
  let m: ReturnType<typeof decodeSignal>
  try { m = decodeSignal(body) } catch (err) { refuse('bad_offer', (err as NatError).code ?? 'bad signal'); return }
  const remoteId = m.from ?? link.peer.nodeId
  // the signer's own link: we observed its address ourselves; through a rendezvous: the rendezvous's observation
  const direct = equalBytes(remoteId, link.peer.nodeId)
  // over a relayed link (an upgrade) its remote address is the relay's: the relay's observation of the peer counts
  const relayed = direct ? core.relayObs.get(toB64(remoteId)) : undefined
  const seen = direct ? (relayed?.link === link ? relayed.obs : observedHost(link.peer.remoteAddr.host)) : m.obs
  const provenHosts = seen ? [seen] : []
  // per signer (the offer must verify for it): a rendezvous delivers for many peers and is not held to one's limit
  const admission = core.gate.admit([toB64(remoteId)])
  if (!admission.ok) { refuse(admission.reason, 'nat_rate_limited'); return }
  let held = true
  const release = (): void => { if (held) { held = false; admission.release() } }
  let nat: NatBehavior
  try { nat = await core.discover() } catch { release(); refuse('failed', 'nat_discovery'); return }
  try { core.enter() } catch (err) { release(); refuse('busy', (err as NatError).code); return }
  const t0 = performance.now()
  let pair = pairLabel(nat.mapping, 'unknown')
  let answer: Uint8Array
  let session: PunchSession
  let leg: TurnLeg | undefined
  try {
    session = core.session(remoteId, nat, { tcpPort: await core.tcpPort(), provenHosts })
    const offered = session.receiveOffer(m.offer)
    pair = pairLabel(nat.mapping, offered.mapping)
    leg = direct ? undefined : await answerTurn(core, session, nat, offered.mapping)
    answer = session.signedAnswer(leg ? [leg.candidate] : [])
  } catch (err) {
    core.leave()
    release()
    void leg?.release()
    refuse('bad_offer', (err as NatError).code ?? 'bad offer')
    return
  }
  core.metrics.inbound.inc({ result: 'accepted' })
  // punch first (our mapping towards the peer exists before its checks reach our NAT), then answer; the agreed
  // escalation time counts from this answer (the caller counts from its arrival less half its round trip)
  const signal = core.shutdown.signal
  const punching = runLadder(inboundSteps(core, session, nat, core.clock.now() + core.cfg.punch.escalateAfterMs, leg), {
    signal, tried: [], setTimeout: (fn, ms) => core.clock.setTimeout(fn, ms),
  })
  reply(NatMessageType.NAT_SIGNAL_ANSWER, encodeAnswer({ v: 1, answer }))
  void punching
    .then(async (got) => {
      if ('tcp' in got) {
        await links.adopt(got.tcp.socket, false, remoteId, got.tcp.remote)
        core.metrics.outcome('punched', 'tcp', pair, performance.now() - t0)
        return
      }
      const path = got.path
      const sw = core.relayed.get(toB64(remoteId))
      if (sw && !sw.upgraded && link.peer.nodeIdB64 === toB64(remoteId)) {
        links.holdPath(path, link)
        sw.upgrade(path.stream)
        core.metrics.outcome('punched', 'upgrade', pair, performance.now() - t0)
        return
      }
      if (got.release) {
        await links.adoptPath(path, false, remoteId, got.release)
        core.metrics.outcome('relayed', 'turn', pair, performance.now() - t0)
        return
      }
      await links.adoptPath(path, false, remoteId)
      core.metrics.outcome(outcomeOf(pair, path.method), path.method, pair, performance.now() - t0)
    })
    .catch((err: unknown) => {
      // an allocation no path took (the ladder stopped before its step, or the link failed): given back
      void leg?.release()
      core.metrics.outcome('failed', 'none', pair, performance.now() - t0)
      core.log.debug({ peer: toB64(remoteId), err: (err as Error).message }, 'inbound punch failed')
    })
    .finally(() => { core.leave(); release() })
}

type Got = { path: PunchedPath; release?: () => Promise<void> } | { tcp: { socket: Socket; remote: Rinfo } }

/** How long the addressee waits for a TURN allocation before it answers without one (the caller is waiting). */
export const ANSWER_TURN_MS = 3000

/**
 * The answer side of "TURN in the first signed set" (issue 24): when the offer shows the pair rules out every direct
 * path and brings no relay candidate we would check towards (the caller has no TURN server, or one we do not know),
 * our answer carries our own allocation's relayed address; the caller's checks reach us through it in this round.
 * Bounded: past ANSWER_TURN_MS the answer goes out without it.
 */
async function answerTurn(core: NatCore, session: PunchSession, nat: NatBehavior, remoteMapping: string): Promise<TurnLeg | undefined> {
  const plan = planFor(nat.mapping, remoteMapping)
  const needed = !plan.udp && !plan.tcp && !session.targets().some((c) => c.kind === 'relay')
  if (!needed || core.cfg.turn.servers.length === 0) return undefined
  const bound = new AbortController()
  const t = core.clock.setTimeout(() => bound.abort(new NatError('nat_turn', 'TURN allocation for the answer took too long')), ANSWER_TURN_MS)
  const op = core.op(bound.signal)
  try {
    return await core.earlyTurn(true, op.signal, 'addressee')
  } finally {
    t.cancel()
    op.detach()
  }
}

/**
 * The direct strategies the classified pair leaves open, raced (the caller relays when both are ruled out). The
 * winner is adopted by the caller of the ladder (a relayed link may move onto it instead), so `use` passes it on.
 */
function inboundSteps(core: NatCore, session: PunchSession, nat: NatBehavior, syncAt: number, leg: TurnLeg | undefined): Array<AnyStep<Got>> {
  const open = directOpen(planFor(nat.mapping, session.remote!.mapping), session, core.cfg.punch.tcp)
  // our answer offered a TURN relayed address (the pair rules out the direct steps): the path through it
  const turn: AnyStep<Got> = {
    name: 'turn',
    applies: () => leg !== undefined,
    run: (signal) => leg!.connect(session, signal).catch(async (err: unknown) => { await leg!.release(); throw err }),
    use: async (path: PunchedPath) => ({ path, release: leg!.release }),
  }
  const udp: AnyStep<Got> = {
    name: 'udp', race: 'direct',
    applies: () => {
      if (leg) return false
      if (!open.udp && !open.tcp) throw new NatError('nat_pair_unpunchable', `no direct path between ${nat.mapping} and ${session.remote!.mapping} mappings`)
      return open.udp
    },
    run: (signal) => session.connect({ syncAt, signal }),
    use: async (path: PunchedPath) => ({ path }),
    discard: (path: PunchedPath) => { void core.paths.release(path) },
  }
  const tcp: AnyStep<Got> = {
    name: 'tcp', race: 'direct', delayMs: core.cfg.punch.tcpDelayMs,
    applies: () => !leg && open.tcp,
    run: (signal) => session.tcpOpen({ timeoutMs: core.cfg.punch.tcpTimeoutMs, signal }),
    use: async (tcp: { socket: Socket; remote: Rinfo }) => ({ tcp }),
    discard: (got: { socket: Socket }) => { got.socket.destroy() },
  }
  return [turn, udp, tcp]
}
