/**
 * The node's NAT traversal service: one udx socket for STUN, punching and UDP links; RFC 5780 discovery; the STUN
 * server role; signalling through a rendezvous (NAT_SIGNAL / NAT_SIGNAL_DELIVER); punching; and handing the punched
 * udx stream to the transport (`adoptStream`) so the normal handshake and frames run over it.
 */
import { parseHostPort } from '../util/host-port.js'
import type { Registry } from 'prom-client'
import type { Identity } from '../crypto/identity.js'
import type { Endpoint, Link, LinkProvider, MessageRouter } from '../interfaces/link.js'
import { silentLogger, type Logger } from '../interfaces/logger.js'
import { systemClock, type Clock } from '../interfaces/clock.js'
import { equalBytes, toB64 } from '../util/bytes.js'
import { AddressPolicy } from '../util/address-class.js'
import { guardedClock, type NatErrorSink } from './guard.js'
import { InboundPunchGate } from './punch/inbound-gate.js'
import type { NatConfig } from './config.js'
import { discoverNat, type NatBehavior } from './discovery.js'
import { NatRediscovery } from './rediscovery.js'
import { NatError } from './errors.js'
import { decodeSignal, encodeAnswer, NatMessageType } from './messages.js'
import { NatMetrics, pairLabel, type Outcome } from './metrics.js'
import { PunchSession, type PunchedPath, type PunchSessionInit } from './punch/session.js'
import { UdxDatagramSocket, type Rinfo } from './socket.js'
import { StunClient } from './stun/client.js'
import { StunServer } from './stun/server.js'
import { RelayService } from './relay/relay.js'
import { SwitchableStream } from './relay/switchable.js'
import { createRendezvousHandler, observedHost } from './rendezvous.js'
import { freeTcpPort } from './punch/tcp-open.js'
import { allocateTurnLeg, type TurnLeg } from './turn/leg.js'
import type { Candidate } from './punch/candidates.js'
import { planFor, raceStrategies, type RaceResult } from './punch/strategy.js'
import { PathSet } from './paths.js'
import { signalRound } from './signalling.js'
import { LinkLiveness } from './liveness.js'
import type { UsageMeter } from '../interfaces/services.js'
import type { Duplex } from 'node:stream'
import { adaptStream } from '../transport/stream-adapter.js'

export type AdoptStream = (stream: import('node:stream').Duplex, opts: { outbound: boolean; remoteAddr: Endpoint; expectNodeId?: Uint8Array; signal?: AbortSignal }) => Promise<Link>

export interface NatServiceInit {
  identity: Identity
  config: NatConfig
  links: LinkProvider & { adoptStream?: AdoptStream }
  router: MessageRouter
  logger?: Logger
  metrics?: Registry
  clock?: Clock
  /** The economy layer's meter (relayed bytes), looked up lazily. */
  usage?: () => UsageMeter | undefined
  /**
   * Which candidate addresses we may probe or connect to (node.privateAddresses). @default 'auto' with the UDP host:
   * only public addresses, plus loopback/private when the socket is bound to such an address.
   */
  addressPolicy?: AddressPolicy
}

export interface ConnectResult {
  link: Link; method: string; ms: number; remote: Rinfo; pair: string
  /** The strategies this call ran, in order of start ('udp', 'tcp', 'relay', 'turn'); what the pair rules out is absent. */
  tried?: string[]
}

/** Most punch attempts running at once (each may hold up to `birthdaySockets` sockets). */
export const MAX_CONCURRENT_PUNCHES = 4
const MAX_ECHO_BYTES = 64 * 1024

/** 'direct' when neither side is behind a NAT (nothing had to be punched), else 'punched'. */
const outcomeOf = (pair: string, method: string): Outcome => (pair === 'open-open' && method === 'direct' ? 'direct' : 'punched')

/**
 * What a path moved, as one counter the liveness rounds compare: a TCP socket's bytes read plus bytes the kernel
 * took (it takes more only as the peer acknowledges once its buffer is full), a UDX stream's packets received (data
 * and acknowledgements). Other kinds (relay circuits) count their 'data' events instead.
 */
function progressOf(stream: Duplex, kind: string): (() => number) | undefined {
  if (kind === 'tcp') { const t = stream as import('node:net').Socket; return () => t.bytesRead + t.bytesWritten - t.writableLength }
  const u = stream as Duplex & { packetsReceived?: number }
  if ((kind === 'udx' || kind === 'turn') && typeof u.packetsReceived === 'number') return () => u.packetsReceived ?? 0
  return undefined
}

const parseHp = (s: string): Rinfo => parseHostPort(s, { allowAnyPort: true })

export class NatService {
  readonly #init: NatServiceInit
  readonly #cfg: NatConfig
  readonly #log: Logger
  readonly #clock: Clock
  readonly metrics: NatMetrics
  #socket: UdxDatagramSocket | undefined
  #stun: StunClient | undefined
  #server: StunServer | undefined
  readonly #rediscovery: NatRediscovery
  #unsubs: Array<() => void> = []
  #active = 0
  readonly #paths = new PathSet(() => this.#socket)
  /** Aborted by stop(): combined into every network operation (signalling, punching, relay open, TURN). */
  readonly #shutdown = new AbortController()
  #stopped = false
  #relay: RelayService | undefined
  /** Relayed links by peer (base64 node id), which may still move to a direct path. */
  readonly #relayed = new Map<string, SwitchableStream>()
  readonly #upgradeTimers = new Set<{ cancel(): void }>()
  /** Inbound relayed links by peer, with the IP the relay saw the peer's own link come from (`obs` of NAT_RELAY_INCOMING). */
  readonly #relayObs = new Map<string, { link: Link; obs: string }>()
  readonly #policy: AddressPolicy
  readonly #gate: InboundPunchGate
  readonly #liveness: LinkLiveness
  /** Relay links that carried a link found dead: not picked again until they prove alive. */
  readonly #suspectRelays = new WeakSet<Link>()
  /** Every error contained in a NAT timer or socket callback: logged and counted; the operation it belonged to ends. */
  readonly #sink: NatErrorSink = (op, err) => {
    this.metrics.errors.inc({ op })
    this.#log.warn({ op, err: err instanceof Error ? err.message : String(err) }, 'NAT callback failed (contained)')
  }

  #starting: Promise<void> | undefined

  constructor(init: NatServiceInit) {
    this.#init = init
    this.#cfg = init.config
    this.#log = init.logger ?? silentLogger
    this.metrics = new NatMetrics(init.metrics)
    this.#clock = guardedClock(init.clock ?? systemClock, this.#sink)
    this.#policy = init.addressPolicy ?? new AddressPolicy('auto', [init.config.udpHost])
    const p = init.config.punch
    this.#gate = new InboundPunchGate({
      perPeerBurst: p.inboundPerPeerBurst, perPeerPerMinute: p.inboundPerPeerPerMinute,
      globalBurst: p.inboundGlobalBurst, globalPerMinute: p.inboundGlobalPerMinute,
    }, this.#clock)
    const lv = init.config.liveness
    this.#liveness = new LinkLiveness({
      clock: this.#clock, intervalMs: lv.intervalMs, timeoutMs: lv.timeoutMs, misses: lv.misses,
      probe: async (link, timeoutMs) => { await link.request(NatMessageType.NAT_ECHO, new Uint8Array(8), { timeoutMs }) },
      onDead: (link, why) => this.#onDead(link, why),
    })
    this.#rediscovery = new NatRediscovery({
      run: () => this.#discoverRound(), clock: this.#clock, periodMs: this.#cfg.rediscoverMs,
      onError: (err) => this.#log.warn({ err: (err as Error).message }, 'NAT discovery failed'),
    })
  }

  get socket(): UdxDatagramSocket | undefined { return this.#socket }
  get behavior(): NatBehavior | undefined { return this.#rediscovery.behavior }
  get relayCircuits(): number { return this.#relay?.circuitCount ?? 0 }

  /** Idempotent: a second call returns the first start (it must not bind a second socket). */
  start(): Promise<void> {
    this.#starting ??= this.#start()
    return this.#starting
  }

  async #start(): Promise<void> {
    this.#socket = UdxDatagramSocket.bind(this.#cfg.udpPort, this.#cfg.udpHost)
    this.#socket.errorSink = this.#sink
    this.#stun = new StunClient({ socket: this.#socket, rtoMs: 100, maxTransmits: 3 })
    if (this.#cfg.stunServer.enabled) {
      const alt = this.#cfg.stunServer.alternate
      this.#server = new StunServer({
        primary: parseHp(this.#cfg.stunServer.primary), ...(alt ? { alternate: parseHp(alt) } : {}),
        maxRepliesPerSecond: this.#cfg.stunServer.maxRepliesPerSecond, onError: this.#sink,
      })
      await this.#server.start()
    }
    const r = this.#init.router
    this.#relay = new RelayService({
      config: this.#cfg.relay, router: r, links: this.#init.links, logger: this.#log,
      ...(this.#init.usage ? { usage: this.#init.usage } : {}),
      accept: (from, stream, relay, obs) => {
        const sw = new SwitchableStream(stream)
        this.#adopt(sw, false, from, relay.peer.remoteAddr)
          .then((link) => {
            this.#trackRelayed(from, sw, link, false)
            // the relay's observation of the opener's IP: what an upgrade over this link may punch towards
            if (obs) { const key = toB64(from); this.#relayObs.set(key, { link, obs }); link.onClose(() => { if (this.#relayObs.get(key)?.link === link) this.#relayObs.delete(key) }) }
            this.metrics.outcome('relayed', 'relay', 'inbound', 0)
          })
          .catch((err: unknown) => this.#log.debug({ err: (err as Error).message }, 'inbound relayed link failed'))
        return true
      },
    })
    this.#relay.start()
    this.#unsubs.push(
      r.handle(NatMessageType.NAT_SIGNAL, createRendezvousHandler({ links: this.#init.links, config: this.#cfg, clock: this.#clock })),
      r.handle(NatMessageType.NAT_SIGNAL_DELIVER, (m) => this.#onDeliver(m.link, m.body, m.reply)),
      r.handle(NatMessageType.NAT_ECHO, (m) => {
        if (m.body.length > MAX_ECHO_BYTES) throw new NatError('nat_echo_size', 'echo too large')
        m.reply?.(NatMessageType.NAT_ECHO, m.body)
      }),
    )
    if (this.#cfg.stunServers.length > 0) this.#rediscovery.start()
  }

  /** The cached NAT behaviour, or a new RFC 5780 round when `refresh` (or none is cached yet). */
  discover(refresh = false): Promise<NatBehavior> { return this.#rediscovery.discover(refresh) }

  /** One RFC 5780 round against the configured STUN servers (the first that answers). */
  async #discoverRound(): Promise<NatBehavior> {
    const local = this.#socket!.address()
    let last: unknown
    for (const s of this.#cfg.stunServers) {
      try {
        const b = await discoverNat(this.#stun!, parseHp(s), { localPort: local.port })
        this.#log.info({ mapping: b.mapping, filtering: b.filtering, publicAddr: b.publicAddr }, 'NAT behaviour')
        return b
      } catch (err) { last = err }
    }
    if (this.#cfg.stunServers.length === 0) return { mapping: 'unknown', filtering: 'unknown', publicAddr: { host: '0.0.0.0', port: 0 } }
    throw new NatError('nat_discovery', 'no STUN server answered', { cause: last })
  }

  /** What every punch session of this node shares: address rules, contained errors, counters. */
  #sessionHooks(): Pick<PunchSessionInit, 'allowTarget' | 'onError' | 'onSent' | 'onSocket' | 'unsolicitedChecks' | 'idleMs' | 'inboundBirthday' | 'trustedRelayHosts'> {
    return {
      trustedRelayHosts: this.#cfg.turn.servers.map((t) => parseHp(t.server).host),
      allowTarget: (host) => this.#policy.allows(host), onError: this.#sink,
      onSent: (role) => this.metrics.probes.inc({ role: role === 0 ? 'controlling' : 'controlled' }),
      onSocket: () => this.metrics.sockets.inc(),
      unsolicitedChecks: this.#cfg.punch.unsolicitedChecks, idleMs: this.#cfg.punch.inboundIdleMs,
      inboundBirthday: this.#cfg.punch.inboundBirthday,
    }
  }

  #session(remoteId: Uint8Array, nat: NatBehavior, tcpPort?: number, provenHosts?: string[], candidates?: Candidate[]): PunchSession {
    return new PunchSession({
      identity: this.#init.identity, remoteId, socket: this.#socket!, nat, punch: this.#cfg.punch, clock: this.#clock,
      ...(tcpPort ? { tcpPort } : {}), ...(provenHosts ? { provenHosts } : {}), ...(candidates ? { candidates } : {}), ...this.#sessionHooks(),
    })
  }

  /**
   * The direct strategies the classified pair leaves open (planFor), raced: UDP punching, and TCP simultaneous open
   * when both sides offered a `tcp` candidate. A pair that rules both out fails at once (the caller relays).
   */
  async #punchOrTcp(session: PunchSession, self: NatBehavior, syncAt: number, signal?: AbortSignal, tried: string[] = []): Promise<RaceResult> {
    const plan = planFor(self.mapping, session.remote!.mapping)
    // a TURN relay candidate in the offer is reachable whatever the two mappings are: its checks must run (the
    // second signalling round of a TURN fallback between two symmetric NATs carries exactly that)
    const udp = plan.udp || session.remote!.candidates.some((c) => c.kind === 'relay')
    const tcp = plan.tcp && this.#cfg.punch.tcp && session.targets().some((c) => c.kind === 'tcp')
    if (!udp && !tcp) {
      throw new NatError('nat_pair_unpunchable', `no direct path between ${self.mapping} and ${session.remote!.mapping} mappings`)
    }
    if (udp) tried.push('udp')
    if (tcp) tried.push('tcp')
    return raceStrategies({
      ...(udp ? { udp: (s: AbortSignal) => session.connect({ signal: s, syncAt }) } : {}),
      ...(tcp ? { tcp: (s: AbortSignal) => session.tcpOpen({ timeoutMs: this.#cfg.punch.tcpTimeoutMs, signal: s }) } : {}),
      tcpDelayMs: this.#cfg.punch.tcpDelayMs,
      ...(signal ? { signal } : {}),
      discardPath: (p) => { void this.#paths.release(p) },
      setTimeout: (fn, ms) => this.#clock.setTimeout(fn, ms),
    })
  }

  /**
   * A TURN allocation for the first offer, when TURN servers are configured and our own mapping can make a pair
   * unpunchable (a dependent mapping: against another one no direct path exists). Failing to allocate is not fatal:
   * the offer then goes out without a relay candidate.
   */
  async #earlyTurn(nat: NatBehavior, signal: AbortSignal): Promise<TurnLeg | undefined> {
    if (this.#cfg.turn.servers.length === 0 || planFor(nat.mapping, 'address-port-dependent').udp) return undefined
    return this.#allocateTurn(signal).catch((err: unknown) => {
      this.#log.debug({ err: (err as Error).message }, 'TURN allocation for the first offer failed')
      return undefined
    })
  }

  async #tcpPort(): Promise<number | undefined> {
    return this.#cfg.punch.tcp ? freeTcpPort().catch(() => undefined) : undefined
  }

  /** Reaches `nodeId` over a punched UDP path, signalling through `via` (a linked rendezvous) or any configured one. */
  async connect(nodeId: Uint8Array, opts: { via?: Uint8Array; signal?: AbortSignal; relayOnly?: boolean } = {}): Promise<ConnectResult> {
    const t0 = performance.now()
    const signal = this.#opSignal(opts.signal)
    const tried: string[] = []
    const existing = this.#init.links.get(nodeId)
    // a link that stopped answering is not "already connected": it is closed and the peer is reached again
    if (existing && await this.#liveness.check(existing)) {
      return { link: existing, method: 'existing', ms: 0, remote: existing.peer.route?.remote ?? existing.peer.remoteAddr, pair: 'n/a', tried }
    }
    const rendezvous = this.#pickRendezvous(opts.via)
    if (!rendezvous) throw new NatError('nat_no_rendezvous', 'no linked rendezvous to signal through')
    const nat = await this.discover()
    let pair = pairLabel(nat.mapping, 'unknown')
    this.#enter()
    let early: TurnLeg | undefined
    try {
      if (opts.relayOnly) throw new NatError('nat_relay_only', 'relay requested')
      const [tcpPort, leg] = await Promise.all([this.#tcpPort(), this.#earlyTurn(nat, signal)])
      early = leg
      const session = this.#session(nodeId, nat, tcpPort, undefined, leg ? [leg.candidate] : undefined)
      const { answer, syncAt } = await signalRound(rendezvous, session.offer(), { to: nodeId, ...this.#signalOpts(signal) })
      session.acceptAnswer(answer)
      pair = pairLabel(nat.mapping, session.remote!.mapping)
      const plan = planFor(nat.mapping, session.remote!.mapping)
      if (leg && !plan.udp && !plan.tcp) {
        // the pair rules out direct paths: the peer already checks towards our relayed address (first offer), so the
        // TURN path comes up in this same signalling round
        tried.push('turn')
        const path = await leg.connect(session, signal)
        const link = await this.#adoptPath(path, true, nodeId)
        link.onClose(() => { void leg.release() })
        early = undefined
        const ms = performance.now() - t0
        this.metrics.outcome('relayed', 'turn', pair, ms)
        return { link, method: 'turn', ms, remote: path.remote, pair, tried }
      }
      if (leg) { early = undefined; void leg.release() }
      const got = await this.#punchOrTcp(session, nat, syncAt, signal, tried)
      if ('tcp' in got) {
        const link = await this.#adopt(got.tcp.socket, true, nodeId, got.tcp.remote)
        const ms = performance.now() - t0
        this.metrics.outcome('punched', 'tcp', pair, ms)
        return { link, method: 'tcp', ms, remote: got.tcp.remote, pair, tried }
      }
      const path = got.path
      const link = await this.#adoptPath(path, true, nodeId)
      const ms = performance.now() - t0
      this.metrics.outcome(outcomeOf(pair, path.method), path.method, pair, ms)
      return { link, method: path.method, ms, remote: path.remote, pair, tried }
    } catch (err) {
      if (early) { await early.release(); early = undefined }
      const relay = (this.#cfg.relay.useRelays || opts.relayOnly) && !signal.aborted ? this.#pickRelay(rendezvous) : undefined
      if (relay) {
        tried.push('relay')
        try {
          const sw = new SwitchableStream(await this.#relay!.open(relay, nodeId, signal))
          const link = await this.#adopt(sw, true, nodeId, relay.peer.remoteAddr)
          this.#trackRelayed(nodeId, sw, link, true)
          const ms = performance.now() - t0
          this.metrics.outcome('relayed', 'relay', pair, ms)
          return { link, method: 'relay', ms, remote: relay.peer.remoteAddr, pair, tried }
        } catch (relayErr) {
          this.#log.debug({ err: (relayErr as Error).message }, 'relay fallback failed')
        }
      }
      if (this.#cfg.turn.servers.length > 0 && !signal.aborted) {
        tried.push('turn')
        try {
          // (a pair that rules out direct paths got here only when the first-round TURN leg itself failed)
          const { path, release } = await this.#viaTurn(nodeId, rendezvous, nat, signal)
          const link = await this.#adoptPath(path, true, nodeId)
          link.onClose(() => { void release() })
          const ms = performance.now() - t0
          this.metrics.outcome('relayed', 'turn', pair, ms)
          return { link, method: 'turn', ms, remote: path.remote, pair, tried }
        } catch (turnErr) {
          this.#log.debug({ err: (turnErr as Error).message }, 'TURN fallback failed')
        }
      }
      this.metrics.outcome('failed', 'none', pair, performance.now() - t0)
      throw err
    } finally {
      this.#active--
    }
  }

  /** A TURN allocation on the first configured server (its relayed address is offered as a `relay` candidate). */
  #allocateTurn(signal: AbortSignal): Promise<TurnLeg> {
    const cfg = this.#cfg.turn.servers[0]!
    return allocateTurnLeg({
      socket: this.#socket!, server: parseHp(cfg.server), username: cfg.username, password: cfg.password, clock: this.#clock, signal,
    })
  }

  /**
   * Late TURN fallback (no allocation was offered in the first round): allocate, send a second signed offer whose
   * candidates include the relayed address, and let the peer's checks reach us through the allocation.
   */
  async #viaTurn(nodeId: Uint8Array, rendezvous: Link, nat: NatBehavior, signal: AbortSignal): Promise<{ path: PunchedPath; release: () => Promise<void> }> {
    const leg = await this.#allocateTurn(signal)
    try {
      const session = new PunchSession({
        identity: this.#init.identity, remoteId: nodeId, socket: this.#socket!, nat, clock: this.#clock,
        punch: { ...this.#cfg.punch, birthday: false }, ...this.#sessionHooks(), candidates: [leg.candidate],
      })
      const { answer } = await signalRound(rendezvous, session.offer(), { to: nodeId, ...this.#signalOpts(signal) })
      session.acceptAnswer(answer)
      return { path: await leg.connect(session, signal), release: leg.release }
    } catch (err) {
      await leg.release()
      throw err
    }
  }

  /** The caller's signal combined with this service's shutdown (stop() aborts every operation in flight). */
  #opSignal(signal?: AbortSignal): AbortSignal {
    return signal ? AbortSignal.any([signal, this.#shutdown.signal]) : this.#shutdown.signal
  }

  #signalOpts(signal: AbortSignal): { clock: Clock; escalateAfterMs: number; signal: AbortSignal } {
    return { clock: this.#clock, escalateAfterMs: this.#cfg.punch.escalateAfterMs, signal }
  }

  #enter(): void {
    if (this.#active >= MAX_CONCURRENT_PUNCHES) throw new NatError('nat_busy', 'too many punch attempts in progress')
    this.#active++
  }

  #pickRendezvous(via?: Uint8Array): Link | undefined {
    if (via) return this.#init.links.get(via)
    for (const id of this.#cfg.rendezvous) { const l = this.#init.links.get(id); if (l && !l.closed && !this.#suspectRelays.has(l)) return l }
    return this.#init.links.links().find((l) => !l.closed && !this.#suspectRelays.has(l))
  }

  #trackRelayed(nodeId: Uint8Array, sw: SwitchableStream, link: Link, initiator: boolean): void {
    const key = toB64(nodeId)
    this.#relayed.set(key, sw)
    link.onClose(() => { if (this.#relayed.get(key) === sw) this.#relayed.delete(key) })
    const every = this.#cfg.relay.upgradeIntervalMs
    if (!initiator || every <= 0) return
    const again = (): void => {
      const t = this.#clock.setTimeout(() => {
        this.#upgradeTimers.delete(t)
        if (this.#stopped || link.closed || sw.upgraded) return
        this.upgrade(nodeId).catch(() => {}).finally(again)
      }, every)
      this.#upgradeTimers.add(t)
    }
    again()
  }

  /**
   * Tries to move the relayed link to `nodeId` onto a punched path, signalling over the relayed link itself. The
   * link, its session and everything above it continue unchanged.
   */
  async upgrade(nodeId: Uint8Array, opts: { signal?: AbortSignal } = {}): Promise<{ method: string; ms: number }> {
    const signal = this.#opSignal(opts.signal)
    const sw = this.#relayed.get(toB64(nodeId))
    const link = this.#init.links.get(nodeId)
    if (!sw || !link) throw new NatError('nat_not_relayed', 'no relayed link to this peer')
    if (sw.upgraded) return { method: 'already', ms: 0 }
    const t0 = performance.now()
    const nat = await this.discover()
    this.#enter()
    let pair = pairLabel(nat.mapping, 'unknown')
    try {
      const session = this.#session(nodeId, nat)
      const { answer, syncAt } = await signalRound(link, session.offer(), this.#signalOpts(signal))
      session.acceptAnswer(answer)
      pair = pairLabel(nat.mapping, session.remote!.mapping)
      const path = await session.connect({ syncAt, signal })
      this.#holdPath(path, link)
      sw.upgrade(path.stream)
      const ms = performance.now() - t0
      this.metrics.outcome('punched', 'upgrade', pair, ms)
      return { method: path.method, ms }
    } finally {
      this.#active--
    }
  }

  /** Keeps a punched path (socket, listener) for as long as `link` lives. */
  #holdPath(path: PunchedPath, link: Link): void {
    this.#paths.hold(path)
    link.onClose(() => { void this.#paths.release(path) })
  }

  #pickRelay(fallback: Link): Link | undefined {
    for (const id of this.#cfg.relay.relays) { const l = this.#init.links.get(id); if (l && !l.closed && !this.#suspectRelays.has(l)) return l }
    return fallback.closed || this.#suspectRelays.has(fallback) ? undefined : fallback
  }

  async #adoptPath(path: PunchedPath, outbound: boolean, nodeId: Uint8Array): Promise<Link> {
    this.#paths.hold(path)
    const release = (): void => { void this.#paths.release(path) }
    try {
      const link = await this.#adopt(path.stream, outbound, nodeId, path.remote)
      link.onClose(release)
      return link
    } catch (err) {
      release()
      throw err
    }
  }

  async #adopt(stream: Duplex, outbound: boolean, nodeId: Uint8Array, remoteAddr: Endpoint): Promise<Link> {
    const adopt = this.#init.links.adoptStream
    if (!adopt) { stream.destroy(); throw new NatError('nat_no_transport', 'transport cannot adopt streams') }
    stream.on('error', () => { /* surfaced through the link's close */ })
    const link = await adopt.call(this.#init.links, stream, { outbound, remoteAddr, expectNodeId: nodeId })
    if (this.#cfg.liveness.enabled && this.#init.links.get(nodeId) === link) {
      const kind = adaptStream(stream).kind
      const heard = this.#liveness.watch(link, progressOf(stream, kind))
      // inbound bytes are proof of life (a busy link needs no probes); a TCP socket reads into slabs, not 'data'
      if (kind !== 'tcp') stream.on('data', heard)
      if (outbound) this.#opened.add(link)
      link.onClose((reason) => {
        if (!this.#opened.delete(link) || this.#stopped) return
        // the relay under it went away (killed, or its link closed): nothing was wrong with the peer, route again
        const relay = stream instanceof SwitchableStream && !stream.upgraded ? stream.circuit.relay : undefined
        if (relay?.closed) {
          this.#suspectRelays.add(relay)
          void this.#reroute(link, `relay link closed (${reason})`)
        }
      })
    }
    return link
  }

  /** Links we opened (connect), routed again when found dead. */
  readonly #opened = new Set<Link>()

  /**
   * A link stopped answering (about to be closed). The relay it ran over, if any, is checked too (a black-holed relay
   * keeps its TCP link open for minutes); a link we opened is then routed again, avoiding what is dead.
   */
  #onDead(link: Link, why: string): void {
    this.metrics.errors.inc({ op: 'liveness.dead' })
    this.#log.warn({ peer: link.peer.nodeIdB64, via: link.peer.route?.via, why }, 'NAT link dead')
    const relayed = link.peer.route?.via === 'relay' ? this.#relayLinkOf(link) : undefined
    // taken now: the link closes right after this returns, and its close removes it from #opened
    const ours = this.#opened.delete(link)
    void (async () => {
      if (relayed && !relayed.closed) {
        const ok = await relayed.request(NatMessageType.NAT_ECHO, new Uint8Array(8), { timeoutMs: this.#cfg.liveness.timeoutMs }).then(() => true, () => false)
        if (!ok) { this.#suspectRelays.add(relayed); relayed.close('path_dead: relay does not answer') }
      }
      if (ours) await this.#reroute(link, why)
    })().catch((err: unknown) => this.#log.warn({ peer: link.peer.nodeIdB64, err: (err as Error).message }, 'routing a dead link again failed'))
  }

  /**
   * Reaches the peer of a dead link we opened again (connect skips what is suspect), unless a new link to it exists
   * already. Tried a few times: the peer may still hold the dead link, or a relay may be in the middle of going away.
   */
  async #reroute(dead: Link, why: string): Promise<void> {
    if (!this.#cfg.liveness.reroute) return
    const id = dead.peer.nodeId
    for (let attempt = 0; attempt < 3 && !this.#stopped; attempt++) {
      const now = this.#init.links.get(id)
      if (now && now !== dead && !now.closed) return
      try {
        const r = await this.connect(id)
        this.metrics.errors.inc({ op: 'liveness.rerouted' })
        this.#log.info({ peer: dead.peer.nodeIdB64, why, method: r.method, ms: Math.round(r.ms) }, 'dead NAT link routed again')
        return
      } catch (err) {
        this.#log.warn({ peer: dead.peer.nodeIdB64, attempt, err: (err as Error).message }, 'routing a dead link again failed')
        await new Promise<void>((r) => this.#clock.setTimeout(r, 500 * (attempt + 1)))
      }
    }
  }

  /** The relay link under a relayed link (its circuit's). */
  #relayLinkOf(link: Link): Link | undefined {
    const sw = this.#relayed.get(link.peer.nodeIdB64)
    return sw && !sw.upgraded ? sw.circuit.relay : undefined
  }

  /**
   * Addressee role: verifies the signed offer, answers, and punches towards the sender. The sender chose to call us,
   * so what it names is not trusted: admission per peer and globally (InboundPunchGate), no birthday sockets,
   * unprompted checks and TCP connects only to the IP its link was observed at, the rest only once it checked in.
   */
  async #onDeliver(link: Link, body: Uint8Array, reply?: (t: number, b: Uint8Array) => boolean): Promise<void> {
    if (!reply) return
    const refuse = (result: string, code: string): void => {
      this.metrics.inbound.inc({ result })
      reply(NatMessageType.NAT_SIGNAL_ANSWER, encodeAnswer({ v: 1, error: code }))
    }
    let m: ReturnType<typeof decodeSignal>
    try { m = decodeSignal(body) } catch (err) { refuse('bad_offer', (err as NatError).code ?? 'bad signal'); return }
    const remoteId = m.from ?? link.peer.nodeId
    // the signer's own link: we observed its address ourselves; through a rendezvous: the rendezvous's observation
    const direct = equalBytes(remoteId, link.peer.nodeId)
    // over a relayed link (an upgrade) its remote address is the relay's: the relay's observation of the peer counts
    const relayed = direct ? this.#relayObs.get(toB64(remoteId)) : undefined
    const seen = direct ? (relayed?.link === link ? relayed.obs : observedHost(link.peer.remoteAddr.host)) : m.obs
    const provenHosts = seen ? [seen] : []
    // per signer (the offer must verify for it): a rendezvous delivers for many peers and is not held to one's limit
    const admission = this.#gate.admit([toB64(remoteId)])
    if (!admission.ok) { refuse(admission.reason, 'nat_rate_limited'); return }
    let held = true
    const release = (): void => { if (held) { held = false; admission.release() } }
    let nat: NatBehavior
    try { nat = await this.discover() } catch { release(); refuse('failed', 'nat_discovery'); return }
    try { this.#enter() } catch (err) { release(); refuse('busy', (err as NatError).code); return }
    const t0 = performance.now()
    let pair = pairLabel(nat.mapping, 'unknown')
    let answer: Uint8Array
    let session: PunchSession
    try {
      session = this.#session(remoteId, nat, await this.#tcpPort(), provenHosts)
      answer = session.answer(m.offer)
      pair = pairLabel(nat.mapping, session.remote!.mapping)
    } catch (err) {
      this.#active--
      release()
      refuse('bad_offer', (err as NatError).code ?? 'bad offer')
      return
    }
    this.metrics.inbound.inc({ result: 'accepted' })
    // punch first (our mapping towards the peer exists before its checks reach our NAT), then answer; the agreed
    // escalation time counts from this answer (the caller counts from its arrival less half its round trip)
    const punching = this.#punchOrTcp(session, nat, this.#clock.now() + this.#cfg.punch.escalateAfterMs, this.#shutdown.signal)
    reply(NatMessageType.NAT_SIGNAL_ANSWER, encodeAnswer({ v: 1, answer }))
    void punching
      .then(async (got) => {
        if ('tcp' in got) {
          await this.#adopt(got.tcp.socket, false, remoteId, got.tcp.remote)
          this.metrics.outcome('punched', 'tcp', pair, performance.now() - t0)
          return
        }
        const path = got.path
        const sw = this.#relayed.get(toB64(remoteId))
        if (sw && !sw.upgraded && link.peer.nodeIdB64 === toB64(remoteId)) {
          this.#holdPath(path, link)
          sw.upgrade(path.stream)
          this.metrics.outcome('punched', 'upgrade', pair, performance.now() - t0)
          return
        }
        await this.#adoptPath(path, false, remoteId)
        this.metrics.outcome(outcomeOf(pair, path.method), path.method, pair, performance.now() - t0)
      })
      .catch((err: unknown) => {
        this.metrics.outcome('failed', 'none', pair, performance.now() - t0)
        this.#log.debug({ peer: toB64(remoteId), err: (err as Error).message }, 'inbound punch failed')
      })
      .finally(() => { this.#active--; release() })
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#rediscovery.stop()
    this.#liveness.stop()
    for (const t of this.#upgradeTimers) t.cancel()
    this.#upgradeTimers.clear()
    for (const u of this.#unsubs) u()
    this.#unsubs = []
    this.#relay?.stop()
    this.#shutdown.abort(new NatError('nat_stopped', 'NAT service stopped'))
    // every held path's stream and socket (birthday and synchronised-pair sockets included)
    await this.#paths.releaseAll()
    this.#stun?.destroy()
    await this.#server?.stop()
    await this.#socket?.close()
  }
}

