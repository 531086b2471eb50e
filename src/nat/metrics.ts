/** NAT connection-outcome metrics on the node's prom-client registry. */
import { Counter, Histogram, type Registry } from 'prom-client'

export type Outcome = 'direct' | 'punched' | 'relayed' | 'failed'

const SHORT: Record<string, string> = {
  'none': 'open', 'endpoint-independent': 'eim', 'address-dependent': 'adm', 'address-port-dependent': 'apdm', 'unknown': 'unknown',
}

/** NAT pair label `<our mapping>-<their mapping>` with short names (eim, adm, apdm, open, unknown). */
export function pairLabel(self: string, remote: string): string {
  return `${SHORT[self] ?? 'unknown'}-${SHORT[remote] ?? 'unknown'}`
}

function reuse<T>(reg: Registry | undefined, name: string, make: () => T): T {
  const existing = reg?.getSingleMetric(name) as T | undefined
  return existing ?? make()
}

export class NatMetrics {
  readonly connections: Counter<'outcome' | 'method' | 'pair'>
  readonly seconds: Histogram<'outcome'>
  /** Errors thrown inside a timer or socket callback and contained (the operation ended, not the node). */
  readonly errors: Counter<'op'>
  /** ZNP1 probes sent, by our role (controlling = we initiated, controlled = a peer asked us). */
  readonly probes: Counter<'role'>
  /** Extra sockets opened for the birthday approach (only for connections we initiated). */
  readonly sockets: Counter
  /** Offers a peer sent us (NAT_SIGNAL_DELIVER), by what we did with them. */
  readonly inbound: Counter<'result'>
  constructor(reg?: Registry) {
    const registers = reg ? [reg] : []
    this.connections = reuse(reg, 'zeone_nat_connections_total', () => new Counter({
      name: 'zeone_nat_connections_total', help: 'NAT traversal outcomes by method and NAT pair type',
      labelNames: ['outcome', 'method', 'pair'] as const, registers,
    }))
    this.seconds = reuse(reg, 'zeone_nat_connect_seconds', () => new Histogram({
      name: 'zeone_nat_connect_seconds', help: 'time to a working connection (signalling + punching + handshake)',
      labelNames: ['outcome'] as const, buckets: [0.05, 0.1, 0.3, 0.5, 1, 2, 5, 10, 20], registers,
    }))
    this.errors = reuse(reg, 'zeone_nat_errors_total', () => new Counter({
      name: 'zeone_nat_errors_total', help: 'errors contained in NAT timer/socket callbacks (the operation ended, the node kept running)',
      labelNames: ['op'] as const, registers,
    }))
    this.probes = reuse(reg, 'zeone_nat_punch_probes_total', () => new Counter({
      name: 'zeone_nat_punch_probes_total', help: 'connectivity-check datagrams sent while punching, by our role',
      labelNames: ['role'] as const, registers,
    }))
    this.sockets = reuse(reg, 'zeone_nat_punch_sockets_total', () => new Counter({
      name: 'zeone_nat_punch_sockets_total', help: 'extra UDP sockets opened for the birthday approach', registers,
    }))
    this.inbound = reuse(reg, 'zeone_nat_inbound_punches_total', () => new Counter({
      name: 'zeone_nat_inbound_punches_total', help: 'offers received from peers (NAT_SIGNAL_DELIVER) by result',
      labelNames: ['result'] as const, registers,
    }))
  }

  outcome(outcome: Outcome, method: string, pair: string, ms: number): void {
    this.connections.inc({ outcome, method, pair })
    this.seconds.observe({ outcome }, ms / 1000)
  }
}
