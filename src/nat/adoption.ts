/**
 * Turning a NAT path into a link and keeping it honest: the transport adopts the stream (handshake, frames), the
 * path is held until the link closes (then released through the one PathSet release), liveness probes watch links
 * over UDX, TURN and relay circuits, a dead link's relay is checked and the link we opened is routed again, and
 * relayed links are tracked so they can move to a direct path later (upgrade timers).
 */
import type { Duplex } from 'node:stream'
import type { Endpoint, Link } from '../interfaces/link.js'
import { toB64 } from '../util/bytes.js'
import { adaptStream } from '../transport/stream-adapter.js'
import type { NatCore } from './core.js'
import { NatError } from './errors.js'
import { LinkLiveness } from './liveness.js'
import { NatMessageType } from './messages.js'
import type { PunchedPath } from './punch/session.js'
import { SwitchableStream } from './relay/switchable.js'

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

export class NatLinks {
  readonly #core: NatCore
  readonly liveness: LinkLiveness
  /** Links we opened (connect), routed again when found dead. */
  readonly #opened = new Set<Link>()
  readonly #upgradeTimers = new Set<{ cancel(): void }>()
  /** Reaches a peer again (the service's connect). */
  readonly #connect: (nodeId: Uint8Array) => Promise<{ method: string; ms: number }>
  /** Moves a relayed link to a punched path (the service's upgrade). */
  readonly #upgrade: (nodeId: Uint8Array) => Promise<unknown>

  constructor(core: NatCore, o: { connect: (nodeId: Uint8Array) => Promise<{ method: string; ms: number }>; upgrade: (nodeId: Uint8Array) => Promise<unknown> }) {
    this.#core = core
    this.#connect = o.connect
    this.#upgrade = o.upgrade
    const lv = core.cfg.liveness
    this.liveness = new LinkLiveness({
      clock: core.clock, intervalMs: lv.intervalMs, timeoutMs: lv.timeoutMs, misses: lv.misses,
      probe: async (link, timeoutMs) => { await link.request(NatMessageType.NAT_ECHO, new Uint8Array(8), { timeoutMs }) },
      onDead: (link, why) => this.#onDead(link, why),
    })
  }

  stop(): void {
    this.liveness.stop()
    for (const t of this.#upgradeTimers) t.cancel()
    this.#upgradeTimers.clear()
  }

  /** Adopts a punched path (held until the link closes; `also`: what else it holds, e.g. a TURN allocation). */
  async adoptPath(path: PunchedPath, outbound: boolean, nodeId: Uint8Array, also?: () => Promise<void>): Promise<Link> {
    const paths = this.#core.paths
    paths.hold(path, also)
    const release = (): void => { void paths.release(path) }
    try {
      const link = await this.adopt(path.stream, outbound, nodeId, path.remote)
      link.onClose(release)
      return link
    } catch (err) {
      release()
      throw err
    }
  }

  /** Keeps a punched path (socket, listener) for as long as `link` lives (a relayed link moved onto it). */
  holdPath(path: PunchedPath, link: Link): void {
    this.#core.paths.hold(path)
    link.onClose(() => { void this.#core.paths.release(path) })
  }

  async adopt(stream: Duplex, outbound: boolean, nodeId: Uint8Array, remoteAddr: Endpoint): Promise<Link> {
    const core = this.#core
    const adopt = core.init.links.adoptStream
    if (!adopt) { stream.destroy(); throw new NatError('nat_no_transport', 'transport cannot adopt streams') }
    stream.on('error', () => { /* surfaced through the link's close */ })
    const link = await adopt.call(core.init.links, stream, { outbound, remoteAddr, expectNodeId: nodeId })
    if (core.cfg.liveness.enabled && core.init.links.get(nodeId) === link) {
      const kind = adaptStream(stream).kind
      const heard = this.liveness.watch(link, progressOf(stream, kind))
      // inbound bytes are proof of life (a busy link needs no probes); a TCP socket reads into slabs, not 'data'
      if (kind !== 'tcp') stream.on('data', heard)
      if (outbound) this.#opened.add(link)
      link.onClose((reason) => {
        if (!this.#opened.delete(link) || core.stopped) return
        // the relay under it went away (killed, or its link closed): nothing was wrong with the peer, route again
        const relay = stream instanceof SwitchableStream && !stream.upgraded ? stream.circuit.relay : undefined
        if (relay?.closed) {
          core.suspectRelays.add(relay)
          void this.#reroute(link, `relay link closed (${reason})`)
        }
      })
    }
    return link
  }

  /** A relayed link (either side); the initiator retries an upgrade to a direct path every `upgradeIntervalMs`. */
  trackRelayed(nodeId: Uint8Array, sw: SwitchableStream, link: Link, initiator: boolean): void {
    const core = this.#core
    const key = toB64(nodeId)
    core.relayed.set(key, sw)
    link.onClose(() => { if (core.relayed.get(key) === sw) core.relayed.delete(key) })
    const every = core.cfg.relay.upgradeIntervalMs
    if (!initiator || every <= 0) return
    const again = (): void => {
      const t = core.clock.setTimeout(() => {
        this.#upgradeTimers.delete(t)
        if (core.stopped || link.closed || sw.upgraded) return
        this.#upgrade(nodeId).catch(() => {}).finally(again)
      }, every)
      this.#upgradeTimers.add(t)
    }
    again()
  }

  /**
   * A link stopped answering (about to be closed). The relay it ran over, if any, is checked too (a black-holed relay
   * keeps its TCP link open for minutes); a link we opened is then routed again, avoiding what is dead.
   */
  #onDead(link: Link, why: string): void {
    const core = this.#core
    core.metrics.errors.inc({ op: 'liveness.dead' })
    core.log.warn({ peer: link.peer.nodeIdB64, via: link.peer.route?.via, why }, 'NAT link dead')
    const relayed = link.peer.route?.via === 'relay' ? this.#relayLinkOf(link) : undefined
    // taken now: the link closes right after this returns, and its close removes it from #opened
    const ours = this.#opened.delete(link)
    void (async () => {
      if (relayed && !relayed.closed) {
        const ok = await relayed.request(NatMessageType.NAT_ECHO, new Uint8Array(8), { timeoutMs: core.cfg.liveness.timeoutMs }).then(() => true, () => false)
        if (!ok) { core.suspectRelays.add(relayed); relayed.close('path_dead: relay does not answer') }
      }
      if (ours) await this.#reroute(link, why)
    })().catch((err: unknown) => core.log.warn({ peer: link.peer.nodeIdB64, err: (err as Error).message }, 'routing a dead link again failed'))
  }

  /**
   * Reaches the peer of a dead link we opened again (connect skips what is suspect), unless a new link to it exists
   * already. Tried a few times: the peer may still hold the dead link, or a relay may be in the middle of going away.
   */
  async #reroute(dead: Link, why: string): Promise<void> {
    const core = this.#core
    if (!core.cfg.liveness.reroute) return
    const id = dead.peer.nodeId
    for (let attempt = 0; attempt < 3 && !core.stopped; attempt++) {
      const now = core.init.links.get(id)
      if (now && now !== dead && !now.closed) return
      try {
        const r = await this.#connect(id)
        core.metrics.errors.inc({ op: 'liveness.rerouted' })
        core.log.info({ peer: dead.peer.nodeIdB64, why, method: r.method, ms: Math.round(r.ms) }, 'dead NAT link routed again')
        return
      } catch (err) {
        core.log.warn({ peer: dead.peer.nodeIdB64, attempt, err: (err as Error).message }, 'routing a dead link again failed')
        await new Promise<void>((r) => core.clock.setTimeout(r, 500 * (attempt + 1)))
      }
    }
  }

  /** The relay link under a relayed link (its circuit's). */
  #relayLinkOf(link: Link): Link | undefined {
    const sw = this.#core.relayed.get(link.peer.nodeIdB64)
    return sw && !sw.upgraded ? sw.circuit.relay : undefined
  }
}
