/**
 * The simulated network: real `Dht` instances (routing table with ping-before-evict, disjoint lookups, hand-off to
 * new siblings, signed records, puzzles, CBOR messages) exchanging real encoded messages through a per-node `DhtNet`
 * on a virtual clock, over the link model of links.ts (connection setup, cap, idle close). The initial tables are
 * filled from global knowledge (up to k random nodes per bucket range) of the live nodes plus `ghosts`, nodes that
 * left before the run: their entries are the dead entries every real table carries. Nodes that join later go through
 * the node's own join (bootstrap, FIND_NODE(self), refresh of every bucket) and leave without notice. Adversaries
 * answer through adversary.ts.
 */
import type { Endpoint } from '../../interfaces/link.js'
import { RemoteError } from '../../transport/errors.js'
import { toHex } from '../../util/bytes.js'
import { AbortedError, TimeoutError } from '../../util/errors.js'
import type { DhtConfig } from '../config.js'
import { makeContact, type Contact } from '../contact.js'
import { Dht } from '../dht.js'
import type { DhtNet, DhtReply } from '../net.js'
import { MemoryRecordStore } from '../store.js'
import { answerAs, type AdversaryState, type Behaviour } from './adversary.js'
import { prng, type SimIdentity } from './identities.js'
import { defaultLinkModel, SimLinks, type LinkModel } from './links.js'
import { VirtualClock } from './virtual-clock.js'

export type { Behaviour } from './adversary.js'

export interface SimNode {
  idx: number
  identity: SimIdentity['identity']
  contact: Contact
  /** undefined for ghosts (gone before the run: only their stale table entries exist). */
  dht: Dht | undefined
  behaviour: Behaviour
  online: boolean
}

export interface WorldInit {
  config: DhtConfig
  seed: number
  /** The initial population: live nodes first, then `ghosts` that left before the run. */
  identities: SimIdentity[]
  /** How many of `identities` (the last ones) are ghosts. @default 0 */
  ghosts?: number
  /** @default 20 */
  rttMinMs?: number
  /** @default 150 */
  rttMaxMs?: number
  links?: Partial<LinkModel>
}

export class SimWorld {
  readonly clock = new VirtualClock()
  readonly nodes: SimNode[] = []
  readonly byHex = new Map<string, SimNode>()
  readonly #byAddr = new Map<string, SimNode>()
  readonly rand: () => number
  readonly links: SimLinks
  readonly adv: AdversaryState
  readonly #rttMin: number
  readonly #rttSpan: number
  rpcs = 0
  timeouts = 0

  constructor(readonly init: WorldInit) {
    this.rand = prng(init.seed)
    this.#rttMin = init.rttMinMs ?? 20
    this.#rttSpan = (init.rttMaxMs ?? 150) - this.#rttMin + 1
    this.links = new SimLinks({ ...defaultLinkModel, ...init.links })
    this.adv = { world: this, sorted: [], publisherOf: new Map(), oldRecords: new Map(), ownCache: new Map() }
    const ghosts = init.ghosts ?? 0
    init.identities.forEach((sid, i) => this.#add(sid, i >= init.identities.length - ghosts))
    this.#fillTables()
  }

  #add(sid: SimIdentity, ghost: boolean): SimNode {
    const i = this.nodes.length
    // distinct /24s (the tables' subnet limits stay out of the way of honest nodes)
    const addr: Endpoint = { host: `${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.${1 + (i % 200)}`, port: 4000 }
    const contact = makeContact(sid.identity.publicKey, sid.identity.dhtId, addr)
    const node: SimNode = { idx: i, identity: sid.identity, contact, behaviour: 'honest', online: !ghost, dht: undefined }
    if (!ghost) node.dht = this.#dhtFor(node, sid)
    this.nodes.push(node)
    this.byHex.set(contact.idHex, node)
    this.#byAddr.set(`${addr.host}:${addr.port}`, node)
    return node
  }

  #dhtFor(node: SimNode, sid: SimIdentity): Dht {
    const addr = node.contact.addr
    return new Dht({
      config: this.init.config, identity: sid.identity, net: this.#netFor(node), clock: this.clock, puzzle: sid.puzzle,
      store: new MemoryRecordStore({ maxRecordsPerKey: this.init.config.maxRecordsPerKey, maxProvidersPerKey: this.init.config.maxProvidersPerKey, self: sid.identity.publicKey }),
      advertise: () => [addr],
      // refresh targets from the world's seeded PRNG: a run is repeatable (the same seed, the same result)
      random: (n) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = Math.floor(this.rand() * 256); return b },
    })
  }

  /** Every node (ghosts and joined ones included) in id order, and their hex ids: ranges of ids are contiguous. */
  readonly #sorted: SimNode[] = []
  readonly #keys: string[] = []

  #lowerBound(hex: string): number {
    const keys = this.#keys
    let lo = 0, hi = keys.length
    while (lo < hi) { const m = (lo + hi) >> 1; if (keys[m]! < hex) lo = m + 1; else hi = m }
    return lo
  }

  /** Fills each table with up to k random nodes of every bucket's id range (sorted ids make ranges contiguous). */
  #fillTables(): void {
    this.#sorted.push(...[...this.nodes].sort((a, b) => Buffer.compare(a.contact.dhtId, b.contact.dhtId)))
    this.#keys.push(...this.#sorted.map((n) => n.contact.idHex))
    for (const n of this.nodes) if (n.dht) this.#fillOne(n, () => true)
  }

  /** Up to k random nodes of each bucket range of `n` that pass `ok` (global knowledge), offered in bulk. */
  #fillOne(n: SimNode, ok: (m: SimNode) => boolean): void {
    const sorted = this.#sorted
    const k = this.init.config.k
    {
      const self = n.contact.dhtId
      for (let prefix = 0; prefix < 160; prefix++) {
        // ids sharing exactly `prefix` bits with self: self's first `prefix` bits, then the flipped bit
        const lo = new Uint8Array(20)
        const byte = prefix >> 3
        for (let i = 0; i < byte; i++) lo[i] = self[i]!
        const bit = 0x80 >> (prefix & 7)
        const keepMask = (0xff00 >> (prefix & 7)) & 0xff
        lo[byte] = ((self[byte]! & keepMask) | (~self[byte]! & bit)) & 0xff
        const hi = lo.slice()
        hi[byte] = hi[byte]! | (bit - 1)
        for (let i = byte + 1; i < 20; i++) hi[i] = 0xff
        const a = this.#lowerBound(toHex(lo))
        const count = this.#lowerBound(toHex(hi) + 'g') - a
        if (count <= 0) { if (prefix > 24) break; continue }
        const picks = count <= k ? Array.from({ length: count }, (_, i) => a + i) : pickDistinct(this.rand, a, count, Math.min(count, 2 * k))
        let took = 0
        for (const p of picks) {
          const m = sorted[p]!
          if (m === n || !ok(m)) continue
          n.dht!.observe({ ...m.contact }, true)
          if (++took >= k) break
        }
      }
    }
  }

  #insertSorted(node: SimNode): void {
    const i = this.#lowerBound(node.contact.idHex)
    this.#sorted.splice(i, 0, node)
    this.#keys.splice(i, 0, node.contact.idHex)
  }

  /** Sets behaviours (index -> kind); everyone else is honest. Rebuilds the colluders' sorted list. */
  setBehaviours(kinds: Map<number, Behaviour>): void {
    for (const n of this.nodes) n.behaviour = kinds.get(n.idx) ?? 'honest'
    this.adv.sorted = this.nodes.filter((n) => n.dht && n.behaviour !== 'honest' && n.behaviour !== 'drop')
      .sort((a, b) => Buffer.compare(a.contact.dhtId, b.contact.dhtId))
  }

  /**
   * A new node (not in anyone's table) that joins through `via` (its bootstrap list: one node or several) with the
   * node's own join sequence. With one bootstrap node that leaves before it answers, the join ends with an empty
   * table: nobody knows the new node, so it never learns anyone (a real node configures several bootstrap hosts).
   */
  async join(sid: SimIdentity, via: SimNode | readonly SimNode[]): Promise<SimNode> {
    const node = this.#add(sid, false)
    this.#insertSorted(node)
    const dht = node.dht!
    const boot = Array.isArray(via) ? via : [via as SimNode]
    await dht.bootstrap(boot.map((v) => v.contact.addr)).catch(() => 0)
    // attach.ts: once joined, every bucket is refreshed through whoever answered
    if (dht.table.size > 0) await dht.refresh(0).catch(() => {})
    return node
  }

  /**
   * A join whose result is taken from global knowledge instead of the node's own join (bench `--real-joins` below 1,
   * for sizes where every join running for real does not fit the machine): the node's table gets up to k random
   * online nodes of each bucket range (what the join's lookups find), and its k closest online honest nodes learn of
   * it the way its lookup of its own id makes them: through their real admission (`observe`: ping-before-evict on a
   * full bucket, hand-off of the records it is now a sibling for, by real STOREs).
   */
  bulkJoin(sid: SimIdentity): SimNode {
    const node = this.#add(sid, false)
    this.#insertSorted(node)
    this.#fillOne(node, (m) => m.online && m.dht !== undefined)
    const i = this.#lowerBound(node.contact.idHex)
    const near = this.#sorted.slice(Math.max(0, i - 4 * this.init.config.k), i + 4 * this.init.config.k)
      .filter((m) => m !== node && m.online && m.dht && m.behaviour === 'honest')
      .sort((a, b) => compareXor(a.contact.dhtId, b.contact.dhtId, node.contact.dhtId))
      .slice(0, this.init.config.k)
    for (const m of near) m.dht!.observe({ ...node.contact, lastSeen: this.clock.now() })
    return node
  }

  /** The node leaves without notice: it stops answering, its links are gone, its lookups are aborted. */
  leave(node: SimNode): void {
    node.online = false
    node.dht?.stop()
    this.links.drop(node.idx)
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
      connect: (addr, opts) => this.#connect(self, addr, opts),
      hasLink: (c) => { const to = this.byHex.get(c.idHex); return to !== undefined && this.links.open(self.idx, to.idx, this.clock.now()) },
    }
  }

  /** A dial to a bare address (bootstrap): resolves with the proven contact once the link is set up. */
  #connect(from: SimNode, addr: Endpoint, opts: { timeoutMs: number }): Promise<Contact | undefined> {
    const to = this.#byAddr.get(`${addr.host}:${addr.port}`)
    return new Promise((resolve, reject) => {
      if (!to || !to.online) { this.clock.setTimeout(() => reject(new TimeoutError('sim dial timeout')), opts.timeoutMs); return }
      const rtt = this.rttMs(from.idx, to.idx)
      const p = this.links.prepare(from.idx, to.idx, this.clock.now(), rtt, true)
      if ('refused' in p) { this.clock.setTimeout(() => reject(new RemoteError('refused', 'max_connections')), rtt); return }
      this.clock.setTimeout(() => resolve({ ...to.contact }), Math.max(p.delayMs, rtt))
    })
  }

  #request(from: SimNode, c: Contact, type: number, body: Uint8Array, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<DhtReply> {
    this.rpcs++
    const to = this.byHex.get(c.idHex)
    const rtt = to ? this.rttMs(from.idx, to.idx) : 0
    const prep = to ? this.links.prepare(from.idx, to.idx, this.clock.now(), rtt, to.online) : { delayMs: 0 }
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
      const timer = this.clock.setTimeout(() => { this.timeouts++; settle(() => reject(new TimeoutError('sim rpc timeout'))) }, opts.timeoutMs)
      if (opts.signal?.aborted) { onAbort(); return }
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      if (!to) return
      if ('refused' in prep) { this.clock.setTimeout(() => settle(() => reject(new RemoteError('refused', 'max_connections'))), rtt); return }
      const owd = rtt / 2
      this.clock.setTimeout(() => {
        if (settled || !to.online || !from.online || !to.dht) return
        let res: { type: number; body: Uint8Array } | undefined
        try {
          res = to.behaviour === 'honest'
            ? to.dht.handleRequest({ nodeId: from.contact.nodeId, dhtId: from.contact.dhtId }, { ...from.contact }, type, body)
            : answerAs(this.adv, from, to, type, body)
        } catch (err) {
          this.clock.setTimeout(() => settle(() => reject(new RemoteError('refused', (err as Error).message))), owd)
          return
        }
        if (!res) return
        const r = res
        this.clock.setTimeout(() => {
          this.links.touch(from.idx, to.idx, this.clock.now())
          settle(() => resolve({ type: r.type, body: r.body, from: { ...to.contact, lastSeen: this.clock.now() } }))
        }, owd)
      }, prep.delayMs + owd)
    })
  }
}

function compareXor(a: Uint8Array, b: Uint8Array, t: Uint8Array): number {
  for (let i = 0; i < 20; i++) { const d = (a[i]! ^ t[i]!) - (b[i]! ^ t[i]!); if (d !== 0) return d }
  return 0
}

function pickDistinct(rand: () => number, start: number, count: number, n: number): number[] {
  const out = new Set<number>()
  while (out.size < n) out.add(start + Math.floor(rand() * count))
  return [...out]
}
