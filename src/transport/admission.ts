/**
 * Who gets a session slot (hostile issue 14 part 3). Fresh identities cost nothing, so slots are rationed by
 * where a connection comes from and by what its peer is worth to us:
 * - inbound sessions per IP and per subnet (/24 for IPv4, /48 for IPv6) are capped, so one host or one hosting
 *   range cannot hold every slot;
 * - a share of the slots is reserved for peers with value (trust or stake, from an injected PeerValue function: the
 *   transport knows nothing of the economy); strangers (value 0) may fill only the rest;
 * - when the node is full, the idle session of lowest value (longest idle among equals) is evicted instead of
 *   refusing the newcomer. Idle means no application message either way for `evictIdleMs` (PING/PONG and
 *   DISCOVER/PEER_LIST do not count: they cost an attacker nothing). Sessions we dialed are never evicted.
 */
import { isIPv4, isIPv6 } from 'node:net'

/** What a peer is worth to us: 0 for a stranger, more for trust or stake. Must be cheap and must not throw. */
export type PeerValue = (nodeId: Uint8Array) => number

/** The subnet a host is counted in: IPv4 /24, IPv6 /48; anything else counts as its own subnet. */
export function subnetOf(host: string): string {
  if (isIPv4(host)) return `v4:${host.slice(0, host.lastIndexOf('.'))}`
  if (isIPv6(host)) return `v6:${expandV6(host).slice(0, 3).join(':')}`
  return `host:${host}`
}

/** The eight 16-bit groups of an IPv6 address, as lowercase hex without leading zeros. */
function expandV6(host: string): string[] {
  const h = host.split('%')[0]!.toLowerCase()
  const [head, tail] = h.includes('::') ? h.split('::') as [string, string] : [h, undefined]
  const parse = (s: string): string[] => (s === '' ? [] : s.split(':'))
  const left = parse(head)
  const right = tail === undefined ? [] : parse(tail)
  // an embedded IPv4 tail (::ffff:1.2.3.4) stands for two groups
  const last = (right.length ? right : left)
  if (last.length && last[last.length - 1]!.includes('.')) {
    const v4 = last.pop()!.split('.').map(Number)
    last.push(((v4[0]! << 8) | v4[1]!).toString(16), ((v4[2]! << 8) | v4[3]!).toString(16))
  }
  const fill = tail === undefined ? [] : Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0')
  return [...left, ...fill, ...right].map((g) => parseInt(g, 16).toString(16))
}

/** Counts per key that never go negative and forget keys at zero. */
export class Counter {
  readonly #m = new Map<string, number>()
  get(k: string): number { return this.#m.get(k) ?? 0 }
  add(k: string): void { this.#m.set(k, this.get(k) + 1) }
  remove(k: string): void {
    const n = this.get(k) - 1
    if (n <= 0) this.#m.delete(k)
    else this.#m.set(k, n)
  }
  get size(): number { return this.#m.size }
}

/** A session as the admission rules see it. */
export interface Slot {
  inbound: boolean
  established: boolean
  /** PeerValue of the peer, once known (0 before the handshake). */
  value: number
  /** Last application message either way (ms). */
  lastActive: number
}

/** Strangers may hold every slot but the reserved share. */
export function strangerSlots(maxConnections: number, reservedShare: number): number {
  return Math.max(1, maxConnections - Math.floor(maxConnections * reservedShare))
}

/**
 * The slot to free for a newcomer: the established inbound session of lowest value, longest idle among equals,
 * idle for at least `idleMs`; only sessions whose value is at most `maxValue` qualify. undefined when none does.
 */
export function pickEviction<S extends Slot>(slots: Iterable<S>, now: number, idleMs: number, maxValue: number, skip?: S): S | undefined {
  let best: S | undefined
  for (const s of slots) {
    if (s === skip || !s.inbound || !s.established || s.value > maxValue || now - s.lastActive < idleMs) continue
    if (!best || s.value < best.value || (s.value === best.value && s.lastActive < best.lastActive)) best = s
  }
  return best
}
