/**
 * The exit policy: may this exit open a TCP connection to `ip:port`? Pure. Checked on the resolved address of every
 * VPN_CONNECT (the exit resolves a name itself, checks each answer, and connects to the checked literal, so a
 * name that re-resolves to another address between two connects is checked again: DNS rebinding).
 *
 * Rules are Tor-like lines, first match wins: `accept|reject ADDR[:PORTS]` with ADDR = `*`, `*4`, `*6`, an address
 * or a CIDR (`[v6]/n` for IPv6 with ports), PORTS = `*`, `N` or `N-M`. Without a matching rule the default applies:
 * accept, except the built-in ranges below.
 *
 * Built-in ranges (loopback, RFC 1918, link-local, CGNAT, metadata, ULA, ...) are refused whatever the rules say,
 * unless an `accept` rule names a prefix *inside* that range (`accept 10.1.2.0/24:80` opens that /24, `accept *:*`
 * or `accept 0.0.0.0/0` opens nothing private): an operator opens an inside network only by naming it.
 * Unspecified, multicast and broadcast addresses are never connectable (0.0.0.0 reaches the exit's own host).
 * IPv4 inside IPv6 (mapped, compatible, NAT64, 6to4, Teredo) is checked as that IPv4 address too.
 */
import { sha256 } from '../../crypto/hash.js'
import { cidrWithin, embeddedV4, formatCidr, formatIp, inCidr, parseCidr, parseIp, type Cidr, type Ip16 } from './ip.js'

export type RangeClass = 'loopback' | 'private' | 'link-local' | 'cgnat' | 'metadata' | 'reserved' | 'unspecified' | 'multicast' | 'broadcast'

/** Classes that no rule can open. */
const NEVER: ReadonlySet<RangeClass> = new Set(['unspecified', 'multicast', 'broadcast'])

/** Most specific first: the first range containing the address names its class. */
const RANGES: ReadonlyArray<[string, RangeClass]> = [
  ['169.254.169.254/32', 'metadata'], ['fd00:ec2::254/128', 'metadata'], ['100.100.100.200/32', 'metadata'],
  ['255.255.255.255/32', 'broadcast'],
  ['0.0.0.0/8', 'unspecified'], ['::/128', 'unspecified'],
  ['127.0.0.0/8', 'loopback'], ['::1/128', 'loopback'],
  ['10.0.0.0/8', 'private'], ['172.16.0.0/12', 'private'], ['192.168.0.0/16', 'private'], ['fc00::/7', 'private'],
  ['169.254.0.0/16', 'link-local'], ['fe80::/10', 'link-local'],
  ['100.64.0.0/10', 'cgnat'],
  ['224.0.0.0/4', 'multicast'], ['ff00::/8', 'multicast'],
  // IETF protocol assignments, TEST-NETs, benchmarking, 240/4, IPv6 documentation, discard, deprecated site-local
  ['192.0.0.0/24', 'reserved'], ['192.0.2.0/24', 'reserved'], ['198.18.0.0/15', 'reserved'], ['198.51.100.0/24', 'reserved'],
  ['203.0.113.0/24', 'reserved'], ['240.0.0.0/4', 'reserved'], ['2001:db8::/32', 'reserved'], ['100::/64', 'reserved'],
  ['fec0::/10', 'reserved'], ['::/96', 'reserved'],
]
const BUILTIN: ReadonlyArray<[Cidr, RangeClass]> = RANGES.map(([c, k]) => [parseCidr(c)!, k])
const V4_ANY = parseCidr('0.0.0.0/0')!
const V6_ANY = parseCidr('::/0')!

export interface PolicyRule {
  action: 'accept' | 'reject'
  /** undefined = every address of both families */
  net?: Cidr
  /** `*4` / `*6`: every address of one family */
  family?: 4 | 6
  portLo: number
  portHi: number
  text: string
}

export type PolicyVerdict =
  | { ok: true }
  | { ok: false; code: 'private_destination' | 'policy_rejected' | 'bad_address'; reason: string }

export class ExitPolicyError extends Error {
  override readonly name = 'ExitPolicyError'
}

/** Parses one rule line; throws ExitPolicyError with the reason. */
export function parseRule(line: string): PolicyRule {
  const m = /^\s*(accept|reject)\s+(\S+)\s*$/.exec(line)
  if (!m) throw new ExitPolicyError(`exit policy rule '${line}': expected 'accept|reject ADDR[:PORTS]'`)
  const action = m[1] as 'accept' | 'reject'
  const spec = m[2]!
  let addr = spec
  let ports = '*'
  const b = /^(\[[^\]]+\](?:\/\d{1,3})?)(?::(.+))?$/.exec(spec)
  if (b) { addr = b[1]!.replace(/^\[([^\]]+)\]/, '$1'); ports = b[2] ?? '*' } else if (!spec.includes('::') && (spec.match(/:/g) ?? []).length === 1) {
    ;[addr, ports] = spec.split(':') as [string, string]
  }
  const rule: PolicyRule = { action, portLo: 1, portHi: 65535, text: `${action} ${spec}` }
  if (addr === '*4') rule.family = 4
  else if (addr === '*6') rule.family = 6
  else if (addr !== '*') {
    const net = parseCidr(addr)
    if (!net) throw new ExitPolicyError(`exit policy rule '${line}': '${addr}' is not an address or CIDR`)
    rule.net = net
  }
  if (ports !== '*') {
    const p = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(ports)
    const lo = p ? Number(p[1]) : NaN
    const hi = p ? Number(p[2] ?? p[1]) : NaN
    if (!p || lo < 1 || hi > 65535 || lo > hi) throw new ExitPolicyError(`exit policy rule '${line}': bad ports '${ports}'`)
    rule.portLo = lo
    rule.portHi = hi
  }
  return rule
}

/** The built-in class of an address (checking IPv4 carried inside IPv6 too); undefined = public. */
export function rangeClassOf(ip: Ip16): { cls: RangeClass; range: Cidr } | undefined {
  for (const [range, cls] of BUILTIN) if (inCidr(ip, range)) return { cls, range }
  for (const v4 of embeddedV4(ip)) {
    const r = rangeClassOf(v4)
    if (r) return r
  }
  return undefined
}

function ruleMatches(r: PolicyRule, ip: Ip16, port: number): boolean {
  if (port < r.portLo || port > r.portHi) return false
  if (r.family === 4) return inCidr(ip, V4_ANY)
  if (r.family === 6) return !inCidr(ip, V4_ANY) && inCidr(ip, V6_ANY)
  return r.net === undefined || inCidr(ip, r.net)
}

export class ExitPolicy {
  readonly rules: readonly PolicyRule[]
  /** SHA-256 (hex) of the canonical policy text, announced in provider records. */
  readonly digest: string

  constructor(lines: readonly string[] = []) {
    this.rules = lines.map(parseRule)
    this.digest = Buffer.from(sha256(new TextEncoder().encode(['zeone-exit-policy-v1', ...this.canonical()].join('\n')))).toString('hex')
  }

  /** The rules as normalised text, then the default. */
  canonical(): string[] {
    const out = this.rules.map((r) => {
      const a = r.family ? `*${r.family}` : r.net ? formatCidr(r.net) : '*'
      const p = r.portLo === 1 && r.portHi === 65535 ? '*' : r.portLo === r.portHi ? `${r.portLo}` : `${r.portLo}-${r.portHi}`
      return `${r.action} ${a.includes(':') ? `[${a.replace(/\/\d+$/, '')}]${a.slice(a.lastIndexOf('/'))}` : a}:${p}`
    })
    out.push('default accept public')
    return out
  }

  /** Decides one connection to an IP literal. Names are refused (`bad_address`): resolve first. */
  check(host: string, port: number): PolicyVerdict {
    const ip = parseIp(host)
    if (!ip) return { ok: false, code: 'bad_address', reason: `'${host.slice(0, 64)}' is not an IP address` }
    if (!Number.isInteger(port) || port < 1 || port > 65535) return { ok: false, code: 'bad_address', reason: `port ${port} out of range` }
    return this.checkIp(ip, port)
  }

  checkIp(ip: Ip16, port: number): PolicyVerdict {
    const builtin = rangeClassOf(ip)
    const where = `${formatIp(ip)}:${port}`
    if (builtin && NEVER.has(builtin.cls)) return { ok: false, code: 'private_destination', reason: `${where} is ${builtin.cls} (never connectable)` }
    for (const r of this.rules) {
      if (!ruleMatches(r, ip, port)) continue
      if (r.action === 'reject') return { ok: false, code: 'policy_rejected', reason: `${where} rejected by '${r.text}'` }
      // an accept opens a built-in range only when the rule names a prefix inside it
      if (builtin && !(r.net && cidrWithin(r.net, builtin.range))) continue
      return { ok: true }
    }
    if (builtin) return { ok: false, code: 'private_destination', reason: `${where} is ${builtin.cls} (${formatCidr(builtin.range)}), refused by default` }
    return { ok: true }
  }
}
