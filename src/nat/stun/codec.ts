/**
 * STUN message codec (RFC 8489), with the attributes RFC 5780 (NAT behaviour discovery) and RFC 8656 (TURN) need.
 * Pure functions over bytes. Decoding treats input as hostile: header, length and every attribute are bounded and
 * checked before use. Byte layout: docs/protocol/nat.md §STUN.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { StunError } from '../errors.js'

export const MAGIC_COOKIE = 0x2112a442
export const HEADER_BYTES = 20
/** Largest STUN message we accept or build (a UDP datagram over a typical path MTU is far smaller). */
export const MAX_MESSAGE_BYTES = 1500
/** Most attributes one message may carry. */
export const MAX_ATTRIBUTES = 48

export const StunClass = { request: 0, indication: 1, success: 2, error: 3 } as const

export const StunMethod = {
  binding: 0x001, allocate: 0x003, refresh: 0x004, send: 0x006, data: 0x007,
  createPermission: 0x008, channelBind: 0x009,
} as const

export const Attr = {
  MAPPED_ADDRESS: 0x0001, CHANGE_REQUEST: 0x0003, USERNAME: 0x0006, MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009, UNKNOWN_ATTRIBUTES: 0x000a, CHANNEL_NUMBER: 0x000c, LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012, DATA: 0x0013, REALM: 0x0014, NONCE: 0x0015, XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_TRANSPORT: 0x0019, XOR_MAPPED_ADDRESS: 0x0020, PRIORITY: 0x0024, USE_CANDIDATE: 0x0025,
  PADDING: 0x0026, RESPONSE_PORT: 0x0027,
  SOFTWARE: 0x8022, ALTERNATE_SERVER: 0x8023, FINGERPRINT: 0x8028, ICE_CONTROLLED: 0x8029,
  ICE_CONTROLLING: 0x802a, RESPONSE_ORIGIN: 0x802b, OTHER_ADDRESS: 0x802c,
} as const

export interface StunAttribute { type: number; value: Uint8Array }

export interface StunMessage {
  method: number
  cls: number
  /** 12 bytes */
  txId: Uint8Array
  attrs: StunAttribute[]
}

/** A decoded message plus where its integrity/fingerprint attributes sit in the raw bytes. */
export interface DecodedStun extends StunMessage {
  raw: Uint8Array
  /** Offset of the MESSAGE-INTEGRITY attribute header, -1 if absent. */
  integrityOffset: number
  /** Offset of the FINGERPRINT attribute header, -1 if absent. */
  fingerprintOffset: number
}

export interface StunAddress { family: 4 | 6; host: string; port: number }

export interface EncodeOptions {
  /** HMAC-SHA1 key for MESSAGE-INTEGRITY (short-term: the password; long-term: MD5(user:realm:pass)). */
  integrityKey?: Uint8Array
  /** Append FINGERPRINT. @default true */
  fingerprint?: boolean
}

/** Quick test whether a datagram looks like STUN (first two bits zero, magic cookie, sane length). */
export function isStun(buf: Uint8Array): boolean {
  if (buf.length < HEADER_BYTES || (buf[0]! & 0xc0) !== 0) return false
  const dv = view(buf)
  const len = dv.getUint16(2)
  return dv.getUint32(4) === MAGIC_COOKIE && (len & 3) === 0 && len + HEADER_BYTES === buf.length
}

export function messageType(method: number, cls: number): number {
  return ((method & 0xf80) << 2) | ((method & 0x070) << 1) | (method & 0x00f) | ((cls & 2) << 7) | ((cls & 1) << 4)
}

function splitType(t: number): { method: number; cls: number } {
  const method = ((t & 0x3e00) >> 2) | ((t & 0x00e0) >> 1) | (t & 0x000f)
  const cls = ((t & 0x0100) >> 7) | ((t & 0x0010) >> 4)
  return { method, cls }
}

export function decodeStun(buf: Uint8Array): DecodedStun {
  if (buf.length > MAX_MESSAGE_BYTES) throw new StunError('stun_too_large', `STUN message of ${buf.length} bytes`)
  if (!isStun(buf)) throw new StunError('stun_header', 'not a STUN message')
  const dv = view(buf)
  const { method, cls } = splitType(dv.getUint16(0))
  const txId = buf.slice(8, 20)
  const attrs: StunAttribute[] = []
  let integrityOffset = -1
  let fingerprintOffset = -1
  let off = HEADER_BYTES
  while (off < buf.length) {
    if (attrs.length >= MAX_ATTRIBUTES) throw new StunError('stun_attrs', 'too many STUN attributes')
    if (off + 4 > buf.length) throw new StunError('stun_attr_header', 'truncated attribute header')
    const type = dv.getUint16(off)
    const len = dv.getUint16(off + 2)
    const padded = (len + 3) & ~3
    if (off + 4 + padded > buf.length) throw new StunError('stun_attr_len', 'attribute runs past the message')
    if (fingerprintOffset >= 0) throw new StunError('stun_after_fingerprint', 'attribute after FINGERPRINT')
    if (type === Attr.FINGERPRINT) {
      if (len !== 4) throw new StunError('stun_fingerprint', 'bad FINGERPRINT length')
      fingerprintOffset = off
    } else if (type === Attr.MESSAGE_INTEGRITY) {
      if (integrityOffset >= 0) throw new StunError('stun_integrity', 'duplicate MESSAGE-INTEGRITY')
      if (len !== 20) throw new StunError('stun_integrity', 'bad MESSAGE-INTEGRITY length')
      integrityOffset = off
    } else if (integrityOffset >= 0) {
      // RFC 8489 §14.5: attributes after MESSAGE-INTEGRITY (other than FINGERPRINT) are ignored.
      off += 4 + padded
      continue
    }
    attrs.push({ type, value: buf.subarray(off + 4, off + 4 + len) })
    off += 4 + padded
  }
  return { method, cls, txId, attrs, raw: buf, integrityOffset, fingerprintOffset }
}

export function encodeStun(msg: StunMessage, opts: EncodeOptions = {}): Uint8Array {
  if (msg.txId.length !== 12) throw new StunError('stun_txid', 'transaction id must be 12 bytes')
  let size = HEADER_BYTES
  for (const a of msg.attrs) {
    if (a.value.length > 0xffff) throw new StunError('stun_attr_len', 'attribute too long')
    size += 4 + ((a.value.length + 3) & ~3)
  }
  const withFp = opts.fingerprint ?? true
  const total = size + (opts.integrityKey ? 24 : 0) + (withFp ? 8 : 0)
  if (total > MAX_MESSAGE_BYTES) throw new StunError('stun_too_large', `STUN message of ${total} bytes`)
  const out = new Uint8Array(total)
  const dv = view(out)
  dv.setUint16(0, messageType(msg.method, msg.cls))
  dv.setUint32(4, MAGIC_COOKIE)
  out.set(msg.txId, 8)
  let off = HEADER_BYTES
  for (const a of msg.attrs) {
    dv.setUint16(off, a.type); dv.setUint16(off + 2, a.value.length)
    out.set(a.value, off + 4)
    off += 4 + ((a.value.length + 3) & ~3)
  }
  if (opts.integrityKey) {
    dv.setUint16(2, off + 24 - HEADER_BYTES)
    const mac = hmacSha1(opts.integrityKey, out.subarray(0, off))
    dv.setUint16(off, Attr.MESSAGE_INTEGRITY); dv.setUint16(off + 2, 20)
    out.set(mac, off + 4)
    off += 24
  }
  if (withFp) {
    dv.setUint16(2, off + 8 - HEADER_BYTES)
    dv.setUint16(off, Attr.FINGERPRINT); dv.setUint16(off + 2, 4)
    dv.setUint32(off + 4, (crc32(out.subarray(0, off)) ^ 0x5354554e) >>> 0)
    off += 8
  }
  dv.setUint16(2, off - HEADER_BYTES)
  return out
}

/** Checks MESSAGE-INTEGRITY with `key`; false if absent or wrong. Constant-time comparison. */
export function verifyIntegrity(msg: DecodedStun, key: Uint8Array): boolean {
  if (msg.integrityOffset < 0) return false
  const head = msg.raw.slice(0, msg.integrityOffset)
  view(head).setUint16(2, msg.integrityOffset + 24 - HEADER_BYTES)
  const mac = hmacSha1(key, head)
  return timingSafeEqual(mac, msg.raw.subarray(msg.integrityOffset + 4, msg.integrityOffset + 24))
}

/** True if FINGERPRINT is present and correct. */
export function verifyFingerprint(msg: DecodedStun): boolean {
  if (msg.fingerprintOffset < 0) return false
  const want = (crc32(msg.raw.subarray(0, msg.fingerprintOffset)) ^ 0x5354554e) >>> 0
  return view(msg.raw).getUint32(msg.fingerprintOffset + 4) === want
}

/** RFC 8489 §9.2.2 long-term credential key: MD5(username ":" realm ":" password). */
export function longTermKey(username: string, realm: string, password: string): Uint8Array {
  return new Uint8Array(createHash('md5').update(`${username}:${realm}:${password}`).digest())
}

export function getAttr(msg: StunMessage, type: number): Uint8Array | undefined {
  return msg.attrs.find((a) => a.type === type)?.value
}

// ---- attribute value codecs ----

export function encodeAddress(addr: StunAddress, xor: boolean, txId?: Uint8Array): Uint8Array {
  const family = addr.family
  const out = new Uint8Array(family === 4 ? 8 : 20)
  const dv = view(out)
  out[1] = family === 4 ? 1 : 2
  dv.setUint16(2, xor ? addr.port ^ (MAGIC_COOKIE >>> 16) : addr.port)
  const ip = ipToBytes(addr.host, family)
  if (xor) xorAddress(ip, txId)
  out.set(ip, 4)
  return out
}

export function decodeAddress(v: Uint8Array, xor: boolean, txId?: Uint8Array): StunAddress {
  if (v.length < 4) throw new StunError('stun_address', 'address attribute too short')
  const fam = v[1]
  const family = fam === 1 ? 4 : fam === 2 ? 6 : 0
  if (family === 0 || v.length !== (family === 4 ? 8 : 20)) throw new StunError('stun_address', 'bad address family or length')
  let port = view(v).getUint16(2)
  const ip = v.slice(4)
  if (xor) { port ^= MAGIC_COOKIE >>> 16; xorAddress(ip, txId) }
  return { family, host: bytesToIp(ip), port }
}

function xorAddress(ip: Uint8Array, txId?: Uint8Array): void {
  const mask = new Uint8Array(16)
  view(mask).setUint32(0, MAGIC_COOKIE)
  if (ip.length === 16) {
    if (!txId) throw new StunError('stun_txid', 'IPv6 XOR address needs the transaction id')
    mask.set(txId, 4)
  }
  for (let i = 0; i < ip.length; i++) ip[i]! ^= mask[i]!
}

export function encodeErrorCode(code: number, reason: string): Uint8Array {
  const r = new TextEncoder().encode(reason.slice(0, 127))
  const out = new Uint8Array(4 + r.length)
  out[2] = Math.floor(code / 100) & 7
  out[3] = code % 100
  out.set(r, 4)
  return out
}

export function decodeErrorCode(v: Uint8Array): { code: number; reason: string } {
  if (v.length < 4 || v.length > 4 + 763) throw new StunError('stun_error_code', 'bad ERROR-CODE length')
  const code = (v[2]! & 7) * 100 + v[3]!
  return { code, reason: new TextDecoder('utf-8', { fatal: false }).decode(v.subarray(4)) }
}

export function u32(n: number): Uint8Array {
  const out = new Uint8Array(4)
  view(out).setUint32(0, n >>> 0)
  return out
}

export function readU32(v: Uint8Array): number {
  if (v.length !== 4) throw new StunError('stun_u32', 'expected a 4-byte attribute')
  return view(v).getUint32(0)
}

/** CHANGE-REQUEST (RFC 5780 §7.2): flag bits 0x4 change IP, 0x2 change port. */
export function encodeChangeRequest(changeIp: boolean, changePort: boolean): Uint8Array {
  return u32((changeIp ? 4 : 0) | (changePort ? 2 : 0))
}

export function utf8(s: string): Uint8Array { return new TextEncoder().encode(s) }

// ---- helpers ----

export function ipToBytes(host: string, family: 4 | 6): Uint8Array {
  if (family === 4) {
    const parts = host.split('.')
    if (parts.length !== 4) throw new StunError('stun_address', `bad IPv4 address ${host}`)
    return new Uint8Array(parts.map((p) => {
      const n = Number(p)
      if (!/^\d{1,3}$/.test(p) || n > 255) throw new StunError('stun_address', `bad IPv4 address ${host}`)
      return n
    }))
  }
  const [head = '', tail] = host.split('::')
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  if (groups.length !== 8) throw new StunError('stun_address', `bad IPv6 address ${host}`)
  const out = new Uint8Array(16)
  groups.forEach((g, i) => { const n = parseInt(g, 16); out[2 * i] = n >> 8; out[2 * i + 1] = n & 0xff })
  return out
}

export function bytesToIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16))
  return groups.join(':')
}

function hmacSha1(key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha1', key).update(data).digest())
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function view(b: Uint8Array): DataView { return new DataView(b.buffer, b.byteOffset, b.byteLength) }
