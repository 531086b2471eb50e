/**
 * Handshake-nonce replay guard: two generations of a keyed Bloom filter, persisted to the data dir (written
 * atomically, periodically and on stop) so a restarted node still refuses a replayed HELLO.
 *
 * Between two saves every new nonce is appended to a journal (`<file>.journal`) before checkAndAdd returns, i.e.
 * before the HELLO_ACK is written: a node killed with SIGKILL between saves finds the nonces it answered in the
 * journal at restart (the page cache keeps a write(2) across a process crash; a power loss can still drop the
 * last writes, and HELLOs older than 30 s are refused anyway). Loading replays the journal into the filter and
 * saves; each save empties the journal. A torn last entry (crash mid-append) is ignored.
 *
 * Positions come from BLAKE2b keyed with a per-node secret (stored in the same file), so a peer cannot choose nonces
 * that collide on purpose. When the current generation holds `capacity` nonces it becomes the previous one and a
 * fresh one starts; a nonce is a replay if either generation has it. HELLO timestamps older than 30 s are refused
 * anyway, so only a node that sees more than 2 x capacity handshakes within 30 s could forget a live nonce.
 */
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs'
import { blake2b } from '../crypto/hash.js'
import { writeFileAtomic } from '../crypto/identity.js'
import { randomBytes } from '../crypto/sign.js'

const MAGIC = Buffer.from('ZEBF1\n')
const HEADER = MAGIC.length + 32 + 1 + 4 + 4 + 4

export interface ReplayGuardInit {
  /** Persist file; undefined = memory only. */
  file?: string
  /** Bits per generation (power of two). @default 2^20 */
  bits?: number
  /** Hash functions. @default 7 */
  hashes?: number
  /** Journal entries after which checkAndAdd saves the filter (and empties the journal). @default 65536 */
  maxJournal?: number
}

/** Journal entry: [length 1][nonce]. */
const MAX_NONCE = 255

export class ReplayGuard {
  readonly bits: number
  readonly hashes: number
  readonly capacity: number
  readonly file: string | undefined
  #key: Uint8Array
  #cur: Uint8Array
  #prev: Uint8Array
  #count = 0
  #prevCount = 0
  #dirty = false
  #journalFd: number | undefined
  #journalEntries = 0
  readonly #maxJournal: number

  constructor(init: ReplayGuardInit = {}) {
    this.bits = init.bits ?? 1 << 20
    if (this.bits < 64 || (this.bits & (this.bits - 1)) !== 0 || this.bits > 1 << 28) throw new RangeError('bloom bits must be a power of two in [64, 2^28]')
    this.hashes = init.hashes ?? 7
    this.capacity = Math.floor((this.bits * Math.LN2) / this.hashes)
    this.file = init.file
    this.#key = randomBytes(32)
    this.#cur = new Uint8Array(this.bits / 8)
    this.#prev = new Uint8Array(this.bits / 8)
    this.#maxJournal = init.maxJournal ?? 65_536
    if (this.file && existsSync(this.file)) this.#load(this.file)
    if (this.file) this.#openJournal(`${this.file}.journal`)
  }

  /** Replays the journal a crashed run left, saves, and keeps the journal open for appends. */
  #openJournal(path: string): void {
    if (existsSync(path)) {
      const raw = readFileSync(path)
      for (let o = 0; o < raw.length;) {
        const n = raw[o]!
        if (n === 0 || o + 1 + n > raw.length) break // torn tail
        this.#add(raw.subarray(o + 1, o + 1 + n))
        o += 1 + n
      }
    }
    this.#journalFd = openSync(path, 'a', 0o600)
    if (this.#dirty) this.save()
    else ftruncateSync(this.#journalFd, 0)
  }

  /** Stops journaling (after a final save). */
  close(): void {
    this.save()
    if (this.#journalFd !== undefined) closeSync(this.#journalFd)
    this.#journalFd = undefined
  }

  get dirty(): boolean { return this.#dirty }
  get size(): number { return this.#count + this.#prevCount }

  /** True if `nonce` was (probably) seen before; otherwise records it and returns false. */
  checkAndAdd(nonce: Uint8Array): boolean {
    if (nonce.byteLength === 0 || nonce.byteLength > MAX_NONCE) throw new RangeError('nonce length out of range')
    if (!this.#add(nonce)) return true
    const fd = this.#journalFd
    if (fd !== undefined) {
      const e = Buffer.allocUnsafe(1 + nonce.byteLength)
      e[0] = nonce.byteLength
      e.set(nonce, 1)
      writeSync(fd, e)
      if (++this.#journalEntries >= this.#maxJournal) this.save()
    }
    return false
  }

  /** Adds `nonce` unless present; returns false when it was (probably) there already. */
  #add(nonce: Uint8Array): boolean {
    const idx = this.#positions(nonce)
    if (this.#hasAll(this.#cur, idx) || this.#hasAll(this.#prev, idx)) return false
    if (this.#count >= this.capacity) {
      this.#prev = this.#cur
      this.#prevCount = this.#count
      this.#cur = new Uint8Array(this.bits / 8)
      this.#count = 0
    }
    for (const i of idx) this.#cur[i >>> 3]! |= 1 << (i & 7)
    this.#count++
    this.#dirty = true
    return true
  }

  /** Writes the filter atomically if it changed since the last save. */
  save(): void {
    if (!this.file || !this.#dirty) return
    const out = Buffer.alloc(HEADER + 2 * (this.bits / 8))
    MAGIC.copy(out, 0)
    let o = MAGIC.length
    out.set(this.#key, o); o += 32
    out[o++] = this.hashes
    out.writeUInt32BE(this.bits, o); o += 4
    out.writeUInt32BE(this.#count, o); o += 4
    out.writeUInt32BE(this.#prevCount, o); o += 4
    out.set(this.#cur, o); o += this.#cur.length
    out.set(this.#prev, o)
    writeFileAtomic(this.file, out, 0o600)
    this.#dirty = false
    // the filter on disk now holds every journaled nonce
    if (this.#journalFd !== undefined) ftruncateSync(this.#journalFd, 0)
    this.#journalEntries = 0
  }

  #load(file: string): void {
    const raw = readFileSync(file)
    if (raw.length !== HEADER + 2 * (this.bits / 8) || !raw.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new RangeError(`${file} is not a replay filter of ${this.bits} bits`)
    }
    let o = MAGIC.length
    this.#key = new Uint8Array(raw.subarray(o, o + 32)); o += 32
    if (raw[o++] !== this.hashes || raw.readUInt32BE(o) !== this.bits) throw new RangeError(`${file}: filter parameters differ`)
    o += 4
    this.#count = raw.readUInt32BE(o); o += 4
    this.#prevCount = raw.readUInt32BE(o); o += 4
    this.#cur = new Uint8Array(raw.subarray(o, o + this.bits / 8)); o += this.bits / 8
    this.#prev = new Uint8Array(raw.subarray(o, o + this.bits / 8))
  }

  #positions(nonce: Uint8Array): number[] {
    const d = blake2b(nonce, 16, this.#key)
    const v = new DataView(d.buffer, d.byteOffset, 16)
    const h1 = v.getUint32(0)
    const h2 = v.getUint32(4) | 1
    const mask = this.bits - 1
    const out: number[] = []
    for (let i = 0; i < this.hashes; i++) out.push((h1 + Math.imul(i, h2)) & mask)
    return out
  }

  #hasAll(bits: Uint8Array, idx: number[]): boolean {
    for (const i of idx) if ((bits[i >>> 3]! & (1 << (i & 7))) === 0) return false
    return true
  }
}
