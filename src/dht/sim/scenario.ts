/**
 * One simulator run (docs/dht-sim.md). Publish: R records (value v1), own-value attackers put their own signed
 * values under the same keys, then every publisher updates its record (v2, a higher seq) and rollback attackers
 * replay v1 to the key's closest nodes. Window: `churn` of the honest nodes leave without notice and as many new
 * nodes join (the node's own join), at random times, while honest nodes read the records (rollback replays go on).
 * A read is correct when it returns v2, wrong when it returns anything else (v1 counts as a rollback accepted), lost
 * when it returns nothing. Latencies are virtual time: RTTs plus connection setups (links.ts), no CPU time.
 */
import { equalBytes, toHex } from '../../util/bytes.js'
import { defaultDhtConfig, type DhtConfig } from '../config.js'
import { keyOfString } from '../id.js'
import type { SignedRecord } from '../record.js'
import { ADVERSARY_KINDS, type Behaviour } from './adversary.js'
import { grind, IdentityPool, prng, type GrindResult, type SimIdentity } from './identities.js'
import type { LinkModel } from './links.js'
import { percentiles, ReadTally, type Percentiles, type ReadStats } from './tally.js'
import { SimWorld, type SimNode } from './world.js'

export { percentiles, type Percentiles } from './tally.js'

export interface ScenarioInit {
  nodes: number
  paths: number
  /** Adversary kind ('mix': the six kinds in turn) and fraction of the initial nodes. @default none */
  adversary?: { kind: Behaviour | 'mix'; fraction: number }
  /** @default 50 */
  records?: number
  /** Reads with the default get (getQuorum); a third as many each with quorum 1 and with the open-key view. @default 300 */
  reads?: number
  /** Fraction of the honest nodes that leave during the window, and as many new ones join. @default 0.3 */
  churn?: number
  /** Fraction of the initial table entries that point at nodes gone before the run. @default 0.25 */
  deadEntries?: number
  /** Virtual length of the churn and read window. @default 120000 */
  windowMs?: number
  seed?: number
  links?: Partial<LinkModel>
  /** Identities (shared between runs of one process: making them is the slow part). */
  pool?: IdentityPool
  /** Key generations of the whole eclipse fleet, and a cache of the grinding (same keys every run). @default 2^18 */
  grindBudget?: number
  grindCache?: Map<string, GrindResult>
  /** Own-value attackers per key that really put their value (the others only answer with it). @default 4 */
  ownPutsPerKey?: number
  config?: Partial<DhtConfig>
  /**
   * Share of the joins that run the node's own join (bootstrap, lookup of its own id, refresh); the others are
   * `SimWorld.bulkJoin` (table from global knowledge, its neighbours admit it through their real code). @default 1
   */
  realJoins?: number
  /**
   * Bootstrap list of a real join: that many distinct honest online nodes, picked at random when the join starts.
   * With one, a bootstrap node that leaves under churn before it answers strands the joiner with an empty table
   * (counted in `churnDone.stranded`; its reads are lost). @default 3
   */
  bootstrapNodes?: number
}

export interface ScenarioResult {
  nodes: number
  adversary: { kind: string; fraction: number }
  d: number
  churn: number
  deadEntries: number
  /** Default reads (getQuorum): the headline figures. */
  successRate: number
  correctRate: number
  wrongRate: number
  rollbackAccepted: number
  lookupLatencyMs: Percentiles
  reads: { default: ReadStats; first: ReadStats; open: ReadStats }
  publish: { latencyMs: Percentiles; storedPerPublish: number }
  /** `joins`, `joinMs`, `tableAfterJoin`: the joins that ran the node's own join; `bulkJoins`: the others. */
  churnDone: { leaves: number; joins: number; bulkJoins: number; joinMs: Percentiles; tableAfterJoin: Percentiles; /** real joins that ended with an empty table */ stranded: number }
  /** Share of table entries (honest online nodes, sampled) that point at nodes that are gone: start / end. */
  deadEntryRate: { start: number; end: number }
  links: { setups: number; reuses: number; refused: number; evicted: number }
  eclipse?: { attackers: number; placed: number; grindTries: number; ownedOfClosest20: number }
  rpcs: number
  timeouts: number
  virtualEvents: number
  virtualS: number
  wallMs: number
}

export async function runScenario(init: ScenarioInit): Promise<ScenarioResult> {
  const t0 = Date.now()
  const seed = init.seed ?? 1
  const N = init.nodes
  const R = init.records ?? 50
  const churn = init.churn ?? 0.3
  const dead = init.deadEntries ?? 0.25
  const windowMs = init.windowMs ?? 120_000
  const config = defaultDhtConfig({ staticPuzzleBits: 2, dynamicPuzzleBits: 8, ...init.config, disjointPaths: init.paths })
  const pool = init.pool ?? new IdentityPool(config.staticPuzzleBits, config.dynamicPuzzleBits)
  const ghosts = dead >= 1 ? 0 : Math.round((N * dead) / (1 - dead))
  const keys = Array.from({ length: R }, (_, i) => keyOfString(`sim-record-${seed}-${i}`))

  // who is what: a fraction of the initial live nodes, chosen with their own PRNG
  const kinds = new Map<number, Behaviour>()
  const adv = init.adversary
  if (adv && adv.fraction > 0) {
    const r = prng(seed ^ 0xadd)
    const want = Math.round(N * adv.fraction)
    for (let got = 0; got < want;) {
      const i = Math.floor(r() * N)
      if (kinds.has(i)) continue
      kinds.set(i, adv.kind === 'mix' ? ADVERSARY_KINDS[got % ADVERSARY_KINDS.length]! : adv.kind)
      got++
    }
  }
  const ids: SimIdentity[] = Array.from({ length: N + ghosts }, (_, i) => pool.at(i))
  let eclipse: ScenarioResult['eclipse']
  const eclipsers = [...kinds].filter(([, k]) => k === 'eclipse').map(([i]) => i)
  if (eclipsers.length > 0) {
    const budget = init.grindBudget ?? 2 ** 18
    const perKey = Math.ceil(eclipsers.length / R)
    const memo = `${seed}/${R}/${budget}/${perKey}/${config.staticPuzzleBits}`
    const g = init.grindCache?.get(memo) ?? grind(keys, budget, perKey, config.staticPuzzleBits, config.dynamicPuzzleBits, 0xec1 + seed)
    init.grindCache?.set(memo, g)
    let placed = 0
    eclipsers.forEach((idx, j) => {
      const sid = g.byKey[j % R]![Math.floor(j / R)]
      if (sid) { ids[idx] = sid; placed++ }
    })
    eclipse = { attackers: eclipsers.length, placed, grindTries: g.tries, ownedOfClosest20: 0 }
  }

  const world = new SimWorld({ config, seed, identities: ids, ghosts, ...(init.links ? { links: init.links } : {}) })
  world.setBehaviours(kinds)
  const clock = world.clock
  const rand = world.rand
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!
  const pickSome = <T>(xs: T[], n: number): T[] => {
    const out = new Set<T>()
    while (out.size < Math.min(n, xs.length)) out.add(pick(xs))
    return [...out]
  }
  const honestLive = (): SimNode[] => world.nodes.filter((n) => n.online && n.dht && n.behaviour === 'honest' && !joining.has(n.idx))
  const byKind = (k: Behaviour): SimNode[] => world.nodes.filter((n) => n.behaviour === k)
  const joining = new Set<number>()
  let pending = 0
  const later = (ms: number, fn: () => Promise<unknown> | void): void => {
    pending++
    clock.setTimeout(() => { Promise.resolve().then(fn).catch(() => {}).finally(() => { pending-- }) }, ms)
  }
  const settle = (): Promise<void> => clock.run(() => pending === 0)
  const deadStart = deadEntryRate(world, rand)

  // ---- publish v1, own values, then v2 and the first rollback replay
  const publishers = honestLive()
  const recs = keys.map((key, i) => ({ key, node: pick(publishers), v1: undefined as SignedRecord | undefined, latest: undefined as SignedRecord | undefined, i }))
  const pubLat: number[] = []
  let stored = 0
  for (const r of recs) {
    world.adv.publisherOf.set(toHex(r.key), r.node.identity.publicKey)
    later(r.i * 40, async () => { const p = await r.node.dht!.put(r.key, new TextEncoder().encode(`v1 of ${r.i}`)); r.v1 = p.record })
  }
  const owners = byKind('own')
  for (let j = 0; j < Math.min(owners.length, R * (init.ownPutsPerKey ?? 4)); j++) {
    const a = owners[j]!, key = keys[j % R]!
    later(500 + j * 20, () => a.dht!.put(key, new TextEncoder().encode(`own value of attacker ${a.idx}`)))
  }
  await settle()
  for (const r of recs) if (r.v1) world.adv.oldRecords.set(toHex(r.key), r.v1)
  for (const r of recs) {
    later(r.i * 40, async () => {
      const p = await r.node.dht!.put(r.key, new TextEncoder().encode(`v2 of ${r.i}`))
      r.latest = p.record
      pubLat.push(p.stats.latencyMs); stored += p.stored
    })
  }
  await settle()
  const rollers = byKind('rollback')
  const replay = (at: number): void => {
    for (let j = 0; j < Math.min(rollers.length, R * 2); j++) {
      const a = rollers[j]!, rec = recs[j % R]!
      if (!rec.v1) continue
      later(at + j * 10, async () => {
        const dht = a.dht!
        const res = await dht.findNode(rec.key)
        await Promise.allSettled(res.closest.slice(0, dht.config.siblings).map((c) => dht.rpc(c, { t: 'store', x: dht.puzzle, record: rec.v1! })))
      })
    }
  }
  replay(0)
  await settle()

  // ---- churn and reads
  const leavers = honestLive().filter((n) => !recs.some((r) => r.node === n))
  const nChurn = Math.round(leavers.length * churn)
  const joinMs: number[] = []
  const joinTable: number[] = []
  const realJoins = init.realJoins ?? 1
  let bulkJoins = 0
  let stranded = 0
  for (let i = 0; i < nChurn; i++) {
    const j = i + Math.floor(rand() * (leavers.length - i))
    ;[leavers[i], leavers[j]] = [leavers[j]!, leavers[i]!]
    const gone = leavers[i]!
    later(Math.floor(rand() * windowMs), () => world.leave(gone))
    const sid = pool.at(N + ghosts + i)
    const real = realJoins >= 1 || Math.floor((i + 1) * realJoins) > Math.floor(i * realJoins)
    later(Math.floor(rand() * windowMs), async () => {
      if (!real) { world.bulkJoin(sid); bulkJoins++; return }
      const via = pickSome(honestLive(), init.bootstrapNodes ?? 3)
      const start = clock.now()
      const idx = world.nodes.length
      joining.add(idx)
      const node = await world.join(sid, via)
      joining.delete(idx)
      joinMs.push(clock.now() - start); joinTable.push(node.dht!.table.size)
      if (node.dht!.table.size === 0) stranded++
    })
  }
  for (const at of [windowMs / 4, windowMs / 2, (3 * windowMs) / 4]) replay(at)
  const nReads = init.reads ?? 300
  const tally = { default: new ReadTally(), first: new ReadTally(), open: new ReadTally() }
  const nSide = Math.round(nReads / 3)
  const modes: ('default' | 'first' | 'open')[] = [
    ...Array.from({ length: nReads }, () => 'default' as const), ...Array.from({ length: nSide }, () => 'first' as const), ...Array.from({ length: nSide }, () => 'open' as const),
  ]
  for (let i = 0; i < modes.length; i++) {
    const mode = modes[i]!
    const rec = recs[i % R]!
    later(5000 + Math.floor(rand() * (windowMs - 5000)), async () => {
      const reader = pick(honestLive())
      if (!rec.latest) return
      const want = rec.latest
      const start = clock.now()
      if (mode === 'open') {
        const all = await reader.dht!.getAll(rec.key)
        const mine = all.find((r) => equalBytes(r.publisher, want.publisher))
        tally.open.add(mine, want, clock.now() - start, 0, 0, all.length - (mine ? 1 : 0))
        return
      }
      const res = await reader.dht!.get(rec.key, mode === 'first' ? { publisher: want.publisher, quorum: 1 } : { publisher: want.publisher })
      void res.repair.catch(() => 0)
      tally[mode].add(res.record, want, res.stats.latencyMs, res.stats.hops, res.stats.messages, 0)
    })
  }
  await settle()
  if (eclipse) eclipse.ownedOfClosest20 = ownedOfClosest(world, keys)
  const deadEnd = deadEntryRate(world, rand)
  for (const n of world.nodes) n.dht?.stop()

  const def = tally.default.stats()
  return {
    nodes: N, adversary: { kind: adv?.kind ?? 'none', fraction: adv?.fraction ?? 0 }, d: init.paths, churn, deadEntries: dead,
    successRate: def.successRate, correctRate: def.correctRate, wrongRate: def.wrongRate,
    rollbackAccepted: def.rollbackAccepted + tally.first.stats().rollbackAccepted + tally.open.stats().rollbackAccepted,
    lookupLatencyMs: def.latencyMs,
    reads: { default: def, first: tally.first.stats(), open: tally.open.stats() },
    publish: { latencyMs: percentiles(pubLat), storedPerPublish: Math.round((stored / Math.max(1, pubLat.length)) * 10) / 10 },
    churnDone: { leaves: nChurn, joins: joinMs.length, bulkJoins, joinMs: percentiles(joinMs), tableAfterJoin: percentiles(joinTable), stranded },
    deadEntryRate: { start: deadStart, end: deadEnd },
    links: { setups: world.links.setups, reuses: world.links.reuses, refused: world.links.refused, evicted: world.links.evicted },
    ...(eclipse ? { eclipse } : {}),
    rpcs: world.rpcs, timeouts: world.timeouts, virtualEvents: clock.events,
    virtualS: Math.round((clock.now() - 1_700_000_000_000) / 100) / 10, wallMs: Date.now() - t0,
  }
}

/** Share of the table entries of up to 300 honest online nodes that point at nodes no longer online. */
function deadEntryRate(world: SimWorld, rand: () => number): number {
  const live = world.nodes.filter((n) => n.online && n.dht && n.behaviour === 'honest')
  let all = 0, deadN = 0
  for (let i = 0; i < Math.min(300, live.length); i++) {
    for (const c of live[Math.floor(rand() * live.length)]!.dht!.table.all()) { all++; if (!world.byHex.get(c.idHex)?.online) deadN++ }
  }
  return all === 0 ? 0 : Math.round((deadN / all) * 1000) / 1000
}

/** Mean number of adversaries among the 20 online nodes closest to each key (what the eclipse achieved). */
function ownedOfClosest(world: SimWorld, keys: Uint8Array[]): number {
  const live = world.nodes.filter((n) => n.online && n.dht)
  let owned = 0
  for (const key of keys) {
    const top = live.map((n) => n).sort((a, b) => compareXor(a.contact.dhtId, b.contact.dhtId, key)).slice(0, 20)
    owned += top.filter((n) => n.behaviour !== 'honest').length
  }
  return Math.round((owned / keys.length) * 10) / 10
}

function compareXor(a: Uint8Array, b: Uint8Array, t: Uint8Array): number {
  for (let i = 0; i < 20; i++) { const d = (a[i]! ^ t[i]!) - (b[i]! ^ t[i]!); if (d !== 0) return d }
  return 0
}
