/**
 * One simulator run: publish records from honest nodes, take a fraction of the nodes offline (churn), then read
 * every record back from random honest nodes. Latencies are virtual-time (RTT model only; no CPU or queueing).
 */
import type { Identity } from '../../crypto/identity.js'
import { equalBytes, toHex } from '../../util/bytes.js'
import { defaultDhtConfig } from '../config.js'
import { commonPrefixBits, keyOfString } from '../id.js'
import { Identity as IdentityClass } from '../../crypto/identity.js'
import { ensureIdentities, prng, SimWorld, type SimNode } from './world.js'

export interface ScenarioInit {
  nodes: number
  adversaryFraction: number
  paths: number
  /** @default 50 */
  records?: number
  /** @default 200 */
  lookups?: number
  /** Fraction of honest nodes that leave after publishing. @default 0.1 */
  churn?: number
  seed?: number
  /** Extra RTTs for the first request between two nodes (connection + handshake). @default 0 */
  connectRtts?: number
  identities?: Identity[]
  /**
   * Eclipse attempt on record 0's key: `attackers` colluding nodes whose ids were ground to share `prefixBits` leading
   * bits with it join before publishing (ack and drop stores, answer lookups with colluders); every read targets it.
   */
  eclipse?: { attackers: number; prefixBits: number }
}

/** Mints identities whose DHT id shares `bits` leading bits with `key` (what an eclipse attacker must do). */
export function grindIdentities(key: Uint8Array, bits: number, count: number, seed: number): { ids: Identity[]; tries: number } {
  const rand = prng(seed)
  const ids: Identity[] = []
  let tries = 0
  const s = new Uint8Array(32)
  while (ids.length < count) {
    for (let i = 0; i < 32; i++) s[i] = Math.floor(rand() * 256)
    tries++
    const id = IdentityClass.fromSeed(s.slice())
    if (commonPrefixBits(id.dhtId, key) >= bits) ids.push(id)
  }
  return { ids, tries }
}

export interface Percentiles { p50: number; p95: number; mean: number }

export interface ScenarioResult {
  nodes: number
  adversaryFraction: number
  d: number
  churn: number
  connectRtts: number
  lookups: number
  successRate: number
  hops: Percentiles
  messagesPerLookup: Percentiles
  lookupLatencyMs: Percentiles
  publishLatencyMs: Percentiles
  storedPerPublish: number
  virtualEvents: number
  wallMs: number
  eclipse?: { attackers: number; prefixBits: number; grindTries: number }
}

export function percentiles(xs: number[]): Percentiles {
  if (xs.length === 0) return { p50: 0, p95: 0, mean: 0 }
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number): number => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!
  return { p50: at(0.5), p95: at(0.95), mean: Math.round((s.reduce((a, b) => a + b, 0) / s.length) * 100) / 100 }
}

export async function runScenario(init: ScenarioInit): Promise<ScenarioResult> {
  const t0 = Date.now()
  const config = defaultDhtConfig({ staticPuzzleBits: 0, dynamicPuzzleBits: 4, disjointPaths: init.paths })
  const key0 = keyOfString(`sim-record-${init.seed ?? 1}-0`)
  let identities = init.identities
  let grindTries = 0
  if (init.eclipse) {
    const base = ensureIdentities(init.identities ?? [], init.nodes)
    const g = grindIdentities(key0, init.eclipse.prefixBits, init.eclipse.attackers, 0xec1 + (init.seed ?? 1))
    grindTries = g.tries
    identities = [...base.slice(0, init.nodes - init.eclipse.attackers), ...g.ids]
  }
  const world = new SimWorld({ size: init.nodes, config, seed: init.seed ?? 1, connectRtts: init.connectRtts ?? 0, ...(identities ? { identities } : {}) })
  world.assignAdversaries(init.adversaryFraction)
  if (init.eclipse) world.makeColluders(Array.from({ length: init.eclipse.attackers }, (_, i) => init.nodes - 1 - i))
  const honest = (): SimNode[] => world.nodes.filter((n) => n.behaviour === 'honest' && n.online)
  const pick = <T>(arr: T[]): T => arr[Math.floor(world.rand() * arr.length)]!
  const clock = world.clock

  // publish
  const nRecords = init.records ?? 50
  const published: { key: Uint8Array; value: Uint8Array; publisher: Uint8Array }[] = []
  const publishLat: number[] = []
  let stored = 0
  let pending = 0
  const pubs = honest()
  for (let i = 0; i < nRecords; i++) {
    const node = pick(pubs)
    const key = keyOfString(`sim-record-${init.seed ?? 1}-${i}`)
    const value = new TextEncoder().encode(`value ${i}`)
    world.publisherOf.set(toHex(key), node.identity.publicKey)
    published.push({ key, value, publisher: node.identity.publicKey })
    pending++
    clock.setTimeout(() => {
      node.dht.put(key, value).then((r) => { publishLat.push(r.stats.latencyMs); stored += r.stored }, () => {}).finally(() => { pending-- })
    }, i * 20)
  }
  await clock.run(() => pending === 0)

  // churn: a fraction of honest nodes leave (their table entries elsewhere go stale)
  const churn = init.churn ?? 0.1
  const leavers = honest()
  for (let i = Math.round(leavers.length * churn); i > 0; i--) {
    const j = Math.floor(world.rand() * leavers.length)
    leavers[j]!.online = false
    leavers[j] = leavers[leavers.length - 1]!
    leavers.pop()
  }

  // read back
  const nLookups = init.lookups ?? 200
  const lat: number[] = []
  const hops: number[] = []
  const msgs: number[] = []
  let ok = 0
  const readers = honest()
  for (let i = 0; i < nLookups; i++) {
    const reader = pick(readers)
    const rec = init.eclipse ? published[0]! : published[i % published.length]!
    pending++
    clock.setTimeout(() => {
      reader.dht.get(rec.key, { publisher: rec.publisher }).then((r) => {
        if (r.record && equalBytes(r.record.value, rec.value)) ok++
        lat.push(r.stats.latencyMs); hops.push(r.stats.hops); msgs.push(r.stats.messages)
      }, () => {}).finally(() => { pending-- })
    }, 1000 + i * 10)
  }
  await clock.run(() => pending === 0)
  for (const n of world.nodes) n.dht.stop()

  return {
    nodes: init.nodes,
    adversaryFraction: init.adversaryFraction,
    d: init.paths,
    churn,
    connectRtts: init.connectRtts ?? 0,
    lookups: nLookups,
    successRate: ok / nLookups,
    hops: percentiles(hops),
    messagesPerLookup: percentiles(msgs),
    lookupLatencyMs: percentiles(lat),
    publishLatencyMs: percentiles(publishLat),
    storedPerPublish: Math.round((stored / Math.max(1, publishLat.length)) * 10) / 10,
    virtualEvents: clock.events,
    ...(init.eclipse ? { eclipse: { ...init.eclipse, grindTries } } : {}),
    wallMs: Date.now() - t0,
  }
}
