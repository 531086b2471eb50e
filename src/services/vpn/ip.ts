/**
 * IP literals as 16 bytes (IPv4 as IPv4-mapped IPv6) and CIDR prefixes over them. Pure; used by the exit policy.
 * Only strict literals parse: dotted quads with decimal parts (no `127.1`, no `0x7f.0.0.1`), IPv6 with an optional
 * zone (dropped) and optional brackets. Names never parse: the exit resolves them and checks what came back.
 */
import { isIP } from 'node:net'
import { ipv6Groups } from '../../util/address-class.js'

export type Ip16 = Uint8Array

export interface Cidr { net: Ip16; bits: number }

/** 16 bytes of an IP literal, or undefined if `s` is not exactly one. */
export function parseIp(s: string): Ip16 | undefined {
  let h = s.trim()
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1)
  const zone = h.indexOf('%')
  if (zone >= 0) h = h.slice(0, zone)
  const kind = isIP(h)
  const out = new Uint8Array(16)
  if (kind === 4) {
    out[10] = 0xff; out[11] = 0xff
    h.split('.').forEach((p, i) => { out[12 + i] = Number(p) })
    return out
  }
  // IPv6 (also with an embedded dotted quad): the one expander every layer uses
  const all = kind === 6 ? ipv6Groups(h) : undefined
  if (!all) return undefined
  all.forEach((g, i) => { out[2 * i] = g >> 8; out[2 * i + 1] = g & 255 })
  return out
}

/** True when the address is IPv4 (stored IPv4-mapped). */
export function isV4(ip: Ip16): boolean {
  for (let i = 0; i < 10; i++) if (ip[i] !== 0) return false
  return ip[10] === 0xff && ip[11] === 0xff
}

/** The text form: dotted quad for IPv4, full lowercase groups for IPv6 (for logs and for connecting). */
export function formatIp(ip: Ip16): string {
  if (isV4(ip)) return `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`
  const g: string[] = []
  for (let i = 0; i < 16; i += 2) g.push(((ip[i]! << 8) | ip[i + 1]!).toString(16))
  return g.join(':')
}

/**
 * IPv4 addresses an IPv6 address carries and that some path could turn into a connection to that IPv4 host:
 * IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002:AABB:CCDD::/16 and Teredo's client
 * address (2001:0::/32, last 32 bits inverted). An IPv4-mapped address is already stored as IPv4.
 */
export function embeddedV4(ip: Ip16): Ip16[] {
  if (isV4(ip)) return []
  const v4 = (a: number, b: number, c: number, d: number): Ip16 => Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d)
  const out: Ip16[] = []
  const zeros = (from: number, to: number): boolean => { for (let i = from; i < to; i++) if (ip[i] !== 0) return false; return true }
  if (zeros(0, 12)) out.push(v4(ip[12]!, ip[13]!, ip[14]!, ip[15]!))
  if (ip[0] === 0 && ip[1] === 0x64 && ip[2] === 0xff && ip[3] === 0x9b) out.push(v4(ip[12]!, ip[13]!, ip[14]!, ip[15]!))
  if (ip[0] === 0x20 && ip[1] === 0x02) out.push(v4(ip[2]!, ip[3]!, ip[4]!, ip[5]!))
  if (ip[0] === 0x20 && ip[1] === 0x01 && ip[2] === 0 && ip[3] === 0) out.push(v4(ip[12]! ^ 255, ip[13]! ^ 255, ip[14]! ^ 255, ip[15]! ^ 255))
  return out
}

/** Parses `a.b.c.d/n`, `v6/n`, `[v6]/n` or a bare address (a /32 or /128). IPv4 prefixes count in IPv4 bits. */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.lastIndexOf('/')
  const addr = slash >= 0 ? s.slice(0, slash) : s
  const ip = parseIp(addr)
  if (!ip) return undefined
  const v4 = isV4(ip)
  const max = v4 ? 32 : 128
  let bits = max
  if (slash >= 0) {
    const t = s.slice(slash + 1)
    if (!/^\d{1,3}$/.test(t)) return undefined
    bits = Number(t)
    if (bits > max) return undefined
  }
  return cidr(ip, v4 ? bits + 96 : bits)
}

/** A prefix of `bits` (0..128, in IPv6 bits) with the host bits cleared. */
export function cidr(ip: Ip16, bits: number): Cidr {
  const net = new Uint8Array(16)
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i))
    net[i] = ip[i]! & ((0xff << (8 - keep)) & 0xff)
  }
  return { net, bits }
}

export function inCidr(ip: Ip16, c: Cidr): boolean {
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, c.bits - 8 * i))
    if (keep === 0) return true
    const mask = (0xff << (8 - keep)) & 0xff
    if ((ip[i]! & mask) !== c.net[i]) return false
  }
  return true
}

/** True when every address of `inner` lies in `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.bits >= outer.bits && inCidr(inner.net, outer)
}

export function formatCidr(c: Cidr): string {
  return isV4(c.net) && c.bits >= 96 ? `${formatIp(c.net)}/${c.bits - 96}` : `${formatIp(c.net)}/${c.bits}`
}
