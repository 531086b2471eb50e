/**
 * Relay circuits between two peers that cannot punch. Relay role: NAT_RELAY_OPEN from A names B by node id; the
 * relay asks B (NAT_RELAY_INCOMING), then forwards NAT_RELAY_DATA between the two links, metering the bytes into
 * the usage meter. Peers are authenticated by the links' handshakes (node identity); limits cap circuits per peer,
 * in total and bytes per circuit; peers on private/loopback addresses are refused unless configured.
 * Endpoint role: opens/accepts circuits and hands them to the transport as a Duplex (CircuitStream).
 */
import type { Link, MessageRouter } from '../../interfaces/link.js'
import type { UsageMeter } from '../../interfaces/services.js'
import { silentLogger, type Logger } from '../../interfaces/logger.js'
import { ZeoneError } from '../../util/errors.js'
import type { NatConfig } from '../config.js'
import { NatError } from '../errors.js'
import { decodeRelayCtl, decodeRelayData, encodeRelayCtl, encodeRelayData, NatMessageType } from '../messages.js'
import { isPublicAddress } from '../../util/address-class.js'
import { CircuitStream } from './circuit-stream.js'
import { observedHost } from '../rendezvous.js'

interface Circuit { id: number; a: Link; b: Link; bytes: number; unmetered: number; unsubs: Array<() => void>; switched: Set<Link> }

export interface RelayInit {
  config: NatConfig['relay']
  router: MessageRouter
  links: { get(id: Uint8Array): Link | undefined }
  usage?: () => UsageMeter | undefined
  logger?: Logger
  /** Decides whether to accept an incoming circuit from `from` (endpoint role). @default accept */
  accept?: (from: Uint8Array, stream: CircuitStream, relay: Link, obs?: string) => boolean
}

/** Relayed bytes are reported to the meter in batches of this size (and when the circuit closes). */
const METER_BATCH = 256 * 1024

export class RelayService {
  readonly #init: RelayInit
  readonly #log: Logger
  readonly #circuits = new Map<number, Circuit>()
  readonly #ends = new Map<string, CircuitStream>()
  #nextId = 1
  #unsubs: Array<() => void> = []

  constructor(init: RelayInit) {
    this.#init = init
    this.#log = init.logger ?? silentLogger
  }

  get circuitCount(): number { return this.#circuits.size }

  start(): void {
    const r = this.#init.router
    this.#unsubs.push(
      r.handle(NatMessageType.NAT_RELAY_OPEN, (m) => this.#onOpen(m.link, m.body, m.reply)),
      r.handle(NatMessageType.NAT_RELAY_INCOMING, (m) => this.#onIncoming(m.link, m.body, m.reply)),
      r.handle(NatMessageType.NAT_RELAY_DATA, (m) => this.#onData(m.link, m.body)),
      r.handle(NatMessageType.NAT_RELAY_CLOSE, (m) => this.#onClose(m.link, m.body)),
      r.handle(NatMessageType.NAT_RELAY_SWITCH, (m) => this.#onSwitch(m.link, m.body)),
    )
  }

  /** Endpoint: opens a circuit to `to` through `relay`. */
  async open(relay: Link, to: Uint8Array, signal?: AbortSignal): Promise<CircuitStream> {
    const r = await relay.request(NatMessageType.NAT_RELAY_OPEN, encodeRelayCtl({ v: 1, to }), { timeoutMs: 10_000, ...(signal ? { signal } : {}) })
    const m = decodeRelayCtl(r.body)
    if (r.type !== NatMessageType.NAT_RELAY_OPENED || m.c === undefined) throw new NatError('nat_relay_refused', `relay refused: ${m.error ?? 'no circuit'}`)
    return this.#endpoint(relay, m.c)
  }

  #endpoint(relay: Link, c: number): CircuitStream {
    const key = `${relay.peer.nodeIdB64}:${c}`
    const s = new CircuitStream(relay, c)
    this.#ends.set(key, s)
    s.once('close', () => { if (this.#ends.get(key) === s) this.#ends.delete(key) })
    return s
  }

  #onOpen(from: Link, body: Uint8Array, reply?: (t: number, b: Uint8Array) => boolean): Promise<void> | void {
    if (!reply) return
    const refuse = (error: string): void => { reply(NatMessageType.NAT_RELAY_OPENED, encodeRelayCtl({ v: 1, error })) }
    const cfg = this.#init.config
    const m = decodeRelayCtl(body)
    if (!cfg.enabled) return refuse('relay disabled')
    if (!m.to) return refuse('missing `to`')
    if (this.#circuits.size >= cfg.maxCircuits) return refuse('relay full')
    let mine = 0
    for (const c of this.#circuits.values()) if (c.a === from) mine++
    if (mine >= cfg.maxCircuitsPerPeer) return refuse('too many circuits')
    try { this.#init.usage?.()?.authorize(from.peer.nodeId, 'relay') } catch (err) { return refuse(err instanceof ZeoneError ? err.code : 'unauthorized') }
    const target = this.#init.links.get(m.to)
    if (!target) return refuse('peer not connected here')
    // the shared classifier (src/util/address-class.ts): anything but a public address (loopback, private, link-local,
    // CGNAT, metadata, reserved, unspecified) needs allowPrivatePeers
    if (!cfg.allowPrivatePeers && (!isPublicAddress(target.peer.remoteAddr.host) || !isPublicAddress(from.peer.remoteAddr.host))) {
      return refuse('private peer address')
    }
    // the opener's IP as we see it: the target may punch towards it when the circuit is upgraded later
    const obs = observedHost(from.peer.remoteAddr.host)
    const id = this.#nextId
    this.#nextId = (this.#nextId % 0xfffffffe) + 1
    return target.request(NatMessageType.NAT_RELAY_INCOMING, encodeRelayCtl({ v: 1, from: from.peer.nodeId, c: id, ...(obs ? { obs } : {}) }), { timeoutMs: 8000 })
      .then((r) => {
        const a = decodeRelayCtl(r.body)
        if (r.type !== NatMessageType.NAT_RELAY_OPENED || a.error) return refuse(`peer declined: ${a.error ?? 'no'}`)
        if (from.closed || target.closed) return refuse('link closed')
        const circuit: Circuit = { id, a: from, b: target, bytes: 0, unmetered: 0, unsubs: [], switched: new Set() }
        circuit.unsubs.push(from.onClose(() => this.#drop(circuit, true)), target.onClose(() => this.#drop(circuit, true)))
        this.#circuits.set(id, circuit)
        reply(NatMessageType.NAT_RELAY_OPENED, encodeRelayCtl({ v: 1, c: id }))
      }, () => refuse('peer did not answer'))
  }

  #onIncoming(relay: Link, body: Uint8Array, reply?: (t: number, b: Uint8Array) => boolean): void {
    if (!reply) return
    const m = decodeRelayCtl(body)
    if (!m.from || m.c === undefined) throw new NatError('nat_bad_relay', 'NAT_RELAY_INCOMING without from/c')
    const s = this.#endpoint(relay, m.c)
    const ok = this.#init.accept?.(m.from, s, relay, m.obs) ?? false
    if (!ok) { this.#ends.delete(`${relay.peer.nodeIdB64}:${m.c}`); reply(NatMessageType.NAT_RELAY_OPENED, encodeRelayCtl({ v: 1, error: 'declined' })); return }
    reply(NatMessageType.NAT_RELAY_OPENED, encodeRelayCtl({ v: 1, c: m.c }))
  }

  #onData(link: Link, body: Uint8Array): void {
    const { c, d } = decodeRelayData(body)
    const end = this.#ends.get(`${link.peer.nodeIdB64}:${c}`)
    if (end) { end.deliver(d); return }
    const circuit = this.#circuits.get(c)
    if (!circuit || (circuit.a !== link && circuit.b !== link)) return
    const to = circuit.a === link ? circuit.b : circuit.a
    circuit.bytes += d.length
    circuit.unmetered += d.length
    const max = this.#init.config.maxBytesPerCircuit
    if (max > 0 && circuit.bytes > max) { this.#drop(circuit, true); return }
    to.send(NatMessageType.NAT_RELAY_DATA, encodeRelayData(c, d))
    if (circuit.unmetered >= METER_BATCH) this.#meter(circuit)
  }

  #onClose(link: Link, body: Uint8Array): void {
    const m = decodeRelayCtl(body)
    if (m.c === undefined) return
    const end = this.#ends.get(`${link.peer.nodeIdB64}:${m.c}`)
    if (end) { end.remoteClose(); return }
    const circuit = this.#circuits.get(m.c)
    if (circuit && (circuit.a === link || circuit.b === link)) this.#drop(circuit, true)
  }

  #onSwitch(link: Link, body: Uint8Array): void {
    const m = decodeRelayCtl(body)
    if (m.c === undefined) return
    const end = this.#ends.get(`${link.peer.nodeIdB64}:${m.c}`)
    if (end) { end.remoteSwitch(); return }
    const circuit = this.#circuits.get(m.c)
    if (!circuit || (circuit.a !== link && circuit.b !== link)) return
    const to = circuit.a === link ? circuit.b : circuit.a
    to.send(NatMessageType.NAT_RELAY_SWITCH, encodeRelayCtl({ v: 1, c: m.c }))
    circuit.switched.add(link)
    if (circuit.switched.size === 2) this.#drop(circuit, false)
  }

  /** The opener (`a`) pays for the circuit: relayed bytes are recorded as served to it. */
  #meter(c: Circuit): void {
    if (c.unmetered === 0) return
    const units = BigInt(c.unmetered)
    c.unmetered = 0
    try { this.#init.usage?.()?.record(c.a.peer.nodeId, 'relay', units, 'served') } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'relay metering failed')
    }
  }

  #drop(c: Circuit, notify: boolean): void {
    if (this.#circuits.get(c.id) !== c) return
    this.#circuits.delete(c.id)
    for (const u of c.unsubs) u()
    this.#meter(c)
    if (notify) {
      for (const l of [c.a, c.b]) if (!l.closed) l.send(NatMessageType.NAT_RELAY_CLOSE, encodeRelayCtl({ v: 1, c: c.id }))
    }
  }

  stop(): void {
    for (const u of this.#unsubs) u()
    this.#unsubs = []
    for (const c of [...this.#circuits.values()]) this.#drop(c, true)
    for (const s of [...this.#ends.values()]) s.destroy()
    this.#ends.clear()
  }
}
