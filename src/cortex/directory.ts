/**
 * Stage discovery and chain assembly. Stages announce `{model, start, end, capacity}` as provider records under
 * SHA-1("cortex:<model id>") when a ProviderDirectory (DHT) exists; otherwise configured peers are asked with
 * CORTEX_INFO. A chain is the fewest stages whose layer ranges tile [0, layers).
 */
import { sha1 } from '../crypto/hash.js'
import type { Endpoint, LinkProvider } from '../interfaces/link.js'
import type { ProviderDirectory } from '../interfaces/providers.js'
import { decode, encode } from '../wire/cbor.js'
import { equalBytes, toB64 } from '../util/bytes.js'
import { NoRouteError } from './errors.js'
import { CortexType, decodeInfoResp, encodeInfoReq, MAX_MODEL_ID } from './messages.js'

export interface StageCandidate {
  nodeId: Uint8Array
  addrs: Endpoint[]
  model: string
  start: number
  end: number
  layers: number
  capacity: number
}

export interface StageDirectory {
  find(model: string, opts?: { signal?: AbortSignal }): Promise<StageCandidate[]>
}

export function providerKey(model: string): Uint8Array {
  return sha1(new TextEncoder().encode(`cortex:${model}`))
}

export function encodeAnnouncement(a: { model: string; start: number; end: number; layers: number; capacity: number }): Uint8Array {
  return encode({ v: 1, model: a.model, start: a.start, end: a.end, layers: a.layers, capacity: a.capacity })
}

export function decodeAnnouncement(data: Uint8Array): { model: string; start: number; end: number; layers: number; capacity: number } | null {
  try {
    const o = decode(data, { maxDepth: 2, maxItems: 16, maxStringBytes: MAX_MODEL_ID }) as Record<string, unknown>
    const ints = ['start', 'end', 'layers', 'capacity'].every((k) => Number.isInteger(o[k]) && (o[k] as number) >= 0)
    if (o.v !== 1 || typeof o.model !== 'string' || !ints) return null
    const r = { model: o.model, start: o.start as number, end: o.end as number, layers: o.layers as number, capacity: o.capacity as number }
    return r.end > r.start && r.end <= r.layers ? r : null
  } catch { return null }
}

/** Discovery through provider records (the DHT). */
export class ProviderStageDirectory implements StageDirectory {
  constructor(readonly providers: ProviderDirectory) {}
  async find(model: string, opts: { signal?: AbortSignal } = {}): Promise<StageCandidate[]> {
    const recs = await this.providers.findProviders(providerKey(model), { limit: 64, signal: opts.signal })
    const out: StageCandidate[] = []
    for (const r of recs) {
      const a = r.data ? decodeAnnouncement(r.data) : null
      if (a && a.model === model) out.push({ nodeId: r.nodeId, addrs: r.addrs, ...a })
    }
    return out
  }
}

/** Discovery by asking configured peers (CORTEX_INFO). Unreachable peers are skipped. */
export class StaticStageDirectory implements StageDirectory {
  constructor(readonly links: LinkProvider, readonly peers: Endpoint[], readonly timeoutMs = 5000) {}
  async find(model: string, opts: { signal?: AbortSignal } = {}): Promise<StageCandidate[]> {
    const found = await Promise.all(this.peers.map(async (addr) => {
      try {
        const link = await this.links.dial(addr, { signal: opts.signal })
        const resp = await link.request(CortexType.CORTEX_INFO, encodeInfoReq(), { timeoutMs: this.timeoutMs, signal: opts.signal })
        if (resp.type !== CortexType.CORTEX_INFO_RESP) return null
        const info = decodeInfoResp(resp.body)
        if (info.model !== model) return null
        const c: StageCandidate = { nodeId: link.peer.nodeId, addrs: [addr], model, start: info.start, end: info.end, layers: info.layers, capacity: info.capacity }
        return c
      } catch { return null }
    }))
    return found.filter((c): c is StageCandidate => c !== null)
  }
}

/** Several directories merged (e.g. the DHT plus configured peers), deduplicated by node id and range. */
export class MergedStageDirectory implements StageDirectory {
  constructor(readonly dirs: StageDirectory[]) {}
  async find(model: string, opts: { signal?: AbortSignal } = {}): Promise<StageCandidate[]> {
    const all = (await Promise.all(this.dirs.map((d) => d.find(model, opts).catch(() => [])))).flat()
    const seen = new Set<string>()
    return all.filter((c) => { const k = `${toB64(c.nodeId)}:${c.start}:${c.end}`; if (seen.has(k)) return false; seen.add(k); return true })
  }
}

/**
 * Picks the fewest candidates that tile [0, layers) (ties: more free capacity). Candidates whose node id is in
 * `exclude` are skipped. Throws NoRouteError when the layers cannot be covered.
 */
export function assembleChain(cands: StageCandidate[], layers: number, exclude: Uint8Array[] = []): StageCandidate[] {
  const ok = cands.filter((c) => c.layers === layers && c.capacity > 0 && !exclude.some((x) => equalBytes(x, c.nodeId)))
  const best: ({ hops: number; cap: number; prev: number; cand: StageCandidate } | null)[] = new Array(layers + 1).fill(null)
  best[0] = { hops: 0, cap: Infinity, prev: -1, cand: null as unknown as StageCandidate }
  for (let p = 0; p < layers; p++) {
    const cur = best[p]
    if (!cur) continue
    for (const c of ok) {
      if (c.start !== p) continue
      const cand = { hops: cur.hops + 1, cap: Math.min(cur.cap, c.capacity), prev: p, cand: c }
      const at = best[c.end]
      if (!at || cand.hops < at.hops || (cand.hops === at.hops && cand.cap > at.cap)) best[c.end] = cand
    }
  }
  if (!best[layers]) throw new NoRouteError('no_route', `no chain of stages covers layers 0:${layers}`)
  const chain: StageCandidate[] = []
  for (let p = layers; p > 0; p = best[p]!.prev) chain.unshift(best[p]!.cand)
  return chain
}
