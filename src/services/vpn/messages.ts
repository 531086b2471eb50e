/**
 * VPN_CONNECT (0x30) / VPN_DATA (0x31) / VPN_CLOSE (0x32) bodies: deterministic CBOR maps with short keys, decoded
 * strictly (unknown keys, wrong types, out-of-range numbers: VpnWireError). Spec and vectors: docs/protocol/vpn.md.
 * Pure: no sockets, no timers.
 */
import { isIP } from 'node:net'
import { decode, encode } from '../../wire/cbor.js'
import { InvalidInputError } from '../../util/errors.js'

export const VPN_WIRE_VERSION = 1
/**
 * Largest data in one VPN_DATA. 1 MiB: a bulk stream then costs one frame (one AEAD, one write) per MiB, and a
 * frame this large is read on the receiver into a pooled buffer of its own (transport/slab-reader.ts) that the
 * pipe gives back once its socket took the bytes.
 */
export const MAX_DATA = 1024 * 1024
/** Largest window a side may grant in total (credit beyond it is a protocol violation). */
export const MAX_WINDOW = 16 * 1024 * 1024
export const MAX_STREAM_ID = 0xffff_ffff
export const MAX_HOST = 253
export const MAX_REASON = 200

/** Who sent a message on a stream: the side that opened it (client) or the exit. */
export const Role = { client: 0, exit: 1 } as const
export type RoleValue = (typeof Role)[keyof typeof Role]

/** SOCKS5 reply codes (RFC 1928 §6), used as the result of a VPN_CONNECT. */
export const Rep = {
  succeeded: 0, general: 1, notAllowed: 2, netUnreachable: 3, hostUnreachable: 4, refused: 5, ttlExpired: 6,
  cmdUnsupported: 7, atypUnsupported: 8,
} as const

export interface VpnConnect { stream: number; host: string; port: number; window: number }
export interface VpnConnectResult { stream: number; rep: number; window: number; reason?: string }
export interface VpnData { role: RoleValue; stream: number; data?: Uint8Array; credit?: number }
/** `fin`: the sender will send no more data (TCP half-close); `reset`: the stream is gone both ways. */
export interface VpnClose { role: RoleValue; stream: number; kind: 'fin' | 'reset'; reason?: string }

export class VpnWireError extends InvalidInputError {
  override readonly name = 'VpnWireError' as 'InvalidInputError'
}

const HOST_RE = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/

/** A host is an IP literal (IPv6 without brackets) or a DNS name of letters, digits, `-` and `_`. */
export function validHost(h: string): boolean {
  if (h.length === 0 || h.length > MAX_HOST) return false
  return isIP(h) !== 0 || HOST_RE.test(h)
}

function map(body: Uint8Array, keys: readonly string[], maxString: number): Record<string, unknown> {
  const v = decode(body, { maxDepth: 1, maxItems: keys.length, maxStringBytes: maxString })
  if (!v || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || v instanceof Map) throw new VpnWireError('vpn_shape', 'VPN message must be a CBOR map')
  const o = v as Record<string, unknown>
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw new VpnWireError('vpn_shape', `unknown key '${k.slice(0, 16)}'`)
  if (o.v !== VPN_WIRE_VERSION) throw new VpnWireError('vpn_version', `unsupported VPN message version ${String(o.v)}`)
  return o
}

function uint(o: Record<string, unknown>, k: string, lo: number, hi: number): number {
  const x = o[k]
  if (typeof x !== 'number' || !Number.isInteger(x) || x < lo || x > hi) throw new VpnWireError('vpn_shape', `${k} must be an integer in ${lo}..${hi}`)
  return x
}

function optText(o: Record<string, unknown>, k: string): string | undefined {
  const x = o[k]
  if (x === undefined) return undefined
  if (typeof x !== 'string' || Buffer.byteLength(x) > MAX_REASON) throw new VpnWireError('vpn_shape', `${k} must be text of <= ${MAX_REASON} bytes`)
  return x
}

function role(o: Record<string, unknown>): RoleValue {
  return uint(o, 'r', 0, 1) as RoleValue
}

/** The strict decoding steps every VPN message shares (also the UDP messages, udp-messages.ts). */
export { map as vpnMap, uint as vpnUint, optText as vpnText, role as vpnRole }

export function encodeConnect(m: VpnConnect): Uint8Array {
  return encode({ v: VPN_WIRE_VERSION, s: m.stream, host: m.host, port: m.port, w: m.window })
}

export function decodeConnect(body: Uint8Array): VpnConnect {
  const o = map(body, ['v', 's', 'host', 'port', 'w'], MAX_HOST)
  const host = o.host
  if (typeof host !== 'string' || !validHost(host)) throw new VpnWireError('vpn_host', 'host must be an IP literal or a DNS name of <= 253 chars')
  return { stream: uint(o, 's', 1, MAX_STREAM_ID), host, port: uint(o, 'port', 1, 65535), window: uint(o, 'w', 0, MAX_WINDOW) }
}

export function encodeConnectResult(m: VpnConnectResult): Uint8Array {
  return encode({ v: VPN_WIRE_VERSION, s: m.stream, rep: m.rep, w: m.window, ...(m.reason !== undefined ? { why: m.reason.slice(0, MAX_REASON) } : {}) })
}

export function decodeConnectResult(body: Uint8Array): VpnConnectResult {
  const o = map(body, ['v', 's', 'rep', 'w', 'why'], MAX_REASON)
  const reason = optText(o, 'why')
  return { stream: uint(o, 's', 1, MAX_STREAM_ID), rep: uint(o, 'rep', 0, 8), window: uint(o, 'w', 0, MAX_WINDOW), ...(reason !== undefined ? { reason } : {}) }
}

/** CBOR head (major type `major`, argument `n`) in shortest form, written at `at`; returns the new offset. */
function head(out: Buffer, at: number, major: number, n: number): number {
  const m = major << 5
  if (n < 24) { out[at] = m | n; return at + 1 }
  if (n < 0x100) { out[at] = m | 24; out[at + 1] = n; return at + 2 }
  if (n < 0x10000) { out[at] = m | 25; out.writeUInt16BE(n, at + 1); return at + 3 }
  out[at] = m | 26; out.writeUInt32BE(n, at + 1); return at + 5
}
const headLen = (n: number): number => (n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5)

/**
 * VPN_DATA is the bulk message: encoded by hand into one exact allocation (the generic encoder grows its buffer by
 * doubling, which copied every 64 KiB chunk ten times). Same deterministic CBOR as encode() would give: keys c, d,
 * r, s, v in bytewise order, shortest integer heads.
 */
export function encodeData(m: VpnData): Uint8Array {
  const d = m.data
  const n = 3 + (m.credit !== undefined ? 1 : 0) + (d ? 1 : 0)
  const size = 1 + (m.credit !== undefined ? 2 + headLen(m.credit) : 0) + (d ? 2 + headLen(d.length) + d.length : 0) +
    2 + 1 + 2 + headLen(m.stream) + 2 + 1
  const out = Buffer.allocUnsafe(size)
  let at = head(out, 0, 5, n)
  if (m.credit !== undefined) { out[at++] = 0x61; out[at++] = 0x63; at = head(out, at, 0, m.credit) }
  if (d) { out[at++] = 0x61; out[at++] = 0x64; at = head(out, at, 2, d.length); out.set(d, at); at += d.length }
  out[at++] = 0x61; out[at++] = 0x72; out[at++] = m.role
  out[at++] = 0x61; out[at++] = 0x73; at = head(out, at, 0, m.stream)
  out[at++] = 0x61; out[at++] = 0x76; out[at++] = VPN_WIRE_VERSION
  return out
}

/**
 * VPN_DATA as parts whose concatenation is exactly encodeData's bytes: [head, ...data, tail], so a sender hands its
 * socket's chunks to the link (which copies them once, into the frame) without joining them first.
 */
export function encodeDataParts(role: RoleValue, stream: number, data: readonly Uint8Array[], length: number, credit?: number): Uint8Array[] {
  const h = Buffer.allocUnsafe(1 + (credit !== undefined ? 2 + headLen(credit) : 0) + 2 + headLen(length))
  let at = head(h, 0, 5, credit !== undefined ? 5 : 4)
  if (credit !== undefined) { h[at++] = 0x61; h[at++] = 0x63; at = head(h, at, 0, credit) }
  h[at++] = 0x61; h[at++] = 0x64; at = head(h, at, 2, length)
  const t = Buffer.allocUnsafe(2 + 1 + 2 + headLen(stream) + 2 + 1)
  let o = 0
  t[o++] = 0x61; t[o++] = 0x72; t[o++] = role
  t[o++] = 0x61; t[o++] = 0x73; o = head(t, o, 0, stream)
  t[o++] = 0x61; t[o++] = 0x76; t[o++] = VPN_WIRE_VERSION
  return [h, ...data, t]
}

export function decodeData(body: Uint8Array): VpnData {
  const o = map(body, ['v', 'r', 's', 'd', 'c'], MAX_DATA)
  const out: VpnData = { role: role(o), stream: uint(o, 's', 1, MAX_STREAM_ID) }
  if (o.d !== undefined) {
    if (!(o.d instanceof Uint8Array) || o.d.length === 0) throw new VpnWireError('vpn_shape', `d must be 1..${MAX_DATA} bytes`)
    out.data = o.d
  }
  if (o.c !== undefined) out.credit = uint(o, 'c', 1, MAX_WINDOW)
  if (out.data === undefined && out.credit === undefined) throw new VpnWireError('vpn_shape', 'VPN_DATA carries data, credit or both')
  return out
}

export function encodeClose(m: VpnClose): Uint8Array {
  return encode({ v: VPN_WIRE_VERSION, r: m.role, s: m.stream, k: m.kind === 'fin' ? 0 : 1, ...(m.reason !== undefined ? { why: m.reason.slice(0, MAX_REASON) } : {}) })
}

export function decodeClose(body: Uint8Array): VpnClose {
  const o = map(body, ['v', 'r', 's', 'k', 'why'], MAX_REASON)
  const reason = optText(o, 'why')
  return { role: role(o), stream: uint(o, 's', 1, MAX_STREAM_ID), kind: uint(o, 'k', 0, 1) === 0 ? 'fin' : 'reset', ...(reason !== undefined ? { reason } : {}) }
}
