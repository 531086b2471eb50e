/**
 * The node's NAT traversal service: one udx socket for STUN, punching and UDP links; RFC 5780 discovery; the STUN
 * server role; signalling through a rendezvous (NAT_SIGNAL / NAT_SIGNAL_DELIVER); punching; and handing the punched
 * udx stream to the transport (`adoptStream`) so the normal handshake and frames run over it.
 */
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
import { decodeAnswer, decodeSignal, encodeAnswer, encodeSignal, NatMessageType } from './messages.js'
import { NatMetrics, pairLabel, type Outcome } from './metrics.js'
import { PunchSession, type PunchedPath, type PunchSessionInit } from './punch/session.js'
import { UdxDatagramSocket, type DatagramSocket, type Rinfo } from './socket.js'
import { StunClient } from './stun/client.js'
import { StunServer } from './stun/server.js'
import { RelayService } from './relay/relay.js'
import { SwitchableStream } from './relay/switchable.js'
import { createRendezvousHandler, observedHost } from './rendezvous.js'
import { freeTcpPort } from './punch/tcp-open.js'
import { TurnClient } from './turn/client.js'
import { TurnBridge } from './turn/bridge.js'
import { candidatePriority } from './punch/candidates.js'
import type { UsageMeter } from '../interfaces/services.js'
import type { Duplex } from 'node:stream'

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

export interface ConnectResult { link: Link; method: string; ms: number; remote: Rinfo; pair: string }

/** Most punch attempts running at once (each may hold up to `birthdaySockets` sockets). */
export const MAX_CONCURRENT_PUNCHES = 4
const MAX_ECHO_BYTES = 64 * 1024

/** 'direct' when neither side is behind a NAT (nothing had to be punched), else 'punched'. */
const outcomeOf = (pair: string, method: string): Outcome => (pair === 'open-open' && method === 'direct' ? 'direct' : 'punched')

const parseHp = (s: string): Rinfo => { const i = s.lastIndexOf(':'); return { host: s.slice(0, i), port: Number(s.slice(i + 1)) } }

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
  readonly #paths = new Set<PunchedPath>()
  #stopped = false
  #relay: RelayService | undefined
  /** Relayed links by peer (base64 node id), which may still move to a direct path. */
  readonly #relayed = new Map<string, SwitchableStream>()
  readonly #upgradeTimers = new Set<{ cancel(): void }>()
  /** Inbound relayed links by peer, with the IP the relay saw the peer's own link come from (`obs` of NAT_RELAY_INCOMING). */
  readonly #relayObs = new Map<string, { link: Link; obs: string }>()
  readonly #policy: AddressPolicy
  readonly #gate: InboundPunchGate
  /** Every error contained in a NAT timer or socket callback: logged and counted; the operation it belonged to ends. */
  readonly #sink: NatErrorSink = (op, err) => {
    this.metrics.errors.inc({ op })
    this.#log.warn({ op, err: err instanceof Error ? err.message : String(err) }, 'NAT callback failed (contained)')
  }

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
    this.#rediscovery = new NatRediscovery({
      run: () => this.#discoverRound(), clock: this.#clock, periodMs: this.#cfg.rediscoverMs,
      onError: (err) => this.#log.warn({ err: (err as Error).message }, 'NAT discovery failed'),
    })
  }

  get socket(): UdxDatagramSocket | undefined { return this.#socket }
  get behavior(): NatBehavior | undefined { return this.#rediscovery.behavior }
  get relayCircuits(): number { return this.#relay?.circuitCount ?? 0 }

  async start(): Promise<void> {
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

  #session(remoteId: Uint8Array, nat: NatBehavior, tcpPort?: number, provenHosts?: string[]): PunchSession {
    return new PunchSession({
      identity: this.#init.identity, remoteId, socket: this.#socket!, nat, punch: this.#cfg.punch, clock: this.#clock,
      ...(tcpPort ? { tcpPort } : {}), ...(provenHosts ? { provenHosts } : {}), ...this.#sessionHooks(),
    })
  }

  /** UDP punching, then (if both sides offered a `tcp` candidate) TCP simultaneous open. */
  async #punchOrTcp(session: PunchSession, signal?: AbortSignal): Promise<{ path: PunchedPath } | { tcp: { socket: Duplex; remote: Rinfo } }> {
    try {
      return { path: await session.connect(signal ? { signal } : {}) }
    } catch (err) {
      if (!this.#cfg.punch.tcp || !session.targets().some((c) => c.kind === 'tcp') || signal?.aborted) throw err
      return { tcp: await session.tcpOpen({ timeoutMs: this.#cfg.punch.tcpTimeoutMs, ...(signal ? { signal } : {}) }) }
    }
  }

  async #tcpPort(): Promise<number | undefined> {
    return this.#cfg.punch.tcp ? freeTcpPort().catch(() => undefined) : undefined
  }

  /** Reaches `nodeId` over a punched UDP path, signalling through `via` (a linked rendezvous) or any configured one. */
  async connect(nodeId: Uint8Array, opts: { via?: Uint8Array; signal?: AbortSignal; relayOnly?: boolean } = {}): Promise<ConnectResult> {
    const t0 = performance.now()
    const existing = this.#init.links.get(nodeId)
    if (existing) return { link: existing, method: 'existing', ms: 0, remote: existing.peer.remoteAddr, pair: 'n/a' }
    const rendezvous = this.#pickRendezvous(opts.via)
    if (!rendezvous) throw new NatError('nat_no_rendezvous', 'no linked rendezvous to signal through')
    const nat = await this.discover()
    let pair = pairLabel(nat.mapping, 'unknown')
    this.#enter()
    try {
      if (opts.relayOnly) throw new NatError('nat_relay_only', 'relay requested')
      const session = this.#session(nodeId, nat, await this.#tcpPort())
      const reply = await rendezvous.request(NatMessageType.NAT_SIGNAL, encodeSignal({ v: 1, to: nodeId, offer: session.offer() }), { timeoutMs: 10_000 })
      const ans = decodeAnswer(reply.body)
      if (!ans.answer) throw new NatError('nat_signal_refused', `signalling refused: ${ans.error ?? reply.type}`)
      session.acceptAnswer(ans.answer)
      pair = pairLabel(nat.mapping, session.remote!.mapping)
      const got = await this.#punchOrTcp(session, opts.signal)
      if ('tcp' in got) {
        const link = await this.#adopt(got.tcp.socket, true, nodeId, got.tcp.remote)
        const ms = performance.now() - t0
        this.metrics.outcome('punched', 'tcp', pair, ms)
        return { link, method: 'tcp', ms, remote: got.tcp.remote, pair }
      }
      const path = got.path
      const link = await this.#adoptPath(path, true, nodeId)
      const ms = performance.now() - t0
      this.metrics.outcome(outcomeOf(pair, path.method), path.method, pair, ms)
      return { link, method: path.method, ms, remote: path.remote, pair }
    } catch (err) {
      const relay = (this.#cfg.relay.useRelays || opts.relayOnly) && !opts.signal?.aborted ? this.#pickRelay(rendezvous) : undefined
      if (relay) {
        try {
          const sw = new SwitchableStream(await this.#relay!.open(relay, nodeId))
          const link = await this.#adopt(sw, true, nodeId, relay.peer.remoteAddr)
          this.#trackRelayed(nodeId, sw, link, true)
          const ms = performance.now() - t0
          this.metrics.outcome('relayed', 'relay', pair, ms)
          return { link, method: 'relay', ms, remote: relay.peer.remoteAddr, pair }
        } catch (relayErr) {
          this.#log.debug({ err: (relayErr as Error).message }, 'relay fallback failed')
        }
      }
      if (this.#cfg.turn.servers.length > 0 && !opts.signal?.aborted) {
        try {
          const { path, release } = await this.#viaTurn(nodeId, rendezvous, nat)
          const link = await this.#adoptPath(path, true, nodeId)
          link.onClose(() => { void release() })
          const ms = performance.now() - t0
          this.metrics.outcome('relayed', 'turn', pair, ms)
          return { link, method: 'turn', ms, remote: path.remote, pair }
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

  /**
   * TURN fallback: allocate, offer the relayed address as a `relay` candidate (a second signalling round), and let the
   * peer's checks reach us through the allocation; our side of the path is the loopback proxy of a TurnBridge.
   */
  async #viaTurn(nodeId: Uint8Array, rendezvous: Link, nat: NatBehavior): Promise<{ path: PunchedPath; release: () => Promise<void> }> {
    const cfg = this.#cfg.turn.servers[0]!
    const turn = new TurnClient({ socket: this.#socket!, server: parseHp(cfg.server), username: cfg.username, password: cfg.password, clock: this.#clock })
    let bridge: TurnBridge | undefined
    const release = async (): Promise<void> => { await bridge?.close(); await turn.close() }
    try {
      const alloc = await turn.allocate()
      const session = new PunchSession({
        identity: this.#init.identity, remoteId: nodeId, socket: this.#socket!, nat, clock: this.#clock,
        punch: { ...this.#cfg.punch, birthday: false }, ...this.#sessionHooks(),
        candidates: [{ kind: 'relay', host: alloc.relayed.host, port: alloc.relayed.port, priority: candidatePriority('relay') }],
      })
      const reply = await rendezvous.request(NatMessageType.NAT_SIGNAL, encodeSignal({ v: 1, to: nodeId, offer: session.offer() }), { timeoutMs: 10_000 })
      const ans = decodeAnswer(reply.body)
      if (!ans.answer) throw new NatError('nat_signal_refused', `signalling refused: ${ans.error ?? reply.type}`)
      session.acceptAnswer(ans.answer)
      const peerHost = session.remote!.candidates.find((c) => c.kind === 'srflx')?.host
      if (!peerHost) throw new NatError('nat_turn', 'peer has no public address for a TURN permission')
      bridge = new TurnBridge(turn, peerHost)
      const proxy = await bridge.start({ host: '127.0.0.1', port: this.#socket!.address().port })
      session.addRemoteCandidate({ kind: 'relay', host: proxy.host, port: proxy.port, priority: 1 })
      return { path: await session.connect(), release }
    } catch (err) {
      await release()
      throw err
    }
  }

  #enter(): void {
    if (this.#active >= MAX_CONCURRENT_PUNCHES) throw new NatError('nat_busy', 'too many punch attempts in progress')
    this.#active++
  }

  #pickRendezvous(via?: Uint8Array): Link | undefined {
    if (via) return this.#init.links.get(via)
    for (const id of this.#cfg.rendezvous) { const l = this.#init.links.get(id); if (l) return l }
    return this.#init.links.links()[0]
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
  async upgrade(nodeId: Uint8Array): Promise<{ method: string; ms: number }> {
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
      const reply = await link.request(NatMessageType.NAT_SIGNAL_DELIVER, encodeSignal({ v: 1, offer: session.offer() }), { timeoutMs: 10_000 })
      const ans = decodeAnswer(reply.body)
      if (!ans.answer) throw new NatError('nat_signal_refused', `upgrade refused: ${ans.error ?? reply.type}`)
      session.acceptAnswer(ans.answer)
      pair = pairLabel(nat.mapping, session.remote!.mapping)
      const path = await session.connect()
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
    this.#paths.add(path)
    path.stream.on('error', () => {})
    link.onClose(() => {
      if (!this.#paths.delete(path)) return
      path.dispose()
      path.stream.destroy()
      if (path.socket !== (this.#socket as DatagramSocket)) void path.socket.close()
    })
  }

  #pickRelay(fallback: Link): Link | undefined {
    for (const id of this.#cfg.relay.relays) { const l = this.#init.links.get(id); if (l) return l }
    return fallback.closed ? undefined : fallback
  }

  async #adoptPath(path: PunchedPath, outbound: boolean, nodeId: Uint8Array): Promise<Link> {
    this.#paths.add(path)
    const release = (): void => {
      if (!this.#paths.delete(path)) return
      path.dispose()
      path.stream.destroy()
      if (path.socket !== (this.#socket as DatagramSocket)) void path.socket.close()
    }
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
    return adopt.call(this.#init.links, stream, { outbound, remoteAddr, expectNodeId: nodeId })
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
    // punch first (our mapping towards the peer exists before its checks reach our NAT), then answer
    const punching = this.#punchOrTcp(session)
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
    for (const t of this.#upgradeTimers) t.cancel()
    this.#upgradeTimers.clear()
    for (const u of this.#unsubs) u()
    this.#unsubs = []
    this.#relay?.stop()
    for (const p of [...this.#paths]) { p.dispose(); p.stream.destroy() }
    this.#paths.clear()
    this.#stun?.destroy()
    await this.#server?.stop()
    await this.#socket?.close()
  }
}

