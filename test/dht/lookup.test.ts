import { test } from 'node:test'
import assert from 'node:assert/strict'
import { lookup, type QueryAnswer } from '../../src/dht/lookup.js'
import { VirtualClock } from '../../src/dht/sim/virtual-clock.js'
import { makeContact, type Contact } from '../../src/dht/contact.js'
import { compareDistance } from '../../src/dht/id.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { sha1 } from '../../src/crypto/hash.js'

function world(n: number): Contact[] {
  return Array.from({ length: n }, (_, i) => { const pk = randomBytes(32); return makeContact(pk, sha1(pk), { host: `30.0.${i >> 8}.${i & 255}`, port: 1 }) })
}

/** Each node knows the 8 nodes closest to it plus 8 random ones; answers the k it knows closest to the target. */
function oracle(all: Contact[], target: Uint8Array) {
  const know = new Map<string, Contact[]>()
  for (const c of all) {
    const near = [...all].sort((a, b) => compareDistance(a.dhtId, b.dhtId, c.dhtId)).slice(1, 9)
    const rnd = Array.from({ length: 8 }, () => all[Math.floor(Math.random() * all.length)]!)
    know.set(c.idHex, [...near, ...rnd])
  }
  return (c: Contact): Contact[] => [...know.get(c.idHex)!].sort((a, b) => compareDistance(a.dhtId, b.dhtId, target)).slice(0, 20)
}

test('lookup finds the true closest nodes, queries each node at most once, and ends without waiting on silent nodes', async () => {
  const all = world(400)
  const target = randomBytes(20)
  const answer = oracle(all, target)
  const clock = new VirtualClock()
  const silent = new Set(all.filter((_, i) => i % 5 === 0).map((c) => c.idHex))
  const asked = new Map<string, number>()
  let result: Awaited<ReturnType<typeof lookup>> | undefined
  lookup({
    target, selfIdHex: 'self', clock, k: 20, alpha: 3, paths: 4, softTimeoutMs: 400,
    seeds: all.slice(0, 20),
    query: (c, signal) => new Promise<QueryAnswer>((resolve, reject) => {
      asked.set(c.idHex, (asked.get(c.idHex) ?? 0) + 1)
      if (silent.has(c.idHex)) { signal.addEventListener('abort', () => reject(new Error('aborted'))); return }
      clock.setTimeout(() => resolve({ closer: answer(c) }), 20 + (c.dhtId[0]! % 100))
    }),
  }).then((r) => { result = r })
  await clock.run(() => result !== undefined)
  assert.ok(result)
  assert.ok([...asked.values()].every((n) => n === 1), 'a node was queried twice (paths not disjoint)')
  const live = all.filter((c) => !silent.has(c.idHex)).sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
  assert.equal(result.closest[0]!.idHex, live[0]!.idHex, 'closest live node found')
  assert.ok(result.messages === asked.size)
  assert.ok(result.closest.every((c) => !silent.has(c.idHex)))
})

test('a late answer (after the soft timeout) is still merged; stop ends every path', async () => {
  const all = world(60)
  const target = randomBytes(20)
  const sorted = [...all].sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
  const best = sorted[0]!
  const slow = sorted[10]!
  const clock = new VirtualClock()
  let result: Awaited<ReturnType<typeof lookup>> | undefined
  lookup({
    target, selfIdHex: 'self', clock, k: 12, alpha: 1, paths: 1, softTimeoutMs: 50,
    seeds: [slow, ...sorted.slice(30, 36)],
    query: (c) => new Promise<QueryAnswer>((resolve) => {
      // only the slow node knows the best one; the others answer fast and lead nowhere: fewer than k answered, so the
      // lookup must wait for the slow one's late answer instead of ending with what it has
      if (c === slow) clock.setTimeout(() => resolve({ closer: [best] }), 300)
      else clock.setTimeout(() => resolve({ closer: [] }), 30)
    }),
  }).then((r) => { result = r })
  await clock.run(() => result !== undefined)
  assert.equal(result!.closest[0]!.idHex, best.idHex)

  let stopped: Awaited<ReturnType<typeof lookup>> | undefined
  let calls = 0
  lookup({
    target, selfIdHex: 'self', clock, k: 20, alpha: 3, paths: 4, seeds: all.slice(0, 20),
    query: () => { calls++; return new Promise<QueryAnswer>((resolve) => clock.setTimeout(() => resolve({ closer: all, stop: calls >= 2 }), 10)) },
  }).then((r) => { stopped = r })
  await clock.run(() => stopped !== undefined)
  assert.equal(stopped!.stopped, true)
  assert.ok(stopped!.messages <= 12, `kept querying after stop: ${stopped!.messages}`)
})

test('one seed whose answer comes after the soft timeout still leads to k answered nodes (its late answer is merged)', async () => {
  const all = world(80)
  const target = randomBytes(20)
  const answer = oracle(all, target)
  const seed = all[0]!
  const clock = new VirtualClock()
  let result: Awaited<ReturnType<typeof lookup>> | undefined
  let seedAnswered = false
  lookup({
    target, selfIdHex: 'self', clock, k: 20, alpha: 3, paths: 4, softTimeoutMs: 400,
    seeds: [seed],
    query: (c) => new Promise<QueryAnswer>((resolve) => {
      // the only seed is slow: it answers after its soft timer fired (ordering on the virtual clock, not timing)
      if (c === seed) clock.setTimeout(() => { seedAnswered = true; resolve({ closer: all.slice(1, 41) }) }, 1000)
      else clock.setTimeout(() => resolve({ closer: answer(c) }), 30)
    }),
  }).then((r) => { result = r })
  await clock.run(() => result !== undefined)
  assert.ok(seedAnswered)
  assert.equal(result!.closest.length, 20, `only ${result!.closest.length} answered`)
})

test('a lookup does not end with fewer than k answered while slow candidates are pending', async () => {
  const all = world(30)
  const target = randomBytes(20)
  const clock = new VirtualClock()
  const slow = new Set(all.filter((_, i) => i % 2 === 0).map((c) => c.idHex))
  let result: Awaited<ReturnType<typeof lookup>> | undefined
  lookup({
    target, selfIdHex: 'self', clock, k: 20, alpha: 3, paths: 4, softTimeoutMs: 400,
    seeds: all.slice(0, 8),
    query: (c) => new Promise<QueryAnswer>((resolve) => {
      clock.setTimeout(() => resolve({ closer: all }), slow.has(c.idHex) ? 2000 : 20)
    }),
  }).then((r) => { result = r })
  await clock.run(() => result !== undefined)
  assert.equal(result!.closest.length, 20, `only ${result!.closest.length} answered`)
})

test('a path left with only dead candidates does not hold the lookup for their hard timeout once k answered over all paths', async () => {
  // 4 paths; the seeds dealt to path 3 are dead and nobody names a live node that path 3 could take
  const all = world(80)
  const target = randomBytes(20)
  const sorted = [...all].sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
  const seeds = sorted.slice(0, 20)
  const dead = new Set(seeds.filter((_, i) => i % 4 === 3).map((c) => c.idHex))
  const live = sorted.filter((c) => !dead.has(c.idHex))
  const clock = new VirtualClock()
  const HARD = 5000
  let result: Awaited<ReturnType<typeof lookup>> | undefined
  let endedAt = 0
  const t0 = clock.now()
  lookup({
    target, selfIdHex: 'self', clock, k: 8, alpha: 3, paths: 4, softTimeoutMs: 400, seeds,
    query: (c) => new Promise<QueryAnswer>((resolve, reject) => {
      if (dead.has(c.idHex)) { clock.setTimeout(() => reject(new Error('timeout')), HARD); return }
      clock.setTimeout(() => resolve({ closer: live.slice(0, 30) }), 50)
    }),
  }).then((r) => { result = r; endedAt = clock.now() })
  await clock.run(() => result !== undefined)
  assert.ok(result)
  assert.ok(result.closest.length >= 8, `answered ${result.closest.length}`)
  assert.ok(endedAt - t0 < HARD, `lookup waited ${endedAt - t0} ms for dead entries`)
})

test('once a path converged (its closest candidate answered), it asks the rest of its k closest at once', async () => {
  const all = world(40)
  const target = randomBytes(20)
  const sorted = [...all].sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
  const clock = new VirtualClock()
  let inflight = 0
  let most = 0
  let result: Awaited<ReturnType<typeof lookup>> | undefined
  const t0 = clock.now()
  lookup({
    target, selfIdHex: 'self', clock, k: 12, alpha: 3, paths: 1, softTimeoutMs: 400, seeds: sorted.slice(0, 12),
    // nobody knows anyone closer: the first round's closest answer already is the result's head
    query: () => { inflight++; most = Math.max(most, inflight); return new Promise<QueryAnswer>((resolve) => clock.setTimeout(() => { inflight--; resolve({ closer: [] }) }, 100)) },
  }).then((r) => { result = r })
  await clock.run(() => result !== undefined)
  assert.equal(result!.closest.length, 12)
  assert.equal(result!.messages, 12)
  // alpha at a time would take 4 rounds (400 ms); the final round asks the other 9 together
  assert.ok(most > 3, `at most ${most} requests in flight`)
  assert.equal(clock.now() - t0, 200)
})

test('sibling sharing: every one of the k closest is asked once although one path learned them all, and other paths help ask them', async () => {
  const all = world(60)
  const target = randomBytes(20)
  const sorted = [...all].sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
  const siblings = sorted.slice(0, 8)
  const seeds = sorted.slice(40, 44) // one per path
  const clock = new VirtualClock()
  const askedBy = new Map<string, number[]>()
  let result: Awaited<ReturnType<typeof lookup>> | undefined
  lookup({
    target, selfIdHex: 'self', clock, k: 8, alpha: 1, paths: 4, softTimeoutMs: 400, seeds,
    query: (c, _signal, path) => new Promise<QueryAnswer>((resolve) => {
      askedBy.set(c.idHex, [...(askedBy.get(c.idHex) ?? []), path])
      // only the first seed's path learns the siblings; the other seeds name nobody, and siblings name nobody new
      const named = c === seeds[0] ? siblings : []
      clock.setTimeout(() => resolve({ closer: named }), c === seeds[0] ? 10 : 50)
    }),
  }).then((r) => { result = r })
  await clock.run(() => result !== undefined)
  assert.ok([...askedBy.values()].every((p) => p.length === 1), 'a node was queried twice (queried sets not disjoint)')
  assert.deepEqual(result!.closest.map((c) => c.idHex), siblings.map((c) => c.idHex), 'every sibling asked')
  const helpers = new Set(siblings.map((c) => askedBy.get(c.idHex)![0]!))
  assert.ok(helpers.size > 1, `all siblings asked by path ${[...helpers]} alone`)
})

test('a sibling another path learned and steers towards colluders never enters the helping path\'s own walk', async () => {
  // path 0's seed is a colluder naming colluders next to the key; path 1 walks honestly through a far node to the
  // honest siblings. Path 1 helps ask path 0's colluders, but what they name must not replace its own candidates
  const all = world(80)
  const target = randomBytes(20)
  const sorted = [...all].sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
  const colluders = new Set(sorted.filter((_, i) => i < 16 && i % 4 !== 3).map((c) => c.idHex))
  const honestNear = sorted.filter((c, i) => i < 16 && !colluders.has(c.idHex))
  const colluderList = sorted.filter((c) => colluders.has(c.idHex))
  const [bad, far, step] = [sorted[70]!, sorted[60]!, sorted[30]!]
  colluders.add(bad.idHex)
  const clock = new VirtualClock()
  const asked = new Map<string, number>()
  let result: Awaited<ReturnType<typeof lookup>> | undefined
  lookup({
    target, selfIdHex: 'self', clock, k: 8, alpha: 2, paths: 2, softTimeoutMs: 400, seeds: [bad, far],
    query: (c) => new Promise<QueryAnswer>((resolve) => {
      asked.set(c.idHex, (asked.get(c.idHex) ?? 0) + 1)
      if (colluders.has(c.idHex)) { clock.setTimeout(() => resolve({ closer: colluderList }), 5); return }
      // the honest route is slower: far -> step -> the honest siblings
      const named = c === far ? [step] : c === step ? honestNear : []
      clock.setTimeout(() => resolve({ closer: named }), 60)
    }),
  }).then((r) => { result = r })
  await clock.run(() => result !== undefined)
  assert.ok([...asked.values()].every((n) => n === 1), 'a node was queried twice')
  for (const h of honestNear) assert.ok(asked.has(h.idHex), 'an honest sibling was never asked: the helping path\'s walk was steered away')
  assert.ok(result!.closest.some((c) => !colluders.has(c.idHex)))
})

test('quorum from the closest: copies from far nodes that answer first do not end the lookup before the closest node answers', async () => {
  const all = world(60)
  const target = randomBytes(20)
  const sorted = [...all].sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
  const closest = sorted[0]!
  const far = sorted.slice(20, 26) // fast, each holding a copy (an older seq, say)
  const clock = new VirtualClock()
  let closestAnswered = false
  let result: Awaited<ReturnType<typeof lookup>> | undefined
  lookup({
    target, selfIdHex: 'self', clock, k: 8, alpha: 3, paths: 2, softTimeoutMs: 400, quorum: 3, seeds: [...far, sorted[10]!],
    query: (c) => new Promise<QueryAnswer>((resolve) => {
      if (c === closest) { clock.setTimeout(() => { closestAnswered = true; resolve({ closer: [], held: true }) }, 300); return }
      const named = c === sorted[10] ? [closest] : []
      clock.setTimeout(() => resolve({ closer: named, held: far.includes(c) }), c === sorted[10] ? 40 : 10)
    }),
  }).then((r) => { result = r })
  await clock.run(() => result !== undefined)
  assert.ok(closestAnswered, 'the lookup stopped on far copies before the closest node answered')
  assert.equal(result!.closest[0]!.idHex, closest.idHex)
})

test('quorum from the closest: once the closest nodes answered with the quorum, the lookup stops without waiting on farther slow nodes', async () => {
  const all = world(60)
  const target = randomBytes(20)
  const sorted = [...all].sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
  const clock = new VirtualClock()
  let result: Awaited<ReturnType<typeof lookup>> | undefined
  const t0 = clock.now()
  lookup({
    target, selfIdHex: 'self', clock, k: 8, alpha: 8, paths: 1, softTimeoutMs: 400, quorum: 3, seeds: sorted.slice(0, 8),
    // the 3 closest hold a copy and answer fast; the other 5 answer only after 2 s
    query: (c) => new Promise<QueryAnswer>((resolve) => {
      const i = sorted.indexOf(c)
      clock.setTimeout(() => resolve({ closer: [], held: i < 3 }), i < 3 ? 50 : 2000)
    }),
  }).then((r) => { result = r })
  await clock.run(() => result !== undefined)
  assert.equal(result!.stopped, true)
  assert.equal(clock.now() - t0, 50)
})

/**
 * Two disjoint paths (k 4, alpha 1): both seeds name the 4 nodes nearest the key (`near`), path 0's seed first (so
 * path 0 asks them all); only path 1's seed also names `own` (ranks 10-13). Every other node names nobody.
 */
async function twoPathScene(): Promise<{ near: Contact[]; own: Contact[]; asked: Set<string>; result: Awaited<ReturnType<typeof lookup>> }> {
  const all = world(40)
  const target = randomBytes(20)
  const sorted = [...all].sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
  const near = sorted.slice(0, 4)
  const own = sorted.slice(10, 14)
  const [s0, s1] = [sorted[30]!, sorted[31]!]
  const clock = new VirtualClock()
  const asked = new Set<string>()
  let result: Awaited<ReturnType<typeof lookup>> | undefined
  lookup({
    target, selfIdHex: 'self', clock, k: 4, alpha: 1, paths: 2, softTimeoutMs: 400, seeds: [s0, s1],
    query: (c) => new Promise<QueryAnswer>((resolve) => {
      asked.add(c.idHex)
      const named = c === s0 ? near : c === s1 ? [...near, ...own] : []
      clock.setTimeout(() => resolve({ closer: named }), c === s1 ? 100 : 10)
    }),
  }).then((r) => { result = r })
  await clock.run(() => result !== undefined)
  assert.ok(result)
  return { near, own, asked, result }
}

test('a node another path asked does not count among a path\'s own k closest: the path still walks to k answers of its own', async () => {
  const { own, asked } = await twoPathScene()
  for (const c of own) assert.ok(asked.has(c.idHex), 'path 1 ended on the nodes path 0 had asked, without answers of its own')
})

test('reached (a put\'s copy set): each path\'s own closest answers, up to d * k, closest first; closest keeps the k closest', async () => {
  const { near, own, result } = await twoPathScene()
  assert.deepEqual(result.closest.map((c) => c.idHex), near.map((c) => c.idHex))
  // the 8 answered nearest the key: path 0's (near) and path 1's own (own), in distance order; the seeds are farther
  assert.deepEqual(result.reached.map((c) => c.idHex), [...near, ...own].map((c) => c.idHex))
})
