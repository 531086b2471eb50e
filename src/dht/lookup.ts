/**
 * Iterative Kademlia lookup over d disjoint paths (S/Kademlia §4.4). The seeds (our k closest) are dealt round-robin
 * to the paths; a node belongs to the first path that learns of it and is never queried by another, so one
 * adversary cannot sit on every path. Each path keeps alpha requests in flight, queries the closest unqueried
 * candidates, and ends when its k closest live candidates have all answered; once its closest candidate has
 * answered (no closer node turned up), it asks the rest of its k closest at once (the Kademlia paper's final round). A request slower than `softTimeoutMs`
 * stops holding a slot and stops counting among the k closest, but its late answer is still merged (the RPC's own
 * hard timeout ends it): a path with fewer than k answers never ends while such a request is pending unless k nodes
 * answered over all paths, so a lookup ends with fewer than k answered only when no candidate remains. `query` may ask to stop the whole lookup.
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
  /** End the whole lookup now (e.g. a valid value was found). */
  stop?: boolean
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
  clock: Clock
  /** `path`: which of the d disjoint paths asks (0..d-1). */
  query(c: Contact, signal: AbortSignal, path: number): Promise<QueryAnswer>
  signal?: AbortSignal
  /** Extra filter for learned candidates (static puzzle, ...). */
  admit?(c: Contact): boolean
}

export interface LookupResult {
  /** Nodes that answered, closest to the target first, at most k. */
  closest: Contact[]
  /** True when `query` asked to stop. */
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
interface Entry { c: Contact; state: State; depth: number }
interface Path { entries: Entry[]; inflight: number; finished: boolean }

const MAX_CANDIDATES_FACTOR = 4

export function lookup(init: LookupInit): Promise<LookupResult> {
  const k = init.k ?? 20
  const alpha = init.alpha ?? 3
  const d = Math.max(1, init.paths ?? 4)
  const soft = init.softTimeoutMs ?? 400
  const target = init.target
  const owner = new Map<string, number>()
  const paths: Path[] = []
  for (let i = 0; i < d; i++) paths.push({ entries: [], inflight: 0, finished: false })
  const seeds = [...init.seeds].sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
  seeds.forEach((c, i) => {
    if (c.idHex === init.selfIdHex || owner.has(c.idHex)) return
    const p = i % d
    owner.set(c.idHex, p)
    paths[p]!.entries.push({ c, state: 'new', depth: 1 })
  })
  const ac = new AbortController()
  // one listener per request in flight on this lookup's own signal: bounded by d * alpha plus slow requests
  setMaxListeners(d * k * MAX_CANDIDATES_FACTOR, ac.signal)
  const timers = new Set<{ cancel(): void }>()
  let messages = 0
  let stopped = false
  let stopDepth = 0
  let finished = false
  let answeredTotal = 0
  let sweeping = false

  return new Promise<LookupResult>((resolve) => {
    const finish = (): void => {
      if (finished) return
      finished = true
      for (const t of timers) t.cancel()
      timers.clear()
      ac.abort()
      init.signal?.removeEventListener('abort', finish)
      const done: Entry[] = []
      const fresh: Entry[] = []
      for (const p of paths) for (const e of p.entries) if (e.state === 'done') done.push(e); else if (e.state === 'new') fresh.push(e)
      fresh.sort((a, b) => compareDistance(a.c.dhtId, b.c.dhtId, target))
      done.sort((a, b) => compareDistance(a.c.dhtId, b.c.dhtId, target))
      const best = done[0]
      let agree = 0
      if (best) for (const p of paths) if (p.entries.find((e) => e.state === 'done') === best) agree++
      resolve({
        closest: done.slice(0, k).map((e) => e.c),
        stopped,
        hops: stopped ? stopDepth : best?.depth ?? 0,
        messages,
        pathsAgreeing: agree,
        unqueried: fresh.slice(0, k).map((e) => e.c),
      })
    }
    if (init.signal?.aborted) { finish(); return }
    init.signal?.addEventListener('abort', finish, { once: true })

    const merge = (pi: number, from: Entry, closer: Contact[]): void => {
      const p = paths[pi]!
      let added = false
      for (const c of closer) {
        if (c.idHex === init.selfIdHex || owner.has(c.idHex)) continue
        if (init.admit && !init.admit(c)) continue
        owner.set(c.idHex, pi)
        p.entries.push({ c, state: 'new', depth: from.depth + 1 })
        added = true
      }
      if (!added) return
      p.entries.sort((a, b) => compareDistance(a.c.dhtId, b.c.dhtId, target))
      const cap = k * MAX_CANDIDATES_FACTOR
      if (p.entries.length > cap) {
        // drop the furthest candidates nobody asked yet; keep everything with a state
        for (let i = p.entries.length - 1; i >= 0 && p.entries.length > cap; i--) if (p.entries[i]!.state === 'new') p.entries.splice(i, 1)
      }
    }

    const launch = (pi: number, e: Entry): void => {
      const p = paths[pi]!
      e.state = 'inflight'
      p.inflight++
      messages++
      let settled = false
      const timer = init.clock.setTimeout(() => {
        timers.delete(timer)
        if (settled || e.state !== 'inflight') return
        e.state = 'slow'
        p.inflight--
        pump(pi)
      }, soft)
      timers.add(timer)
      init.query(e.c, ac.signal, pi).then((ans) => {
        settled = true
        timer.cancel(); timers.delete(timer)
        if (finished) return
        if (e.state === 'inflight') p.inflight--
        e.state = 'done'
        answeredTotal++
        if (ans.stop) { stopped = true; stopDepth = e.depth; finish(); return }
        merge(pi, e, ans.closer)
        pump(pi)
      }, () => {
        settled = true
        timer.cancel(); timers.delete(timer)
        if (finished) return
        if (e.state === 'inflight') p.inflight--
        e.state = 'failed'
        pump(pi)
      })
    }

    const pump = (pi: number): void => {
      if (finished) return
      const p = paths[pi]!
      if (!p.finished) {
        let window = 0
        let waiting = false
        let answered = 0
        let slow = 0
        // Kademlia's last round: once the path's closest live candidate has answered (its last answers named nobody
        // closer), the rest of its k closest are asked at once instead of alpha at a time; otherwise the end of every
        // path costs about k / alpha more round trips, each one a connection setup when no link is open
        let lead: State | undefined
        for (const e of p.entries) if (e.state !== 'failed' && e.state !== 'slow') { lead = e.state; break }
        const cap = lead === 'done' ? k : alpha
        for (const e of p.entries) {
          if (e.state === 'done') answered++
          else if (e.state === 'slow') slow++
          if (window >= k) continue
          if (e.state === 'failed' || e.state === 'slow') continue
          window++
          if (e.state === 'new') {
            if (p.inflight < cap) launch(pi, e)
            if (finished) return
            waiting = true
          } else if (e.state === 'inflight') waiting = true
        }
        // a slow request still pending is a candidate that remains: the path waits for its late answer (or its
        // hard timeout) unless k nodes already answered, on this path or on all paths together (the result is the
        // k closest of all paths); otherwise one slow seed would end the lookup empty, while a path that merely ran
        // out of fresh candidates next to its siblings would hold the whole lookup for the dead entries' hard timeout
        if (!waiting && p.inflight === 0 && (slow === 0 || answered >= k || answeredTotal >= k)) p.finished = true
      }
      if (paths.every((q) => q.finished)) { finish(); return }
      // once k answered in all, paths that only wait on slow requests can end: look at them again
      if (answeredTotal >= k && !sweeping) {
        sweeping = true
        for (let q = 0; q < d && !finished; q++) if (q !== pi && !paths[q]!.finished && paths[q]!.inflight === 0) pump(q)
        sweeping = false
      }
    }

    for (let i = 0; i < d; i++) pump(i)
  })
}
