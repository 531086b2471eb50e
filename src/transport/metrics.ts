/** Transport metrics on the injected prom-client Registry (reused if another manager already registered them). */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { messageTypeName } from '../wire/message-types.js'

const instances = new WeakMap<Registry, Set<TransportMetrics>>()

function getOrCreate<T>(reg: Registry, name: string, make: () => T): T {
  return (reg.getSingleMetric(name) as T | undefined) ?? make()
}

export class TransportMetrics {
  readonly registry: Registry
  readonly frames: Counter<'type' | 'direction'>
  readonly bytes: Counter<'type' | 'direction'>
  readonly handshakes: Counter<'outcome'>
  readonly handshakeSeconds: Histogram<'outcome'>
  readonly refusals: Counter<'reason'>
  readonly peers: Gauge<string>
  // hot-path counters, indexed by type * 2 + direction; folded into the prom-client counters on each scrape
  readonly #frameCount = new Float64Array(512)
  readonly #byteCount = new Float64Array(512)
  readonly #frameDone = new Float64Array(512)
  readonly #byteDone = new Float64Array(512)

  constructor(registry?: Registry) {
    const reg = registry ?? new Registry()
    this.registry = reg
    const registers = [reg]
    let set = instances.get(reg)
    if (!set) { set = new Set(); instances.set(reg, set) }
    set.add(this)
    const sync = (): void => { for (const m of instances.get(reg) ?? []) m.#sync() }
    this.frames = getOrCreate(reg, 'zeone_frames_total', () => new Counter({ name: 'zeone_frames_total', help: 'Application frames by message type and direction', labelNames: ['type', 'direction'] as const, registers, collect: sync }))
    this.bytes = getOrCreate(reg, 'zeone_frame_bytes_total', () => new Counter({ name: 'zeone_frame_bytes_total', help: 'Application payload bytes by message type and direction', labelNames: ['type', 'direction'] as const, registers, collect: sync }))
    this.handshakes = getOrCreate(reg, 'zeone_handshakes_total', () => new Counter({ name: 'zeone_handshakes_total', help: 'Handshakes by outcome (ok or the refusal reason)', labelNames: ['outcome'] as const, registers }))
    this.handshakeSeconds = getOrCreate(reg, 'zeone_handshake_duration_seconds', () => new Histogram({ name: 'zeone_handshake_duration_seconds', help: 'Time from connection to session', labelNames: ['outcome'] as const, buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 10], registers }))
    this.refusals = getOrCreate(reg, 'zeone_refusals_total', () => new Counter({ name: 'zeone_refusals_total', help: 'Refused connections, frames and messages by reason', labelNames: ['reason'] as const, registers }))
    this.peers = getOrCreate(reg, 'zeone_peers_connected', () => new Gauge({ name: 'zeone_peers_connected', help: 'Authenticated links currently open', registers }))
  }

  /** Counts one frame (a few array writes; the labelled counters are updated when scraped). */
  frame(type: number, direction: 'in' | 'out', bytes: number): void {
    const k = type * 2 + (direction === 'in' ? 0 : 1)
    this.#frameCount[k]!++
    this.#byteCount[k]! += bytes
  }

  /** Stops reporting this instance's counters (after a final fold). */
  detach(): void {
    this.#sync()
    instances.get(this.registry)?.delete(this)
  }

  #sync(): void {
    for (let k = 0; k < 512; k++) {
      const df = this.#frameCount[k]! - this.#frameDone[k]!
      if (df === 0) continue
      const labels = { type: messageTypeName(k >> 1), direction: k & 1 ? 'out' : 'in' }
      this.frames.inc(labels, df)
      this.bytes.inc(labels, this.#byteCount[k]! - this.#byteDone[k]!)
      this.#frameDone[k] = this.#frameCount[k]!
      this.#byteDone[k] = this.#byteCount[k]!
    }
  }

  refuse(reason: string): void { this.refusals.inc({ reason }) }
}
