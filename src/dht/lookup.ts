/**
 * Iterative Kademlia lookup over d disjoint paths (S/Kademlia §4.4).
 * Why this file is long: one state machine whose walk, sibling help and quorum check share the lookup's state; split
 * up they would pass all of it around.
 *
 * Disjoint queried sets: every node is queried by at most one path, and a path learns only from the answers to its
 * own queries, so one adversary cannot sit on every path. The seeds (our k closest) are dealt round-robin.
 *
 * Shared siblings: a path's candidate list holds every node its own answers named, also those another path learned
 * first (before, the first path to learn of a node owned it and the others never saw it: one answer from near the
 * key named all k siblings, so they all belonged to one path, and a path captured that way decided which siblings the
 * lookup reached). A node another path already asked is that path's: it is neither asked again nor counted among
 * this path's k closest, so every path still needs k answers of its own (counting it as answered ended the walk of a
 * path that merely listed the attackers another path had reached). On top of that, a path with a free slot and
 * nothing of its own to ask takes an unqueried node among the k closest known over all paths (the sibling
 * candidates) and asks it itself, so the final k are drawn from the union and all of them get asked, whoever learned
 * them; the lookup does not end while one of those remains. What such an answer names joins the union only, never
 * the helping path's own list: each path's walk is steered by its own answers alone.
 *
 * Each path keeps alpha requests in flight, queries its closest unqueried candidates, and ends when its k closest
 * live candidates have all answered; once its closest candidate has answered (no closer node turned up), it asks the
 * rest of its k closest at once (the Kademlia paper's final round). A request slower than `softTimeoutMs` stops
 * holding a slot and stops counting among the k closest, but its late answer is still merged (the RPC's own hard
 * timeout ends it): a path with fewer than k answers never ends while such a request is pending unless k nodes
 * answered over all paths, so a lookup ends with fewer than k answered only when no candidate remains.
 *
 * Early end: `query` may ask to stop the whole lookup, and with `quorum` set the lookup ends once the closest nodes
 * known over all paths, taken in distance order with none of them unanswered, include `quorum` whose answer `held`
 * the value (see `quorumFromClosest`).
 *
 * Pure logic: the network is the injected `query` function, time is the injected clock.
 */
import { setMaxListeners } from 'node:events'
import type { Clock } from '../interfaces/clock.js'
import type { Contact } from './contact.js'
import { compareDistance } from './id.js'

export interface QueryAnswer {
  /** Candidates the peer returned (unverified until we reach them). */
  closer: Contact[]
  /** End the whole lookup now. */
  stop?: boolean
  /** The answer carried the value looked for (counts towards `quorum`). */
  held?: boolean
}

export interface LookupInit {
  target: Uint8Array
  seeds: Contact[]
  selfIdHex: string
  /** @default 20 */
  k?: number
  /** @default 3 */
  alpha?: number
  /** Disjoint paths d. @default 4 */
  paths?: number
  /** @default 400 */
  softTimeoutMs?: number
  /** End once the closest answered nodes (none closer unanswered) include this many that held the value. @default off */
  quorum?: number
  clock: Clock
  /** `path`: which of the d disjoint paths asks (0..d-1). */
  query(c: Contact, signal: AbortSignal, path: number): Promise<QueryAnswer>
  signal?: AbortSignal
  /** Extra filter for learned candidates (static puzzle, ...). */
  admit?(c: Contact): boolean
  /** Whether a link to `c` is open now (asked first among the candidates due: no connection setup to pay). */
  warm?(c: Contact): boolean
}

export interface LookupResult {
  /** Nodes that answered, closest to the target first, at most k. */
  closest: Contact[]
  /** Nodes that answered, closest first, at most d * k (each path's own answers: a put's wider copy set). */
  reached: Contact[]
  /** True when `query` asked to stop or the quorum was met. */
  stopped: boolean
  /** Path depth of the answer that stopped the lookup, else of the closest node that answered. */
  hops: number
  /** Requests sent. */
  messages: number
  /** Paths whose closest answered node equals the overall closest one. */
  pathsAgreeing: number
  /** Candidates learned but never queried, closest first, at most k (unverified: a peer named them). */
  unqueried: Contact[]
}

type State = 'new' | 'inflight' | 'slow' | 'done' | 'failed'
/** One node of the lookup, shared by every path that learned it; `by`: the path that queried it (-1: none yet). */
interface Entry { c: Contact; state: State; depth: number; by: number; held: boolean }
interface Path { entries: Entry[]; known: Set<string>; inflight: number; finished: boolean }

const MAX_CANDIDATES_FACTOR = 4

const live = (e: Entry): boolean => e.state !== 'failed' && e.state !== 'slow'

/**
 * Whether the closest nodes known (in distance order, skipping those that failed or are slow) answered with
 * `quorum` copies before any unanswered one: copies from far away (where attackers that are not siblings answer)
 * never end a read while a closer node, which may hold a newer copy, has not answered.
 */
export function quorumFromClosest(sorted: readonly { state: State; held: boolean }[], quorum: number): boolean {
  let held = 0
  for (const e of sorted) {
    if (e.state === 'failed' || e.state === 'slow') continue
    if (e.state !== 'done') return false
    if (e.held && ++held >= quorum) return true
  }
  return false
}

export function lookup(init: LookupInit): Promise<LookupResult> {
  const k = init.k ?? 20
  const alpha = init.alpha ?? 3
  const d = Math.max(1, init.paths ?? 4)
  const soft = init.softTimeoutMs ?? 400
  const quorum = init.quorum ?? 0
  const target = init.target
  const byId = new Map<string, Entry>()
  /** Every entry, closest first (the union of the paths' candidates). */
  const union: Entry[] = []
  const closer = (a: Entry, b: Entry): number => compareDistance(a.c.dhtId, b.c.dhtId, target)
  const paths: Path[] = []
  for (let i = 0; i < d; i++) paths.push({ entries: [], known: new Set(), inflight: 0, finished: false })

  const entryOf = (c: Contact, depth: number): Entry => {
    let e = byId.get(c.idHex)
    if (e) return e
    e = { c, state: 'new', depth, by: -1, held: false }
    byId.set(c.idHex, e)
    let lo = 0, hi = union.length
    while (lo < hi) { const m = (lo + hi) >> 1; if (closer(union[m]!, e) < 0) lo = m + 1; else hi = m }
    union.splice(lo, 0, e)
    return e
  }
  const seeds = [...init.seeds].sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
  let dealt = 0
  for (const c of seeds) {
    if (c.idHex === init.selfIdHex || byId.has(c.idHex)) continue
    const p = paths[dealt++ % d]!
    p.entries.push(entryOf(c, 1))
    p.known.add(c.idHex)
  }
  const ac = new AbortController()
  // one listener per request in flight on this lookup's own signal: bounded by d * k plus slow requests
  setMaxListeners(d * k * MAX_CANDIDATES_FACTOR, ac.signal)
  const timers = new Set<{ cancel(): void }>()
  let messages = 0
  let stopped = false
  let stopDepth = 0
  let finished = false
  let answeredTotal = 0

  return new Promise<LookupResult>((resolve) => {
    const finish = (): void => {
      if (finished) return
      finished = true
      for (const t of timers) t.cancel()
      timers.clear()
      ac.abort()
      init.signal?.removeEventListener('abort', finish)
      const done = union.filter((e) => e.state === 'done')
      const best = done[0]
      let agree = 0
      if (best) for (const p of paths) if (p.entries.find((e) => e.state === 'done') === best) agree++
      resolve({
        closest: done.slice(0, k).map((e) => e.c),
        reached: done.slice(0, d * k).map((e) => e.c),
        stopped,
        hops: stopped ? stopDepth : best?.depth ?? 0,
        messages,
        pathsAgreeing: agree,
        unqueried: union.filter((e) => e.state === 'new').slice(0, k).map((e) => e.c),
      })
    }
    if (init.signal?.aborted) { finish(); return }
    init.signal?.addEventListener('abort', finish, { once: true })

    const merge = (pi: number, from: Entry, named: Contact[]): void => {
      const p = paths[pi]!
      let added = false
      for (const c of named) {
        if (c.idHex === init.selfIdHex || p.known.has(c.idHex)) continue
        if (!byId.has(c.idHex) && init.admit && !init.admit(c)) continue
        p.entries.push(entryOf(c, from.depth + 1))
        p.known.add(c.idHex)
        added = true
      }
      if (!added) return
      p.entries.sort(closer)
      const cap = k * MAX_CANDIDATES_FACTOR
      if (p.entries.length > cap) {
        // drop the furthest candidates nobody asked yet; keep everything with a state
        for (let i = p.entries.length - 1; i >= 0 && p.entries.length > cap; i--) {
          const e = p.entries[i]!
          if (e.state === 'new') { p.entries.splice(i, 1); p.known.delete(e.c.idHex) }
        }
      }
    }

    /** The answer to a sibling-candidate query a path took on top of its walk: what it names joins the union only. */
    const mergeUnion = (from: Entry, named: Contact[]): void => {
      for (const c of named) {
        if (c.idHex === init.selfIdHex || byId.has(c.idHex)) continue
        if (init.admit && !init.admit(c)) continue
        entryOf(c, from.depth + 1)
      }
    }

    const launch = (pi: number, e: Entry, helping = false): void => {
      const p = paths[pi]!
      e.state = 'inflight'
      e.by = pi
      p.inflight++
      messages++
      let settled = false
      const timer = init.clock.setTimeout(() => {
        timers.delete(timer)
        if (settled || e.state !== 'inflight') return
        e.state = 'slow'
        p.inflight--
        pumpAll()
      }, soft)
      timers.add(timer)
      init.query(e.c, ac.signal, pi).then((ans) => {
        settled = true
        timer.cancel(); timers.delete(timer)
        if (finished) return
        if (e.state === 'inflight') p.inflight--
        e.state = 'done'
        e.held = ans.held === true
        answeredTotal++
        if (ans.stop || (quorum > 0 && e.held && quorumFromClosest(union, quorum))) { stopped = true; stopDepth = e.depth; finish(); return }
        if (helping) mergeUnion(e, ans.closer); else merge(pi, e, ans.closer)
        // an answer can complete a prefix held up by this node: check the quorum again after it counted
        if (quorum > 0 && quorumFromClosest(union, quorum)) { stopped = true; stopDepth = e.depth; finish(); return }
        pumpAll()
      }, () => {
        settled = true
        timer.cancel(); timers.delete(timer)
        if (finished) return
        if (e.state === 'inflight') p.inflight--
        e.state = 'failed'
        if (quorum > 0 && quorumFromClosest(union, quorum)) { stopped = true; stopDepth = e.depth; finish(); return }
        pumpAll()
      })
    }

    /** Runs path `pi`'s own walk; returns its free slots (only left when its window has nothing unasked). */
    const walk = (pi: number): number => {
      const p = paths[pi]!
      let window = 0
      let waiting = false
      let answered = 0
      let slow = 0
      // Kademlia's last round: once the path's closest live candidate has answered (its last answers named nobody
      // closer), the rest of its k closest are asked at once instead of alpha at a time; otherwise the end of every
      // path costs about k / alpha more round trips, each one a connection setup when no link is open
      const lead = p.entries.find((e) => live(e) && (e.by === -1 || e.by === pi))?.state
      const cap = lead === 'done' ? k : alpha
      const fresh: Entry[] = []
      for (const e of p.entries) {
        if (e.state === 'done') answered++
        else if (e.state === 'slow' && e.by === pi) slow++
        // a node another path asked is that path's: it neither counts among this path's k closest nor is asked
        // again (counted as answered, it let a path that listed the colluders another path reached end its walk
        // without reaching anything itself: fewer honest siblings heard at 10,000 nodes under the 30% mix)
        if (window >= k || !live(e) || (e.by !== -1 && e.by !== pi)) continue
        window++
        if (e.state === 'new') { fresh.push(e); waiting = true } else if (e.state === 'inflight') waiting = true
      }
      // candidates we hold an open link to first (one round trip instead of a connection setup's three), then the
      // others, closest first within each
      for (const e of warmFirst(fresh)) {
        if (p.inflight >= cap) break
        launch(pi, e)
      }
      // a slow request still pending is a candidate that remains: the path waits for its late answer (or its
      // hard timeout) unless k nodes already answered, on this path or on all paths together (the result is the
      // k closest of all paths); otherwise one slow seed would end the lookup empty, while a path that merely ran
      // out of fresh candidates next to its siblings would hold the whole lookup for the dead entries' hard timeout
      if (!waiting && p.inflight === 0 && (slow === 0 || answered >= k || answeredTotal >= k)) p.finished = true
      return Math.max(0, cap - p.inflight)
    }

    const warmFirst = (xs: Entry[]): Entry[] => {
      const warm = init.warm
      if (!warm || xs.length < 2) return xs
      return [...xs.filter((e) => warm(e.c)), ...xs.filter((e) => !warm(e.c))]
    }

    /** Whether an unqueried or pending node remains among the k closest known over all paths. */
    const siblingsPending = (): boolean => {
      let n = 0
      for (const e of union) {
        if (!live(e)) continue
        if (e.state === 'new' || e.state === 'inflight') return true
        if (++n >= k) return false
      }
      return false
    }

    const pumpAll = (): void => {
      for (let pi = 0; pi < d && !finished; pi++) {
        const p = paths[pi]!
        const free = p.finished ? alpha - p.inflight : walk(pi)
        if (finished) return
        // nothing of its own to ask: help with the k closest known over all paths (never a node already asked). The
        // answer is not merged into this path's list: its walk goes on learning from its own answers only, so a
        // sibling candidate a captured path learned (a colluder naming colluders) never steers an honest path's walk
        if (free > 0) {
          const open: Entry[] = []
          let n = 0
          for (const e of union) {
            if (n >= k) break
            if (!live(e)) continue
            n++
            if (e.state === 'new') open.push(e)
          }
          for (const e of warmFirst(open).slice(0, free)) launch(pi, e, true)
        }
      }
      if (!finished && paths.every((q) => q.finished) && !siblingsPending()) finish()
    }

    pumpAll()
  })
}
