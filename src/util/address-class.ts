/**
 * What kind of address a host is, and whether the node may dial or probe it when a peer named it.
 * ARCHITECTURE.md: addresses learned from the network (DHT contacts, PEER_LIST, NAT candidates, relay targets) are
 * never dialled or probed when they are loopback, private, link-local or metadata addresses, unless the operator
 * configured a private network. One module so the DHT, NAT, relay and VPN layers apply the same rule.
 */
import { isIP } from 'node:net'

export type AddressClass =
  | 'public' | 'loopback' | 'private' | 'link-local' | 'cgnat' | 'multicast' | 'unspecified' | 'metadata'
  | 'reserved' | 'not-ip'

/** Parses a dotted IPv4 literal into its 4 bytes; undefined unless it is exactly one. */
function ipv4Bytes(h: string): number[] | undefined {
  if (isIP(h) !== 4) return undefined
  return h.split('.').map(Number)
}

/** Expands an IPv6 literal (no zone, no brackets) into 8 16-bit groups; undefined unless it is one. */
export function ipv6Groups(h: string): number[] | undefined {
  if (isIP(h) !== 6) return undefined
  let s = h
  let tail: number[] = []
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s)
  if (v4) {
    const b = ipv4Bytes(v4[1]!)
    if (!b) return undefined
    tail = [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!]
    s = s.slice(0, -v4[1]!.length)
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1)
  }
  const [head, rest] = s.split('::') as [string, string | undefined]
  const parse = (p: string): number[] => (p === '' ? [] : p.split(':').map((x) => parseInt(x, 16)))
  const a = parse(head)
  const b = rest === undefined ? [] : parse(rest)
  const missing = 8 - tail.length - a.length - b.length
  if (rest === undefined && missing !== 0) return undefined
  if (missing < 0) return undefined
  return [...a, ...new Array<number>(rest === undefined ? 0 : missing).fill(0), ...b, ...tail]
}

function classifyV4(b: number[]): AddressClass {
  const [a, c] = [b[0]!, b[1]!]
  if (a === 169 && c === 254 && b[2] === 169 && b[3] === 254) return 'metadata'
  if (a === 0) return 'unspecified'
  if (a === 127) return 'loopback'
  if (a === 10 || (a === 172 && c >= 16 && c <= 31) || (a === 192 && c === 168)) return 'private'
  if (a === 169 && c === 254) return 'link-local'
  if (a === 100 && c >= 64 && c <= 127) return 'cgnat'
  if (a >= 224 && a <= 239) return 'multicast'
  // 192.0.0/24 (IETF), 192.0.2/24, 198.51.100/24, 203.0.113/24 (docs), 198.18/15 (benchmarking), 240/4, broadcast
  if ((a === 192 && c === 0 && (b[2] === 0 || b[2] === 2)) || (a === 198 && (c === 18 || c === 19)) ||
    (a === 198 && c === 51 && b[2] === 100) || (a === 203 && c === 0 && b[2] === 113) || a >= 240) return 'reserved'
  return 'public'
}

/** The class of an IP literal (IPv4, IPv6, IPv4-mapped IPv6; brackets and a zone index are accepted). */
export function addressClass(host: string): AddressClass {
  let h = host.trim().toLowerCase()
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1)
  const zone = h.indexOf('%')
  if (zone >= 0) h = h.slice(0, zone)
  const v4 = ipv4Bytes(h)
  if (v4) return classifyV4(v4)
  const g = ipv6Groups(h)
  if (!g) return 'not-ip'
  if (g.every((x) => x === 0)) return 'unspecified'
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return 'loopback'
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible/NAT64 well-known prefix carry an IPv4 address inside
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return classifyV4([g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255])
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return classifyV4([g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255])
  const first = g[0]!
  if (first === 0xfd00 && g[1] === 0xec2) return 'metadata' // fd00:ec2::254 (AWS IMDS over IPv6), also ULA
  if ((first & 0xfe00) === 0xfc00) return 'private' // fc00::/7 unique local
  if ((first & 0xffc0) === 0xfe80) return 'link-local'
  if ((first & 0xff00) === 0xff00) return 'multicast'
  if (first === 0x2001 && g[1] === 0xdb8) return 'reserved' // documentation
  if (g.slice(0, 5).every((x) => x === 0)) return 'reserved' // ::/80 leftovers (deprecated IPv4-compatible)
  return 'public'
}

/** True for an IP literal of a class reachable over the public internet. */
export function isPublicAddress(host: string): boolean { return addressClass(host) === 'public' }

/**
 * How the node treats non-public addresses a peer names:
 *  - 'deny': only public addresses (a node on the open internet);
 *  - 'allow': every IP literal except unspecified and multicast (a private network, a lab);
 *  - 'auto' (default): the classes of the hosts the operator configured itself (bootstrap peers, the listening
 *    host when it is not a wildcard) are allowed, so a node bootstrapped over loopback or a LAN works, and nothing
 *    else; the cloud metadata address is never allowed in 'auto'.
 */
export type PrivateAddressMode = 'auto' | 'allow' | 'deny'

export class AddressPolicy {
  readonly #allowed: ReadonlySet<AddressClass>

  constructor(mode: PrivateAddressMode = 'deny', operatorHosts: Iterable<string> = []) {
    const allowed = new Set<AddressClass>(['public'])
    if (mode === 'allow') for (const c of ['loopback', 'private', 'link-local', 'cgnat', 'metadata', 'reserved'] as const) allowed.add(c)
    if (mode === 'auto') {
      for (const h of operatorHosts) {
        const c = addressClass(h)
        if (c !== 'not-ip' && c !== 'unspecified' && c !== 'multicast' && c !== 'metadata') allowed.add(c)
      }
    }
    this.#allowed = allowed
  }

  /** A policy that allows every IP class (tests, private networks). */
  static permissive(): AddressPolicy { return new AddressPolicy('allow') }

  /** May the node dial or probe `host` because a peer named it? Hostnames (not IP literals) are never allowed. */
  allows(host: string): boolean { return this.#allowed.has(addressClass(host)) }

  /** The classes this policy admits (for logs and the operator view). */
  get classes(): AddressClass[] { return [...this.#allowed] }
}

/** The host part of a `host:port` or `[v6]:port` string (for building an 'auto' policy from bootstrap entries). */
export function hostOf(hostPort: string): string {
  const m = /^\[([^\]]+)\]:\d+$/.exec(hostPort)
  if (m) return m[1]!
  const i = hostPort.lastIndexOf(':')
  return i > 0 ? hostPort.slice(0, i) : hostPort
}
