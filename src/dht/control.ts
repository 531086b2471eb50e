/** Control-API routes of the DHT (used by `zeone dht ...`), and the ProviderDirectory adapter. */
import type { ControlApi } from '../interfaces/node-context.js'
import type { ProviderDirectory, ProviderRecord } from '../interfaces/providers.js'
import { fromB64, fromHex, toB64, toHex } from '../util/bytes.js'
import { InvalidInputError } from '../util/errors.js'
import type { Dht } from './dht.js'
import { keyOfString } from './id.js'
import type { LegacyDht } from './legacy.js'

/** A key given as text (hashed with SHA-1, the seed rule) or as `0x` + 40 hex digits (a raw key). */
export function parseKey(v: unknown): Uint8Array {
  if (typeof v !== 'string' || v.length === 0 || v.length > 4096) throw new InvalidInputError('bad_request', "'key' must be a non-empty string")
  if (/^0x[0-9a-fA-F]{40}$/.test(v)) return fromHex(v.slice(2))
  return keyOfString(v)
}

const ENCODINGS = ['utf8', 'hex', 'base64'] as const

/** Decodes a user-given value; the size is checked on the text before anything is allocated. */
export function bytesArg(v: unknown, encoding: unknown, what: string, max: number): Uint8Array {
  if (typeof v !== 'string') throw new InvalidInputError('bad_request', `'${what}' must be a string`)
  const enc = encoding ?? 'utf8'
  if (typeof enc !== 'string' || !(ENCODINGS as readonly string[]).includes(enc)) {
    throw new InvalidInputError('bad_request', `'encoding' must be one of ${ENCODINGS.join(', ')} (--encoding), got ${JSON.stringify(enc).slice(0, 40)}`)
  }
  // upper bounds of the decoded size: hex 1 byte per 2 digits, base64 3 per 4 chars, utf8 up to 3 per UTF-16 unit
  const bound = enc === 'hex' ? Math.floor(v.length / 2) : enc === 'base64' ? Math.floor(v.length / 4) * 3 : v.length * 3
  if (bound > max && (enc !== 'utf8' || Buffer.byteLength(v, 'utf8') > max)) {
    throw new InvalidInputError('too_large', `'${what}' exceeds ${max} bytes once decoded`)
  }
  if (enc === 'hex') {
    const hex = v.startsWith('0x') ? v.slice(2) : v
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
      throw new InvalidInputError('bad_request', `'${what}' is not hex: give an even number of 0-9a-f digits (0x optional), or use --encoding utf8 for text`)
    }
    return fromHex(hex)
  }
  if (enc === 'base64') {
    if (v.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) {
      throw new InvalidInputError('bad_request', `'${what}' is not base64: give standard base64 (A-Z a-z 0-9 + /, padded with = to a multiple of 4), or use --encoding utf8 for text`)
    }
    return fromB64(v)
  }
  return new TextEncoder().encode(v)
}

function show(b: Uint8Array): { utf8?: string; base64: string } {
  try { return { utf8: new TextDecoder('utf-8', { fatal: true }).decode(b), base64: toB64(b) } } catch { return { base64: toB64(b) } }
}

/** A publisher named as base64 of its 32-byte Ed25519 key (what `zeone id` prints). */
function publisherArg(v: string): Uint8Array {
  let b: Uint8Array | undefined
  try { b = v.length <= 64 ? fromB64(v) : undefined } catch { b = undefined }
  if (!b || b.byteLength !== 32) throw new InvalidInputError('bad_request', "'publisher' must be self, any, or a node id (base64 of 32 bytes)")
  return b
}

export function providerDirectory(dht: Dht): ProviderDirectory {
  return {
    provide: async (key, data) => { await dht.provide(key, data) },
    unprovide: (key) => dht.unprovide(key),
    findProviders: async (key, opts = {}): Promise<ProviderRecord[]> => {
      const found = await dht.findProviders(key, opts.limit ?? 20, opts.signal)
      return found.map((p) => {
        const r: ProviderRecord = { key: p.key, nodeId: p.publisher, addrs: p.addrs, expires: p.expires }
        if (p.data !== undefined) r.data = p.data
        return r
      })
    },
  }
}

/** What the node restored at start: saved contacts, how many answered, saved publications, ms until joined (-1: not yet). */
export interface RestoreInfo { peers: number; revalidated: number; publications: number; joinedMs: number }

export function registerDhtRoutes(c: ControlApi, dht: Dht, legacy: LegacyDht | undefined, restored?: () => RestoreInfo): void {
  const body = (b: unknown): Record<string, unknown> => (b && typeof b === 'object' ? b as Record<string, unknown> : {})
  c.route('GET', '/v1/dht/table', () => ({
    dhtId: dht.selfIdHex, size: dht.table.size, buckets: dht.table.summary(),
    storedKeys: dht.store.keyCount, storedBytes: dht.store.bytes, legacyPeers: legacy?.peerCount ?? 0,
    ...(restored ? { restored: restored() } : {}),
  }))
  c.route('POST', '/v1/dht/put', async (req) => {
    const b = body(req.body)
    const key = parseKey(b.key)
    const value = bytesArg(b.value, b.encoding, 'value', dht.config.maxValueBytes)
    // v0 peers are not in the Kademlia table: in a v0 (or mixed) network the value must reach them too
    const [r, onV0] = await Promise.all([dht.put(key, value), legacy ? legacy.put(key, value).catch(() => 0) : 0])
    return { key: toHex(key), publisher: toB64(r.record.publisher), seq: r.record.seq, expires: r.record.expires, storedOn: r.stored + onV0, storedOnV0: onV0, hops: r.stats.hops, latencyMs: r.stats.latencyMs }
  })
  // A value is the mutable record (publisher, key): by default our own; another publisher's only when named.
  // `publisher=any` is the open-key view: every publisher's newest value as a set, never one winner.
  c.route('GET', '/v1/dht/get', async (req) => {
    const key = parseKey(req.query.get('key'))
    const pub = req.query.get('publisher') ?? 'self'
    if (pub === 'any') {
      const rs = await dht.getAll(key)
      const values: Record<string, unknown>[] = rs.map((r) => ({ signed: true, publisher: toB64(r.publisher), seq: r.seq, expires: r.expires, value: show(r.value) }))
      const v = legacy ? await legacy.get(key) : undefined
      if (v) values.push({ signed: false, legacy: true, value: show(v) })
      return { key: toHex(key), found: values.length > 0, values }
    }
    const publisher = pub === 'self' ? dht.publicKey : publisherArg(pub)
    const r = await dht.get(key, { publisher, traced: true }) // an operator asked: its trace is recorded
    void r.repair.catch(() => 0)
    if (!r.record) return { key: toHex(key), found: false, publisher: toB64(publisher) }
    return {
      key: toHex(key), found: true, signed: true, publisher: toB64(r.record.publisher), self: pub === 'self', seq: r.record.seq,
      expires: r.record.expires, value: show(r.record.value), copies: r.stats.copies, hops: r.stats.hops, latencyMs: r.stats.latencyMs,
    }
  })
  c.route('POST', '/v1/dht/provide', async (req) => {
    const b = body(req.body)
    const key = parseKey(b.key)
    const data = b.data === undefined ? undefined : bytesArg(b.data, b.encoding, 'data', 1024)
    return { key: toHex(key), storedOn: await dht.provide(key, data) }
  })
  c.route('DELETE', '/v1/dht/provide', (req) => { dht.unprovide(parseKey(req.query.get('key'))); return { ok: true } })
  c.route('GET', '/v1/dht/providers', async (req) => {
    const key = parseKey(req.query.get('key'))
    const limit = Math.min(1000, Math.max(1, Number(req.query.get('limit') ?? 20) || 20))
    const ps = await dht.findProviders(key, limit)
    return { key: toHex(key), providers: ps.map((p) => ({ nodeId: toB64(p.publisher), addrs: p.addrs, expires: p.expires, ...(p.data ? { data: show(p.data) } : {}) })) }
  })
}
