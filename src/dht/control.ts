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

function bytesArg(v: unknown, encoding: unknown, what: string, max: number): Uint8Array {
  if (typeof v !== 'string') throw new InvalidInputError('bad_request', `'${what}' must be a string`)
  const b = encoding === 'base64' ? fromB64(v) : encoding === 'hex' ? fromHex(v) : new TextEncoder().encode(v)
  if (b.byteLength > max) throw new InvalidInputError('too_large', `'${what}' exceeds ${max} bytes`)
  return b
}

function show(b: Uint8Array): { utf8?: string; base64: string } {
  try { return { utf8: new TextDecoder('utf-8', { fatal: true }).decode(b), base64: toB64(b) } } catch { return { base64: toB64(b) } }
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

export function registerDhtRoutes(c: ControlApi, dht: Dht, legacy: LegacyDht | undefined): void {
  const body = (b: unknown): Record<string, unknown> => (b && typeof b === 'object' ? b as Record<string, unknown> : {})
  c.route('GET', '/v1/dht/table', () => ({
    dhtId: dht.selfIdHex, size: dht.table.size, buckets: dht.table.summary(),
    storedKeys: dht.store.keyCount, storedBytes: dht.store.bytes, legacyPeers: legacy?.peerCount ?? 0,
  }))
  c.route('POST', '/v1/dht/put', async (req) => {
    const b = body(req.body)
    const key = parseKey(b.key)
    const value = bytesArg(b.value, b.encoding, 'value', dht.config.maxValueBytes)
    // v0 peers are not in the Kademlia table: in a v0 (or mixed) network the value must reach them too
    const [r, onV0] = await Promise.all([dht.put(key, value), legacy ? legacy.put(key, value).catch(() => 0) : 0])
    return { key: toHex(key), seq: r.record.seq, expires: r.record.expires, storedOn: r.stored + onV0, storedOnV0: onV0, hops: r.stats.hops, latencyMs: r.stats.latencyMs }
  })
  c.route('GET', '/v1/dht/get', async (req) => {
    const key = parseKey(req.query.get('key'))
    const pub = req.query.get('publisher')
    const r = await dht.get(key, pub ? { publisher: fromB64(pub) } : {})
    if (r.record) {
      return { key: toHex(key), found: true, signed: true, publisher: toB64(r.record.publisher), seq: r.record.seq, expires: r.record.expires, value: show(r.record.value), hops: r.stats.hops, latencyMs: r.stats.latencyMs }
    }
    const v = legacy ? await legacy.get(key) : undefined
    if (v) return { key: toHex(key), found: true, signed: false, legacy: true, value: show(v) }
    return { key: toHex(key), found: false }
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
