/**
 * The persisted record of verified chunks that a resumed download trusts (never the partial file's size).
 * Sidecar file layout (docs/protocol/content.md §"Resume state"):
 *   "ZEBF1\n" | manifest id (32) | file index u32 BE | leaf count u32 BE | bitfield ceil(n/8) | SHA-256 of all before (32)
 * Written atomically (temp file, fsync, rename); a sidecar that fails any check is ignored (download restarts).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { sha256 } from '../crypto/hash.js'
import { writeFileAtomic } from '../crypto/identity.js'
import { equalBytes } from '../util/bytes.js'

const MAGIC = new TextEncoder().encode('ZEBF1\n')

export class Bitfield {
  readonly bits: Uint8Array
  #count = 0
  constructor(readonly size: number, bits?: Uint8Array) {
    this.bits = bits ?? new Uint8Array(Math.ceil(size / 8))
    if (bits) for (let i = 0; i < size; i++) if (this.has(i)) this.#count++
  }
  get count(): number { return this.#count }
  get complete(): boolean { return this.#count === this.size }
  has(i: number): boolean { return (this.bits[i >> 3]! & (0x80 >> (i & 7))) !== 0 }
  set(i: number): void {
    if (i < 0 || i >= this.size || this.has(i)) return
    this.bits[i >> 3]! |= 0x80 >> (i & 7)
    this.#count++
  }
  clear(i: number): void {
    if (i < 0 || i >= this.size || !this.has(i)) return
    this.bits[i >> 3]! &= ~(0x80 >> (i & 7))
    this.#count--
  }
  missing(): number[] {
    const out: number[] = []
    for (let i = 0; i < this.size; i++) if (!this.has(i)) out.push(i)
    return out
  }
}

export function encodeState(id: Uint8Array, file: number, bf: Bitfield): Uint8Array {
  const head = new Uint8Array(MAGIC.length + 32 + 8)
  head.set(MAGIC)
  head.set(id, MAGIC.length)
  const dv = new DataView(head.buffer)
  dv.setUint32(MAGIC.length + 32, file)
  dv.setUint32(MAGIC.length + 36, bf.size)
  const body = new Uint8Array(head.length + bf.bits.length)
  body.set(head)
  body.set(bf.bits, head.length)
  const out = new Uint8Array(body.length + 32)
  out.set(body)
  out.set(sha256(body), body.length)
  return out
}

/** Parses a sidecar; returns undefined unless it is intact and for exactly this (manifest, file, leaf count). */
export function decodeState(raw: Uint8Array, id: Uint8Array, file: number, leafCount: number): Bitfield | undefined {
  const n = Math.ceil(leafCount / 8)
  const expect = MAGIC.length + 32 + 8 + n + 32
  if (raw.byteLength !== expect) return undefined
  const body = raw.subarray(0, expect - 32)
  if (!equalBytes(sha256(body), raw.subarray(expect - 32))) return undefined
  if (!equalBytes(body.subarray(0, MAGIC.length), MAGIC) || !equalBytes(body.subarray(MAGIC.length, MAGIC.length + 32), id)) return undefined
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength)
  if (dv.getUint32(MAGIC.length + 32) !== file || dv.getUint32(MAGIC.length + 36) !== leafCount) return undefined
  return new Bitfield(leafCount, body.slice(MAGIC.length + 40))
}

export function loadState(path: string, id: Uint8Array, file: number, leafCount: number): Bitfield | undefined {
  let raw: Uint8Array
  try { raw = readFileSync(path) } catch { return undefined }
  return decodeState(raw, id, file, leafCount)
}

/**
 * Saves the sidecar by temp file + rename (readers see the old or the new state, never a mix). With `sync` the
 * temp file is fsynced first; without, a crash of the process is still safe (the kernel has the data) and a power
 * loss is caught by the final whole-file check, which repairs chunks that do not match (file-download.ts).
 */
export function saveState(path: string, id: Uint8Array, file: number, bf: Bitfield, sync = true): void {
  const data = encodeState(id, file, bf)
  if (sync) { writeFileAtomic(path, data, 0o600); return }
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, data, { mode: 0o600 })
  renameSync(tmp, path)
}

