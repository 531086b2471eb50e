/**
 * Connectivity-check datagrams on a punched path. Authenticated with a keyed BLAKE2b MAC under the probe key from
 * the signed signalling, and bound to the sender's role, so a third party cannot forge a path and our own probes
 * cannot be reflected back at us. Layout (45 bytes): "ZNP1" | kind u8 | sid 16 | seq u32 | echo u32 | mac 16.
 */
import { timingSafeEqual } from 'node:crypto'
import { blake2b } from '../../crypto/hash.js'
import { equalBytes } from '../../util/bytes.js'

export const PROBE_BYTES = 45
const MAGIC = [0x5a, 0x4e, 0x50, 0x31] // "ZNP1": first byte 0x5a has the top bits 01, never STUN (00) or udx (0xff)

export const ProbeKind = { check: 1, ack: 2, nominate: 3, nominateAck: 4, keepalive: 5 } as const

export interface Probe { kind: number; seq: number; echo: number }

/** role: 0 = controlling (initiator), 1 = controlled. */
export function encodeProbe(key: Uint8Array, sid: Uint8Array, role: 0 | 1, p: Probe): Uint8Array {
  const out = new Uint8Array(PROBE_BYTES)
  out.set(MAGIC, 0)
  out[4] = p.kind
  out.set(sid, 5)
  const dv = new DataView(out.buffer)
  dv.setUint32(21, p.seq >>> 0)
  dv.setUint32(25, p.echo >>> 0)
  out.set(mac(key, role, out.subarray(0, 29)), 29)
  return out
}

export function isProbe(buf: Uint8Array): boolean {
  return buf.length === PROBE_BYTES && buf[0] === MAGIC[0] && buf[1] === MAGIC[1] && buf[2] === MAGIC[2] && buf[3] === MAGIC[3]
}

/** Returns the probe if it is well formed, for our session, from the expected role and correctly MACed. */
export function decodeProbe(buf: Uint8Array, key: Uint8Array, sid: Uint8Array, fromRole: 0 | 1): Probe | undefined {
  if (!isProbe(buf)) return undefined
  if (!equalBytes(buf.subarray(5, 21), sid)) return undefined
  if (!timingSafeEqual(mac(key, fromRole, buf.subarray(0, 29)), buf.subarray(29, 45))) return undefined
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  return { kind: buf[4]!, seq: dv.getUint32(21), echo: dv.getUint32(25) }
}

function mac(key: Uint8Array, role: 0 | 1, data: Uint8Array): Uint8Array {
  const input = new Uint8Array(data.length + 1)
  input[0] = role
  input.set(data, 1)
  return blake2b(input, 16, key)
}
