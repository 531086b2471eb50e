/**
 * The caller's side of `connect` (issue 23 item 1, issue 24 items 4 and 6): one signalling round, then the connect
 * ladder (ladder.ts) over the steps below, in this order. What the classified pair rules out is skipped, UDP punching
 * and TCP simultaneous open race (TCP after a head start), the relay node and TURN follow when nothing direct came up:
 * - `turn` (first round): our own mapping is dependent, so our first signed offer carried a TURN relayed address;
 *   when the answer shows the pair rules out direct paths, the path through that allocation is the one;
 * - `udp`: punching (and the birthday approach), also towards a relay candidate the peer's answer carried (its own
 *   TURN allocation, offered when the pair rules out direct paths and our offer had none: reported as `turn`);
 * - `tcp`: TCP simultaneous open, when both sides offered a `tcp` candidate and both mappings are predictable;
 * - `relay`: a circuit through a relay node (the rendezvous, or a configured relay);
 * - `turn` (late): a second signed offer with a fresh allocation's relayed address.
 */
import type { Socket } from 'node:net'
import type { Link } from '../interfaces/link.js'
import { tagTurn } from '../transport/stream-adapter.js'
import { NatCore } from './core.js'
import type { NatLinks } from './adoption.js'
import type { NatBehavior } from './discovery.js'
import { NatError } from './errors.js'
import { runLadder, type AnyStep } from './ladder.js'
import { pairLabel, type Outcome } from './metrics.js'
import type { PunchedPath, PunchSession } from './punch/session.js'
import { planFor, type StrategyPlan } from './punch/strategy.js'
import { SwitchableStream } from './relay/switchable.js'
import { signalRound } from './signalling.js'
import type { Rinfo } from './socket.js'
import type { TurnLeg } from './turn/leg.js'

export interface ConnectResult {
  link: Link; method: string; ms: number; remote: Rinfo; pair: string
  /** The strategies this call ran, in order of start ('udp', 'tcp', 'relay', 'turn'); what the pair rules out is absent. */
  tried?: string[]
}

export interface ConnectOptions { via?: Uint8Array; signal?: AbortSignal; relayOnly?: boolean }

/** 'direct' when neither side is behind a NAT (nothing had to be punched), else 'punched'. */
export const outcomeOf = (pair: string, method: string): Outcome => (pair === 'open-open' && method === 'direct' ? 'direct' : 'punched')

/** The direct strategies the plan leaves open: a relay candidate from the peer is reachable whatever the mappings. */
export function directOpen(plan: StrategyPlan, session: PunchSession, tcpOn: boolean): { udp: boolean; tcp: boolean } {
  return {
    udp: plan.udp || session.remote!.candidates.some((c) => c.kind === 'relay'),
    tcp: plan.tcp && tcpOn && session.targets().some((c) => c.kind === 'tcp'),
  }
}

interface Signalled { session: PunchSession; syncAt: number; plan: StrategyPlan }

export async function connectPeer(core: NatCore, links: NatLinks, nodeId: Uint8Array, opts: ConnectOptions = {}): Promise<ConnectResult> {
  const t0 = performance.now()
  const op = core.op(opts.signal)
  const signal = op.signal
  const tried: string[] = []
  try {
    const existing = core.init.links.get(nodeId)
    // a link that stopped answering is not "already connected": it is closed and the peer is reached again
    if (existing && await links.liveness.check(existing)) {
      return { link: existing, method: 'existing', ms: 0, remote: existing.peer.route?.remote ?? existing.peer.remoteAddr, pair: 'n/a', tried }
    }
    const rendezvous = core.pickRendezvous(opts.via)
    if (!rendezvous) throw new NatError('nat_no_rendezvous', 'no linked rendezvous to signal through')
    const nat = await core.discover()
    const ctx = { core, links, nodeId, nat, rendezvous, signal, t0, pair: pairLabel(nat.mapping, 'unknown') }
    core.enter()
    try {
      const steps = opts.relayOnly ? lateSteps(ctx, true) : [...directSteps(ctx), ...lateSteps(ctx, false)]
      return await runLadder(steps, {
        signal, tried, setTimeout: (fn, ms) => core.clock.setTimeout(fn, ms),
        onFailure: (name, err) => core.log.debug({ step: name, err: (err as Error).message }, 'connect step failed'),
        ...(opts.relayOnly ? { seed: new NatError('nat_relay_only', 'relay requested') } : {}),
      }).then((r) => ({ ...r, tried }), (err: unknown) => {
        core.metrics.outcome('failed', 'none', ctx.pair, performance.now() - t0)
        throw err
      })
    } finally {
      core.leave()
    }
  } finally {
    op.detach()
  }
}

interface Ctx {
  core: NatCore; links: NatLinks; nodeId: Uint8Array; nat: NatBehavior; rendezvous: Link; signal: AbortSignal; t0: number
  /** The NAT pair label, known once the answer came. */
  pair: string
}

const done = (c: Ctx, link: Link, method: string, remote: Rinfo, outcome: Outcome): ConnectResult => {
  const ms = performance.now() - c.t0
  c.core.metrics.outcome(outcome, method, c.pair, ms)
  return { link, method, ms, remote, pair: c.pair }
}

/** The first-round TURN step, UDP punching and TCP simultaneous open, sharing one signalling round. */
function directSteps(c: Ctx): Array<AnyStep<ConnectResult>> {
  const { core, links, nodeId, nat } = c
  let early: TurnLeg | undefined
  let earlyRan = false
  let round: Promise<Signalled> | undefined
  const signalled = (): Promise<Signalled> => (round ??= (async () => {
    const [tcpPort, leg] = await Promise.all([core.tcpPort(), core.earlyTurn(NatCore.mayNeedTurn(nat), c.signal, 'caller')])
    early = leg
    try {
      const session = core.session(nodeId, nat, { tcpPort, ...(leg ? { candidates: [leg.candidate] } : {}) })
      const { answer, syncAt } = await signalRound(c.rendezvous, session.offer(), { to: nodeId, ...core.signalOpts(c.signal) })
      session.acceptAnswer(answer)
      c.pair = pairLabel(nat.mapping, session.remote!.mapping)
      return { session, syncAt, plan: planFor(nat.mapping, session.remote!.mapping) }
    } catch (err) {
      early = undefined
      await leg?.release()
      throw err
    }
  })())
  const open = async (): Promise<{ s: Signalled; udp: boolean; tcp: boolean }> => {
    const s = await signalled()
    return { s, ...directOpen(s.plan, s.session, core.cfg.punch.tcp) }
  }
  const turn: AnyStep<ConnectResult> = {
    name: 'turn',
    async applies() {
      const { plan } = await signalled()
      // the pair rules out direct paths: the peer already checks towards our relayed address (first offer), so the
      // TURN path comes up in this same signalling round; otherwise the allocation is not needed
      if (early && !plan.udp && !plan.tcp) return (earlyRan = true)
      const leg = early
      early = undefined
      void leg?.release()
      return false
    },
    async run(signal) {
      const leg = early!
      early = undefined
      const path = await leg.connect((await signalled()).session, signal).catch(async (err: unknown) => { await leg.release(); throw err })
      return { path, release: leg.release }
    },
    use: async ({ path, release }: { path: PunchedPath; release: () => Promise<void> }) =>
      done(c, await links.adoptPath(path, true, nodeId, release), 'turn', path.remote, 'relayed'),
  }
  const udp: AnyStep<ConnectResult> = {
    name: 'udp', race: 'direct',
    async applies() {
      if (earlyRan) return false
      const o = await open()
      if (!o.udp && !o.tcp) throw new NatError('nat_pair_unpunchable', `no direct path between ${nat.mapping} and ${o.s.session.remote!.mapping} mappings`)
      return o.udp
    },
    run: async (signal) => { const s = await signalled(); return s.session.connect({ signal, syncAt: s.syncAt }) },
    async use(path: PunchedPath) {
      // the path to a relay candidate of the peer's answer (its own TURN allocation) is a TURN path
      const r = path.remote
      if ((await signalled()).session.remote!.candidates.some((x) => x.kind === 'relay' && x.host === r.host && x.port === r.port)) {
        tagTurn(path.stream, r)
        return done(c, await links.adoptPath(path, true, nodeId), 'turn', r, 'relayed')
      }
      return done(c, await links.adoptPath(path, true, nodeId), path.method, r, outcomeOf(c.pair, path.method))
    },
    discard: (path: PunchedPath) => { void core.paths.release(path) },
  }
  const tcp: AnyStep<ConnectResult> = {
    name: 'tcp', race: 'direct', delayMs: core.cfg.punch.tcpDelayMs,
    applies: async () => !earlyRan && (await open()).tcp,
    run: async (signal) => (await signalled()).session.tcpOpen({ timeoutMs: core.cfg.punch.tcpTimeoutMs, signal }),
    use: async (got: { socket: Socket; remote: Rinfo }) => done(c, await links.adopt(got.socket, true, nodeId, got.remote), 'tcp', got.remote, 'punched'),
    discard: (got: { socket: Socket }) => { got.socket.destroy() },
  }
  return [turn, udp, tcp]
}

/** A relay node's circuit, then a late TURN allocation offered in a second signed offer. */
function lateSteps(c: Ctx, relayOnly: boolean): Array<AnyStep<ConnectResult>> {
  const { core, links, nodeId } = c
  let relay: Link | undefined
  const viaRelay: AnyStep<ConnectResult> = {
    name: 'relay',
    applies: () => (core.cfg.relay.useRelays || relayOnly) && (relay = core.pickRelay(c.rendezvous)) !== undefined,
    run: async (signal) => new SwitchableStream(await core.relay!.open(relay!, nodeId, signal)),
    async use(sw: SwitchableStream) {
      const link = await links.adopt(sw, true, nodeId, relay!.peer.remoteAddr)
      links.trackRelayed(nodeId, sw, link, true)
      return done(c, link, 'relay', relay!.peer.remoteAddr, 'relayed')
    },
  }
  const lateTurn: AnyStep<ConnectResult> = {
    name: 'turn',
    // (a pair that rules out direct paths gets here only when the first-round TURN leg itself failed)
    applies: () => core.cfg.turn.servers.length > 0,
    run: (signal) => viaTurn(c, signal),
    use: async ({ path, release }: { path: PunchedPath; release: () => Promise<void> }) =>
      done(c, await links.adoptPath(path, true, nodeId, release), 'turn', path.remote, 'relayed'),
  }
  return [viaRelay, lateTurn]
}

/**
 * Late TURN fallback (no allocation was offered in the first round): allocate, send a second signed offer whose
 * candidates include the relayed address, and let the peer's checks reach us through the allocation.
 */
async function viaTurn(c: Ctx, signal: AbortSignal): Promise<{ path: PunchedPath; release: () => Promise<void> }> {
  const leg = await c.core.allocateTurn(signal)
  try {
    const session = c.core.session(c.nodeId, c.nat, { candidates: [leg.candidate], birthday: false })
    const { answer } = await signalRound(c.rendezvous, session.offer(), { to: c.nodeId, ...c.core.signalOpts(signal) })
    session.acceptAnswer(answer)
    return { path: await leg.connect(session, signal), release: leg.release }
  } catch (err) {
    await leg.release()
    throw err
  }
}
