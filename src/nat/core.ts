/**
 * What the parts of a NAT service share (issue 23 item 1): the injected components, config, the one udx socket once
 * bound, the held paths and their one release, the shutdown signal every operation is combined with, the relayed
 * links, the admission gate and the small helpers each connect step needs (a punch session, a TURN allocation, a
 * TCP port, which rendezvous or relay to use). The service (service.ts) builds one and hands it to the connect
 * ladder (connect.ts), the addressee role (inbound.ts) and the link adoption (adoption.ts).
 */
import type { Registry } from 'prom-client'
import type { Identity } from '../crypto/identity.js'
import type { Endpoint, Link, LinkProvider, MessageRouter } from '../interfaces/link.js'
import { silentLogger, type Logger } from '../interfaces/logger.js'
import type { Clock } from '../interfaces/clock.js'
import type { UsageMeter } from '../interfaces/services.js'
import { AddressPolicy } from '../util/address-class.js'
import { parseHostPort } from '../util/host-port.js'
import { opSignal, type OpSignal } from '../transport/signals.js'
import { freeTcpPort, type NatComponents } from './components.js'
import type { NatConfig } from './config.js'
import type { NatBehavior } from './discovery.js'
import { NatError } from './errors.js'
import { guardedClock, type NatErrorSink } from './guard.js'
import { NatMetrics } from './metrics.js'
import { PathSet } from './paths.js'
import type { Candidate } from './punch/candidates.js'
import { InboundPunchGate } from './punch/inbound-gate.js'
import { PunchSession, type PunchSessionInit } from './punch/session.js'
import { planFor } from './punch/strategy.js'
import type { RelayService } from './relay/relay.js'
import type { SwitchableStream } from './relay/switchable.js'
import type { Rinfo, UdxDatagramSocket } from './socket.js'
import type { StunClient } from './stun/client.js'
import { allocateTurnLeg, type TurnLeg } from './turn/leg.js'

export type AdoptStream = (stream: import('node:stream').Duplex, opts: { outbound: boolean; remoteAddr: Endpoint; expectNodeId?: Uint8Array; signal?: AbortSignal }) => Promise<Link>

export interface NatServiceInit {
  identity: Identity
  config: NatConfig
  links: LinkProvider & { adoptStream?: AdoptStream }
  router: MessageRouter
  /** Sockets, TCP listeners, clock and random source (defaultNatComponents() at the composition point). */
  components: NatComponents
  logger?: Logger
  metrics?: Registry
  /** The economy layer's meter (relayed bytes), looked up lazily. */
  usage?: () => UsageMeter | undefined
  /**
   * Which candidate addresses we may probe or connect to (node.privateAddresses). @default 'auto' with the UDP host:
   * only public addresses, plus loopback/private when the socket is bound to such an address.
   */
  addressPolicy?: AddressPolicy
}

/** Most punch attempts running at once (each may hold up to `birthdaySockets` sockets). */
export const MAX_CONCURRENT_PUNCHES = 4

export const parseHp = (s: string): Rinfo => parseHostPort(s, { allowAnyPort: true })

export class NatCore {
  readonly init: NatServiceInit
  readonly cfg: NatConfig
  readonly log: Logger
  readonly clock: Clock
  readonly components: NatComponents
  readonly metrics: NatMetrics
  readonly policy: AddressPolicy
  readonly gate: InboundPunchGate
  socket: UdxDatagramSocket | undefined
  stun: StunClient | undefined
  relay: RelayService | undefined
  /** Every punched path held, and the one way each is let go (stop() releases them all, birthday sockets included). */
  readonly paths = new PathSet(() => this.socket)
  /** Aborted by stop(): combined into every network operation (signalling, punching, relay open, TURN). */
  readonly shutdown = new AbortController()
  stopped = false
  /** Relayed links by peer (base64 node id), which may still move to a direct path. */
  readonly relayed = new Map<string, SwitchableStream>()
  /** Inbound relayed links by peer, with the IP the relay saw the peer's own link come from (`obs` of NAT_RELAY_INCOMING). */
  readonly relayObs = new Map<string, { link: Link; obs: string }>()
  /** Relay links that carried a link found dead: not picked again until they prove alive. */
  readonly suspectRelays = new WeakSet<Link>()
  /** The cached NAT behaviour or a new round (set by the service: its rediscovery). */
  discover: (refresh?: boolean) => Promise<NatBehavior> = () => Promise.reject(new NatError('nat_not_started', 'NAT service not started'))
  #active = 0

  /** Every error contained in a NAT timer or socket callback: logged and counted; the operation it belonged to ends. */
  readonly sink: NatErrorSink = (op, err) => {
    this.metrics.errors.inc({ op })
    this.log.warn({ op, err: err instanceof Error ? err.message : String(err) }, 'NAT callback failed (contained)')
  }

  constructor(init: NatServiceInit) {
    this.init = init
    this.cfg = init.config
    this.log = init.logger ?? silentLogger
    this.components = init.components
    this.metrics = new NatMetrics(init.metrics)
    this.clock = guardedClock(init.components.clock, this.sink)
    this.policy = init.addressPolicy ?? new AddressPolicy('auto', [init.config.udpHost])
    const p = init.config.punch
    this.gate = new InboundPunchGate({
      perPeerBurst: p.inboundPerPeerBurst, perPeerPerMinute: p.inboundPerPeerPerMinute,
      globalBurst: p.inboundGlobalBurst, globalPerMinute: p.inboundGlobalPerMinute,
    }, this.clock)
  }

  /** The caller's signal combined with the shutdown (stop() aborts every operation in flight); detach in `finally`. */
  op(signal?: AbortSignal): OpSignal { return opSignal(this.shutdown.signal, signal) }

  signalOpts(signal: AbortSignal): { clock: Clock; escalateAfterMs: number; signal: AbortSignal } {
    return { clock: this.clock, escalateAfterMs: this.cfg.punch.escalateAfterMs, signal }
  }

  /** Takes one of the MAX_CONCURRENT_PUNCHES slots; `leave()` gives it back. */
  enter(): void {
    if (this.#active >= MAX_CONCURRENT_PUNCHES) throw new NatError('nat_busy', 'too many punch attempts in progress')
    this.#active++
  }

  leave(): void { this.#active-- }

  /** What every punch session of this node shares: address rules, contained errors, counters, injected I/O. */
  sessionHooks(): Pick<PunchSessionInit, 'allowTarget' | 'onError' | 'onSent' | 'onSocket' | 'unsolicitedChecks' | 'idleMs' | 'inboundBirthday' | 'trustedRelayHosts' | 'bindUdp' | 'random' | 'clock'> {
    return {
      trustedRelayHosts: this.cfg.turn.servers.map((t) => parseHp(t.server).host),
      allowTarget: (host) => this.policy.allows(host), onError: this.sink,
      onSent: (role) => this.metrics.probes.inc({ role: role === 0 ? 'controlling' : 'controlled' }),
      onSocket: () => this.metrics.sockets.inc(),
      unsolicitedChecks: this.cfg.punch.unsolicitedChecks, idleMs: this.cfg.punch.inboundIdleMs,
      inboundBirthday: this.cfg.punch.inboundBirthday,
      bindUdp: this.components.bindUdp, random: this.components.random, clock: this.clock,
    }
  }

  session(remoteId: Uint8Array, nat: NatBehavior, o: { tcpPort?: number | undefined; provenHosts?: string[]; candidates?: Candidate[]; birthday?: false } = {}): PunchSession {
    return new PunchSession({
      identity: this.init.identity, remoteId, socket: this.socket!, nat,
      punch: o.birthday === false ? { ...this.cfg.punch, birthday: false } : this.cfg.punch,
      ...(o.tcpPort ? { tcpPort: o.tcpPort } : {}), ...(o.provenHosts ? { provenHosts: o.provenHosts } : {}),
      ...(o.candidates ? { candidates: o.candidates } : {}), ...this.sessionHooks(),
    })
  }

  /** A free local port for a `tcp` candidate, when TCP simultaneous open is on (none when it cannot be had). */
  async tcpPort(): Promise<number | undefined> {
    return this.cfg.punch.tcp ? freeTcpPort(this.components).catch(() => undefined) : undefined
  }

  /** A TURN allocation on the first configured server (its relayed address is offered as a `relay` candidate). */
  allocateTurn(signal: AbortSignal): Promise<TurnLeg> {
    const cfg = this.cfg.turn.servers[0]!
    return allocateTurnLeg({
      socket: this.socket!, server: parseHp(cfg.server), username: cfg.username, password: cfg.password, clock: this.clock, signal,
    })
  }

  /**
   * A TURN allocation for the first signed set (offer or answer), when TURN servers are configured and `ruledOut`
   * says the pair can be one without a direct path. Failing to allocate is not fatal: the set goes out without a
   * relay candidate.
   */
  async earlyTurn(ruledOut: boolean, signal: AbortSignal, role: string): Promise<TurnLeg | undefined> {
    if (this.cfg.turn.servers.length === 0 || !ruledOut) return undefined
    return this.allocateTurn(signal).catch((err: unknown) => {
      this.log.debug({ err: (err as Error).message, role }, 'TURN allocation for the first signed set failed')
      return undefined
    })
  }

  /** Our mapping can make a pair unpunchable (against another dependent mapping). */
  static mayNeedTurn(nat: NatBehavior): boolean { return !planFor(nat.mapping, 'address-port-dependent').udp }

  pickRendezvous(via?: Uint8Array): Link | undefined {
    if (via) return this.init.links.get(via)
    for (const id of this.cfg.rendezvous) { const l = this.init.links.get(id); if (l && !l.closed && !this.suspectRelays.has(l)) return l }
    return this.init.links.links().find((l) => !l.closed && !this.suspectRelays.has(l))
  }

  pickRelay(fallback: Link): Link | undefined {
    for (const id of this.cfg.relay.relays) { const l = this.init.links.get(id); if (l && !l.closed && !this.suspectRelays.has(l)) return l }
    return fallback.closed || this.suspectRelays.has(fallback) ? undefined : fallback
  }
}
