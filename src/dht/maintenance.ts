/**
 * Table and replica maintenance: hand-off of the records we hold to a newly added closer node, and bucket refresh
 * (random-id lookups in buckets nobody used for a while; after a join, filling the table), re-validation of
 * restored contacts, ping-before-evict of a full bucket's oldest entry, and the maintenance timers.
 */
import type { Contact } from './contact.js'
import type { DhtContext } from './context.js'
import { encodeMessage } from './messages.js'
import type { DhtNet } from './net.js'
import { shouldHandOff } from './handoff.js'
import { randomIdInBucket } from './id.js'

/** Full-bucket pings in flight at once. */
const MAX_PENDING_PINGS = 16
/** Keys handed to one newly joined node at most. */
const MAX_HANDOFF_KEYS = 1000
/** Learned, unqueried candidates pinged per refresh lookup at most (they enter the table by answering). */
const REFRESH_PINGS = 8

/**
 * Hands the records we hold as a sibling to a newly added closer contact `c`; returns how many keys were sent
 * (the cap counts keys sent, not keys looked at: a store whose first thousand keys are not c's still hands c its own).
 */
export function handOff(ctx: DhtContext, c: Contact): number {
  const now = ctx.clock.now()
  const known = ctx.table.all()
  let sent = 0
  for (const e of ctx.store.entries(now)) {
    if (sent >= MAX_HANDOFF_KEYS) break
    if (!shouldHandOff(e.key, ctx.selfId, c, known, ctx.config.siblings)) continue
    sent++
    for (const record of e.records) ctx.rpc(c, { t: 'store', x: ctx.x, record }).catch(() => {})
    for (const provider of e.providers) ctx.rpc(c, { t: 'add_provider', x: ctx.x, provider }).catch(() => {})
  }
  return sent
}

/**
 * Looks up a random id in every bucket not used for `maxAgeMs`. Candidates a refresh learned but did not query are
 * pinged when their bucket has room (at most REFRESH_PINGS per lookup): they enter the table only by answering, and
 * otherwise a node next to few others (a small network, a sparse bucket) stays without them until they happen to
 * contact us.
 *
 * `maxAgeMs` = 0 is the refresh after a join (or a restart), and it fills the table rather than re-walks it: the
 * lookup of our own id that precedes it already reached the nodes nearest us, so buckets deeper than the one that
 * holds our k-th closest entry are skipped (every node of theirs is nearer than that one), so are buckets already
 * full, and a bucket's lookup ends once the bucket holds k entries. A full refresh of every bucket at d = 4 cost a
 * join about 1,000-1,500 requests (most of them in sparse deep buckets that can never fill); this costs a few
 * hundred and leaves the same table.
 */
export async function refreshBuckets(ctx: DhtContext, random: (n: number) => Uint8Array, maxAgeMs: number): Promise<void> {
  const join = maxAgeMs === 0
  const k = ctx.config.k
  let deepest = 159
  if (join) {
    const near = ctx.table.closest(ctx.selfId, k)
    deepest = near.length >= k ? ctx.table.bucketIndex(near[near.length - 1]!.dhtId) : 159
  }
  for (const i of ctx.table.staleBuckets(maxAgeMs, ctx.clock.now())) {
    if (ctx.stopped()) return
    if (join && (i > deepest || ctx.table.bucketSize(i) >= k)) continue
    const target = randomIdInBucket(ctx.selfId, i, random)
    const res = await (join
      ? ctx.runLookup(target, () => ({ t: 'find_node', x: ctx.x, target }), () => ctx.table.bucketSize(i) >= k)
      : ctx.findNode(target)).catch(() => undefined)
    if (join && ctx.table.bucketSize(i) >= k) continue
    const room = (res?.unqueried ?? []).filter((c) => ctx.admissible(c.nodeId) && ctx.table.hasRoom(c)).slice(0, REFRESH_PINGS)
    await Promise.allSettled(room.map((c) => ctx.rpc(c, { t: 'ping', x: ctx.x })))
  }
}

/** Re-validates restored contacts (they enter the table only if they answer and prove their identity). */
export async function revalidateContacts(ctx: DhtContext, contacts: Contact[], concurrency: number): Promise<number> {
  let ok = 0
  const queue = [...contacts]
  const worker = async (): Promise<void> => {
    for (let c = queue.shift(); c && !ctx.stopped(); c = queue.shift()) {
      try { await ctx.rpc(c, { t: 'ping', x: ctx.x }); ok++ } catch { /* gone */ }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, contacts.length) }, worker))
  return ok
}

/** Runs `fn` every `ms` on the node's clock until it stops (the next round is armed once this one settled). */
export function every(ctx: DhtContext, timers: Set<{ cancel(): void }>, ms: number, fn: () => void | Promise<unknown>): void {
  const arm = (): void => {
    const t = ctx.clock.setTimeout(() => {
      timers.delete(t)
      if (ctx.stopped()) return
      Promise.resolve().then(fn).catch((err) => ctx.log.debug({ err: (err as Error).message }, 'dht maintenance failed')).finally(() => { if (!ctx.stopped()) arm() })
    }, ms)
    timers.add(t)
  }
  arm()
}

/**
 * A new contact found `oldest`'s bucket full: ping it (at most MAX_PENDING_PINGS at once); if it does not answer it
 * is evicted and the freshest replacement takes its place.
 */
export function pingOldest(ctx: DhtContext, net: DhtNet, pinging: Set<string>, signal: AbortSignal, oldest: Contact): void {
  if (pinging.has(oldest.idHex) || pinging.size >= MAX_PENDING_PINGS) return
  pinging.add(oldest.idHex)
  const { type, body } = encodeMessage({ t: 'ping', x: ctx.x })
  net.request(oldest, type, body, { timeoutMs: ctx.config.rpcTimeoutMs, signal })
    .then(() => {
      ctx.table.touch(oldest.idHex, ctx.clock.now())
      ctx.trust?.report(oldest.nodeId, 'ping_responded', 'dht bucket ping')
    }, () => {
      if (ctx.stopped()) return
      ctx.table.evict(oldest.idHex)
      ctx.trust?.report(oldest.nodeId, 'ping_timeout', 'dht bucket ping')
    })
    .finally(() => pinging.delete(oldest.idHex))
}
