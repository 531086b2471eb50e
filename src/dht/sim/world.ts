/**
 * The simulated network: N real `Dht` instances (same routing, lookup, record and message code as production) that
 * exchange real encoded DHT messages through a per-node `DhtNet` with a per-pair RTT model on a virtual clock.
 * Routing tables are pre-filled from global knowledge (up to k random nodes per bucket), which stands in for the
 * join phase. Adversarial nodes answer with custom handlers.
 */
import { Identity } from '../../crypto/identity.js'
import { sha1 } from '../../crypto/hash.js'
import type { Endpoint } from '../../interfaces/link.js'
import { toHex } from '../../util/bytes.js'
import { AbortedError, TimeoutError } from '../../util/errors.js'
import type { DhtConfig } from '../config.js'
import { makeContact, type Contact } from '../contact.js'
import { Dht } from '../dht.js'
import { compareDistance } from '../id.js'
import { decodeMessage, encodeMessage, type DhtMessage } from '../messages.js'
import type { DhtNet, DhtReply } from '../net.js'
import { RemoteError } from '../../transport/errors.js'
import { MemoryRecordStore } from '../store.js'
import { VirtualClock } from './virtual-clock.js'

export type Behaviour = 'honest' | 'drop' | 'collude' | 'wrong'

export interface SimNode {
  idx: number
  identity: Identity
  contact: Contact
  dht: Dht
  behaviour: Behaviour
  online: boolean
}

/** Small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface WorldInit {
  size: number
  config: DhtConfig
  seed: number
  /** @default 20 */
  rttMinMs?: number
  /** @default 150 */
  rttMaxMs?: number
  /** Extra RTTs the first request between two nodes pays (TCP connect + handshake ~ 2); later ones reuse the link. @default 0 */
  connectRtts?: number
  /** Identities to reuse (expensive to make); extended as needed. */
  identities?: Identity[]
}

export class SimWorld {
  readonly clock = new VirtualClock()
  readonly nodes: SimNode[] = []
  readonly byHex = new Map<string, SimNode>()
  readonly rand: () => number
  /** Adversary contacts sorted by id, for colluding answers. */
  #advSorted: SimNode[] = []
  /** Publisher of each key the simulation published (lets 'wrong' adversaries forge the strongest lie). */
  readonly publisherOf = new Map<string, Uint8Array>()
  readonly #rttMin: number
  readonly #rttSpan: number
  rpcs = 0
  readonly #linked = new Set<number>()

  constructor(readonly init: WorldInit) {
    this.rand = prng(init.seed)
    this.#rttMin = init.rttMinMs ?? 20
    this.#rttSpan = (init.rttMaxMs ?? 150) - this.#rttMin + 1
    const ids = ensureIdentities(init.identities ?? [], init.size)
    for (let i = 0; i < init.size; i++) {
      const identity = ids[i]!
      const addr: Endpoint = { host: `${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.${1 + (i % 200)}`, port: 4000 }
      const contact = makeContact(identity.publicKey, identity.dhtId, addr)
      const node: SimNode = { idx: i, identity, contact, behaviour: 'honest', online: true, dht: undefined as unknown as Dht }
      node.dht = new Dht({
        config: init.config, identity, net: this.#netFor(node), store: new MemoryRecordStore(), clock: this.clock,
        replicateOnJoin: false, pingOnFull: false, advertise: () => [addr],
      })
      this.nodes.push(node)
      this.byHex.set(contact.idHex, node)
    }
    this.#fillTables()
  }

  /** Fills each table with up to k random nodes of every bucket's id range (sorted ids make ranges contiguous). */
  #fillTables(): void {
    const sorted = [...this.nodes].sort((a, b) => Buffer.compare(a.contact.dhtId, b.contact.dhtId))
    const keys = sorted.map((n) => n.contact.idHex)
    const lowerBound = (hex: string): number => {
      let lo = 0, hi = keys.length
      while (lo < hi) { const m = (lo + hi) >> 1; if (keys[m]! < hex) lo = m + 1; else hi = m }
      return lo
    }
    const k = this.init.config.k
    for (const n of this.nodes) {
      const self = n.contact.dhtId
      for (let prefix = 0; prefix < 160; prefix++) {
        // range of ids sharing exactly `prefix` bits with self: self's first `prefix` bits, then the flipped bit
        const lo = new Uint8Array(20)
        const byte = prefix >> 3
        for (let i = 0; i < byte; i++) lo[i] = self[i]!
        const bit = 0x80 >> (prefix & 7)
        const keepMask = (0xff00 >> (prefix & 7)) & 0xff
        lo[byte] = ((self[byte]! & keepMask) | (~self[byte]! & bit)) & 0xff
        const hi = lo.slice()
        hi[byte] = hi[byte]! | (bit - 1)
        for (let i = byte + 1; i < 20; i++) hi[i] = 0xff
        const a = lowerBound(toHex(lo))
        const b = lowerBound(toHex(hi) + 'g')
        const count = b - a
        if (count <= 0) { if (prefix > 20) break; continue }
        const picks = count <= k ? Array.from({ length: count }, (_, i) => a + i) : pickDistinct(this.rand, a, count, k)
        for (const p of picks) n.dht.observe(sorted[p]!.contact, true)
      }
    }
  }

  /** Assigns adversary behaviours to a fraction of nodes (round-robin over drop/collude/wrong); others honest. */
  assignAdversaries(fraction: number, protect: Set<number> = new Set()): void {
    for (const n of this.nodes) { n.behaviour = 'honest'; n.online = true }
    const want = Math.round(this.nodes.length * fraction)
    const kinds: Behaviour[] = ['drop', 'collude', 'wrong']
    let got = 0
    while (got < want) {
      const n = this.nodes[Math.floor(this.rand() * this.nodes.length)]!
      if (n.behaviour !== 'honest' || protect.has(n.idx)) continue
      n.behaviour = kinds[got % 3]!
      got++
    }
    this.#advSorted = this.nodes.filter((n) => n.behaviour === 'collude' || n.behaviour === 'wrong')
      .sort((a, b) => Buffer.compare(a.contact.dhtId, b.contact.dhtId))
  }

  /** Turns the given nodes into colluding adversaries (eclipse attackers), keeping the others as they are. */
  makeColluders(idx: number[]): void {
    for (const i of idx) this.nodes[i]!.behaviour = 'collude'
    this.#advSorted = this.nodes.filter((n) => n.behaviour === 'collude' || n.behaviour === 'wrong')
      .sort((a, b) => Buffer.compare(a.contact.dhtId, b.contact.dhtId))
  }

  rttMs(a: number, b: number): number {
    const lo = Math.min(a, b), hi = Math.max(a, b)
    let h = Math.imul(lo ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(hi + 0x7f4a7c15, 0xc2b2ae35)
    h ^= h >>> 13; h = Math.imul(h, 0x27d4eb2f); h ^= h >>> 16
    return this.#rttMin + ((h >>> 0) % this.#rttSpan)
  }

  #netFor(self: SimNode): DhtNet {
    return {
      request: (c, type, body, opts) => this.#request(self, c, type, body, opts),
      connect: () => Promise.resolve(undefined),
    }
  }

  #request(from: SimNode, c: Contact, type: number, body: Uint8Array, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<DhtReply> {
    this.rpcs++
    const to = this.byHex.get(c.idHex)
    let owd = to ? this.rttMs(from.idx, to.idx) / 2 : 0
    const setup = this.init.connectRtts ?? 0
    if (to && setup > 0) {
      const pair = Math.min(from.idx, to.idx) * 1_048_576 + Math.max(from.idx, to.idx)
      if (!this.#linked.has(pair)) { this.#linked.add(pair); owd += setup * owd * 2 }
    }
    return new Promise<DhtReply>((resolve, reject) => {
      let settled = false
      const onAbort = (): void => settle(() => reject(new AbortedError()))
      const settle = (fn: () => void): void => {
        if (settled) return
        settled = true
        timer.cancel()
        opts.signal?.removeEventListener('abort', onAbort)
        fn()
      }
      const timer = this.clock.setTimeout(() => settle(() => reject(new TimeoutError('sim rpc timeout'))), opts.timeoutMs)
      if (opts.signal?.aborted) { onAbort(); return }
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      if (!to) return
      this.clock.setTimeout(() => {
        if (settled || !to.online || !from.online) return
        let res: { type: number; body: Uint8Array } | undefined
        try {
          res = this.#answer(from, to, type, body)
        } catch (err) {
          this.clock.setTimeout(() => settle(() => reject(new RemoteError('refused', (err as Error).message))), owd)
          return
        }
        if (!res) return
        const r = res
        this.clock.setTimeout(() => settle(() => resolve({ type: r.type, body: r.body, from: to.contact })), owd)
      }, owd)
    })
  }

  #answer(from: SimNode, to: SimNode, type: number, body: Uint8Array): { type: number; body: Uint8Array } | undefined {
    if (to.behaviour === 'honest') return to.dht.handleRequest({ nodeId: from.contact.nodeId, dhtId: from.contact.dhtId }, from.contact, type, body)
    if (to.behaviour === 'drop') return undefined
    const m = decodeMessage(type, body)
    const x = to.dht.puzzle
    const target = targetOf(m)
    if (!target) return encodeMessage({ t: 'ack', x, ok: true }) // swallow stores, answer pings
    const nodes = this.#colluders(target).map((c) => ({ nodeId: c.nodeId, addr: c.addr }))
    if (m.t === 'find_value') {
      const records = to.behaviour === 'wrong' ? this.#forged(target) : []
      return encodeMessage({ t: 'nodes', x, nodes, records })
    }
    if (m.t === 'get_providers') return encodeMessage({ t: 'nodes', x, nodes, providers: [] })
    return encodeMessage({ t: 'nodes', x, nodes })
  }

  /** The k colluding adversaries closest to `target`. */
  #colluders(target: Uint8Array): Contact[] {
    const arr = this.#advSorted
    if (arr.length === 0) return []
    const k = this.init.config.k
    let lo = 0, hi = arr.length
    while (lo < hi) { const m = (lo + hi) >> 1; if (Buffer.compare(arr[m]!.contact.dhtId, target) < 0) lo = m + 1; else hi = m }
    const win = arr.slice(Math.max(0, lo - 2 * k), lo + 2 * k).map((n) => n.contact)
    win.sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
    return win.slice(0, k)
  }

  /** A lie with the strongest claim: the real publisher's key, a huge seq, and a made-up signature. */
  #forged(key: Uint8Array): { key: Uint8Array; value: Uint8Array; seq: number; expires: number; publisher: Uint8Array; sig: Uint8Array }[] {
    const publisher = this.publisherOf.get(toHex(key)) ?? sha1(key).slice(0, 20).subarray(0, 0)
    if (publisher.byteLength !== 32) return []
    return [{ key, value: new TextEncoder().encode('forged value'), seq: 2 ** 40, expires: this.clock.now() + 3_600_000, publisher, sig: new Uint8Array(64).fill(7) }]
  }
}

/** Extends `ids` in place to `n` deterministic identities (same sequence every run). */
export function ensureIdentities(ids: Identity[], n: number): Identity[] {
  const seedRand = prng(0x5eed)
  const s = new Uint8Array(32)
  for (let k = 0; k < ids.length * 32; k++) seedRand()
  while (ids.length < n) {
    for (let i = 0; i < 32; i++) s[i] = Math.floor(seedRand() * 256)
    ids.push(Identity.fromSeed(s.slice()))
  }
  return ids
}

function targetOf(m: DhtMessage): Uint8Array | undefined {
  if (m.t === 'find_node') return m.target
  if (m.t === 'find_value' || m.t === 'get_providers') return m.key
  return undefined
}

function pickDistinct(rand: () => number, start: number, count: number, n: number): number[] {
  const out = new Set<number>()
  while (out.size < n) out.add(start + Math.floor(rand() * count))
  return [...out]
}
