/** Small byte helpers shared by every layer. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}
export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new TypeError('invalid hex string')
  return new Uint8Array(Buffer.from(s, 'hex'))
}
export function toB64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')
}
export function fromB64(s: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new TypeError('invalid base64 string')
  return new Uint8Array(Buffer.from(s, 'base64'))
}
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  let diff = 0
  for (let i = 0; i < a.byteLength; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}
/** Lexicographic byte comparison: negative, zero or positive like Array.sort wants. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}
/** Views a Uint8Array as a Buffer without copying. */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)
}
/** A reply body (one byte string, or parts meant as their concatenation) as one byte string. */
export function joinParts(body: Uint8Array | readonly Uint8Array[]): Uint8Array {
  if (body instanceof Uint8Array) return body
  if (body.length === 1) return body[0]!
  let n = 0
  for (const p of body) n += p.byteLength
  const out = new Uint8Array(n)
  let o = 0
  for (const p of body) { out.set(p, o); o += p.byteLength }
  return out
}
/** A 32-byte node id given as base64 by a user or peer; undefined for anything else (never throws). */
export function nodeIdFromB64(v: unknown): Uint8Array | undefined {
  if (typeof v !== 'string' || v.length !== 44) return undefined
  try { const b = fromB64(v); return b.byteLength === 32 ? b : undefined } catch { return undefined }
}
