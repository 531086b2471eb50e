/**
 * Iterative Kademlia lookup over d disjoint paths (S/Kademlia §4.4). The seeds (our k closest) are dealt round-robin
 * to the paths; a node belongs to the first path that learns of it and is never queried by another, so one
 * adversary cannot sit on every path. Each path keeps alpha requests in flight, queries the closest unqueried
 * candidates, and ends when its k closest live candidates have all answered. A request slower than `softTimeoutMs`
 * stops holding a slot and stops counting among the k closest, but its late answer is still merged (the RPC's own
 * hard timeout ends it). `query` may ask to stop the whole lookup (a valid value was found).
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
  query(c: Contact, signal: AbortSignal): Promise<QueryAnswer>
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

  return new Promise<LookupResult>((resolve) => {
    const finish = (): void => {
      if (finished) return
      finished = true
      for (const t of timers) t.cancel()
      timers.clear()
      ac.abort()
      init.signal?.removeEventListener('abort', finish)
      const done: Entry[] = []
      for (const p of paths) for (const e of p.entries) if (e.state === 'done') done.push(e)
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
      init.query(e.c, ac.signal).then((ans) => {
        settled = true
        timer.cancel(); timers.delete(timer)
        if (finished) return
        if (e.state === 'inflight') p.inflight--
        e.state = 'done'
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
        for (const e of p.entries) {
          if (window >= k) break
          if (e.state === 'failed' || e.state === 'slow') continue
          window++
          if (e.state === 'new') {
            if (p.inflight < alpha) launch(pi, e)
            if (finished) return
            waiting = true
          } else if (e.state === 'inflight') waiting = true
        }
        if (!waiting && p.inflight === 0) p.finished = true
      }
      if (paths.every((q) => q.finished)) finish()
    }

    for (let i = 0; i < d; i++) pump(i)
  })
}
