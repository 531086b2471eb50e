/**
 * The node's NAT traversal service, composed from its parts (issue 23 item 1): the injected components (UDP sockets,
 * TCP listeners, clock, random: components.ts), the shared state (core.ts), the caller's connect ladder
 * (connect.ts), the addressee role (inbound.ts), link adoption and liveness (adoption.ts). It binds the one udx
 * socket for STUN, punching and UDP links, runs RFC 5780 discovery and the STUN server role, serves signalling
 * through a rendezvous (NAT_SIGNAL / NAT_SIGNAL_DELIVER), and hands punched streams to the transport (`adoptStream`)
 * so the normal handshake and frames run over them. stop() aborts every operation and releases every held path.
 */
import type { Link } from '../interfaces/link.js'
import { toB64 } from '../util/bytes.js'
import { NatLinks } from './adoption.js'
import { connectPeer, type ConnectOptions, type ConnectResult } from './connect.js'
import { NatCore, parseHp, type NatServiceInit } from './core.js'
import { discoverNat, type NatBehavior } from './discovery.js'
import { NatError } from './errors.js'
import { onDeliver } from './inbound.js'
import { NatMessageType } from './messages.js'
import type { NatMetrics } from './metrics.js'
import { pairLabel } from './metrics.js'
import { NatRediscovery } from './rediscovery.js'
import { createRendezvousHandler } from './rendezvous.js'
import { RelayService } from './relay/relay.js'
import { SwitchableStream } from './relay/switchable.js'
import { signalRound } from './signalling.js'
import type { UdxDatagramSocket } from './socket.js'
import { StunClient } from './stun/client.js'
import { StunServer } from './stun/server.js'

export type { AdoptStream, NatServiceInit } from './core.js'
export { MAX_CONCURRENT_PUNCHES } from './core.js'
export type { ConnectResult } from './connect.js'

const MAX_ECHO_BYTES = 64 * 1024

export class NatService {
  readonly #core: NatCore
  readonly #links: NatLinks
  readonly #rediscovery: NatRediscovery
  #server: StunServer | undefined
  #unsubs: Array<() => void> = []
  #starting: Promise<void> | undefined

  constructor(init: NatServiceInit) {
    const core = this.#core = new NatCore(init)
    this.#links = new NatLinks(core, { connect: (id) => this.connect(id), upgrade: (id) => this.upgrade(id) })
    this.#rediscovery = new NatRediscovery({
      run: () => this.#discoverRound(), clock: core.clock, periodMs: core.cfg.rediscoverMs,
      onError: (err) => core.log.warn({ err: (err as Error).message }, 'NAT discovery failed'),
    })
    core.discover = (refresh) => this.#rediscovery.discover(refresh)
  }

  get metrics(): NatMetrics { return this.#core.metrics }
  get socket(): UdxDatagramSocket | undefined { return this.#core.socket }
  get behavior(): NatBehavior | undefined { return this.#rediscovery.behavior }
  get relayCircuits(): number { return this.#core.relay?.circuitCount ?? 0 }

  /** Idempotent: a second call returns the first start (it must not bind a second socket). */
  start(): Promise<void> {
    this.#starting ??= this.#start()
    return this.#starting
  }

  async #start(): Promise<void> {
    const core = this.#core
    const cfg = core.cfg
    const socket = core.socket = core.components.bindUdp(cfg.udpPort, cfg.udpHost)
    socket.errorSink = core.sink
    core.stun = new StunClient({ socket, rtoMs: 100, maxTransmits: 3 })
    if (cfg.stunServer.enabled) {
      const alt = cfg.stunServer.alternate
      this.#server = new StunServer({
        primary: parseHp(cfg.stunServer.primary), ...(alt ? { alternate: parseHp(alt) } : {}),
        maxRepliesPerSecond: cfg.stunServer.maxRepliesPerSecond, onError: core.sink,
      })
      await this.#server.start()
    }
    const r = core.init.router
    core.relay = new RelayService({
      config: cfg.relay, router: r, links: core.init.links, logger: core.log,
      ...(core.init.usage ? { usage: core.init.usage } : {}),
      accept: (from, stream, relay, obs) => { this.#acceptRelayed(from, new SwitchableStream(stream), relay, obs); return true },
    })
    core.relay.start()
    this.#unsubs.push(
      r.handle(NatMessageType.NAT_SIGNAL, createRendezvousHandler({ links: core.init.links, config: cfg, clock: core.clock })),
      r.handle(NatMessageType.NAT_SIGNAL_DELIVER, (m) => onDeliver(core, this.#links, m.link, m.body, m.reply)),
      r.handle(NatMessageType.NAT_ECHO, (m) => {
        if (m.body.length > MAX_ECHO_BYTES) throw new NatError('nat_echo_size', 'echo too large')
        m.reply?.(NatMessageType.NAT_ECHO, m.body)
      }),
    )
    if (cfg.stunServers.length > 0) this.#rediscovery.start()
  }

  /** An inbound relayed link: adopted, tracked for an upgrade, with the relay's observation of the opener's IP. */
  #acceptRelayed(from: Uint8Array, sw: SwitchableStream, relay: Link, obs: string | undefined): void {
    const core = this.#core
    this.#links.adopt(sw, false, from, relay.peer.remoteAddr)
      .then((link) => {
        this.#links.trackRelayed(from, sw, link, false)
        // what an upgrade over this link may punch towards
        if (obs) {
          const key = toB64(from)
          core.relayObs.set(key, { link, obs })
          link.onClose(() => { if (core.relayObs.get(key)?.link === link) core.relayObs.delete(key) })
        }
        core.metrics.outcome('relayed', 'relay', 'inbound', 0)
      })
      .catch((err: unknown) => core.log.debug({ err: (err as Error).message }, 'inbound relayed link failed'))
  }

  /** The cached NAT behaviour, or a new RFC 5780 round when `refresh` (or none is cached yet). */
  discover(refresh = false): Promise<NatBehavior> { return this.#rediscovery.discover(refresh) }

  /** One RFC 5780 round against the configured STUN servers (the first that answers). */
  async #discoverRound(): Promise<NatBehavior> {
    const core = this.#core
    const local = core.socket!.address()
    let last: unknown
    for (const s of core.cfg.stunServers) {
      try {
        const b = await discoverNat(core.stun!, parseHp(s), { localPort: local.port })
        core.log.info({ mapping: b.mapping, filtering: b.filtering, publicAddr: b.publicAddr }, 'NAT behaviour')
        return b
      } catch (err) { last = err }
    }
    if (core.cfg.stunServers.length === 0) return { mapping: 'unknown', filtering: 'unknown', publicAddr: { host: '0.0.0.0', port: 0 } }
    throw new NatError('nat_discovery', 'no STUN server answered', { cause: last })
  }

  /** Reaches `nodeId` (see connect.ts for the ladder), signalling through `via` (a linked rendezvous) or any configured one. */
  connect(nodeId: Uint8Array, opts: ConnectOptions = {}): Promise<ConnectResult> {
    return connectPeer(this.#core, this.#links, nodeId, opts)
  }

  /**
   * Tries to move the relayed link to `nodeId` onto a punched path, signalling over the relayed link itself. The
   * link, its session and everything above it continue unchanged.
   */
  async upgrade(nodeId: Uint8Array, opts: { signal?: AbortSignal } = {}): Promise<{ method: string; ms: number }> {
    const core = this.#core
    const op = core.op(opts.signal)
    try {
      const sw = core.relayed.get(toB64(nodeId))
      const link = core.init.links.get(nodeId)
      if (!sw || !link) throw new NatError('nat_not_relayed', 'no relayed link to this peer')
      if (sw.upgraded) return { method: 'already', ms: 0 }
      const t0 = performance.now()
      const nat = await core.discover()
      core.enter()
      try {
        const session = core.session(nodeId, nat)
        const { answer, syncAt } = await signalRound(link, session.offer(), core.signalOpts(op.signal))
        session.acceptAnswer(answer)
        const pair = pairLabel(nat.mapping, session.remote!.mapping)
        const path = await session.connect({ syncAt, signal: op.signal })
        this.#links.holdPath(path, link)
        sw.upgrade(path.stream)
        const ms = performance.now() - t0
        core.metrics.outcome('punched', 'upgrade', pair, ms)
        return { method: path.method, ms }
      } finally {
        core.leave()
      }
    } finally {
      op.detach()
    }
  }

  async stop(): Promise<void> {
    const core = this.#core
    if (core.stopped) return
    core.stopped = true
    this.#rediscovery.stop()
    this.#links.stop()
    for (const u of this.#unsubs) u()
    this.#unsubs = []
    core.relay?.stop()
    core.shutdown.abort(new NatError('nat_stopped', 'NAT service stopped'))
    // every held path's stream and socket (birthday and synchronised-pair sockets, TURN allocations included)
    await core.paths.releaseAll()
    core.stun?.destroy()
    await this.#server?.stop()
    await core.socket?.close()
  }
}
