/** Transport metrics on the injected prom-client Registry (reused if another manager already registered them). */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { messageTypeName } from '../wire/message-types.js'

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
  readonly #children = new Map<number, { f: ReturnType<Counter<'type' | 'direction'>['labels']>; b: ReturnType<Counter<'type' | 'direction'>['labels']> }>()

  constructor(registry?: Registry) {
    const reg = registry ?? new Registry()
    this.registry = reg
    const registers = [reg]
    this.frames = getOrCreate(reg, 'zeone_frames_total', () => new Counter({ name: 'zeone_frames_total', help: 'Application frames by message type and direction', labelNames: ['type', 'direction'] as const, registers }))
    this.bytes = getOrCreate(reg, 'zeone_frame_bytes_total', () => new Counter({ name: 'zeone_frame_bytes_total', help: 'Application payload bytes by message type and direction', labelNames: ['type', 'direction'] as const, registers }))
    this.handshakes = getOrCreate(reg, 'zeone_handshakes_total', () => new Counter({ name: 'zeone_handshakes_total', help: 'Handshakes by outcome (ok or the refusal reason)', labelNames: ['outcome'] as const, registers }))
    this.handshakeSeconds = getOrCreate(reg, 'zeone_handshake_duration_seconds', () => new Histogram({ name: 'zeone_handshake_duration_seconds', help: 'Time from connection to session', labelNames: ['outcome'] as const, buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 10], registers }))
    this.refusals = getOrCreate(reg, 'zeone_refusals_total', () => new Counter({ name: 'zeone_refusals_total', help: 'Refused connections, frames and messages by reason', labelNames: ['reason'] as const, registers }))
    this.peers = getOrCreate(reg, 'zeone_peers_connected', () => new Gauge({ name: 'zeone_peers_connected', help: 'Authenticated links currently open', registers }))
  }

  /** Counts one frame; child counters are cached per (type, direction) so the hot path does no label hashing. */
  frame(type: number, direction: 'in' | 'out', bytes: number): void {
    const k = type * 2 + (direction === 'in' ? 0 : 1)
    let c = this.#children.get(k)
    if (!c) {
      const labels = { type: messageTypeName(type), direction }
      c = { f: this.frames.labels(labels), b: this.bytes.labels(labels) }
      this.#children.set(k, c)
    }
    c.f.inc()
    c.b.inc(bytes)
  }

  refuse(reason: string): void { this.refusals.inc({ reason }) }
}
