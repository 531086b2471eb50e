/**
 * Runs one disjoint-path lookup (lookup.ts) for the node: seeds from the table, requests through the node's rpc,
 * and, when asked for, the lookup latency metric and one trace span per lookup (an event per answer, a client span
 * per request carried to the peer).
 */
import { SpanKind } from '@opentelemetry/api'
import type { Endpoint, TraceContext } from '../interfaces/link.js'
import { sha1 } from '../crypto/hash.js'
import type { NodeTracer } from '../interfaces/tracing.js'
import { toHex } from '../util/bytes.js'
import { failSpan } from '../util/span.js'
import { makeContact, type Contact } from './contact.js'
import type { DhtContext, OnAnswer } from './context.js'
import { DhtInvalidError } from './errors.js'
import { lookup, type LookupResult, type QueryAnswer } from './lookup.js'
import type { DhtMessage, WireContact } from './messages.js'

export interface LookupDeps {
  readonly selfIdHex: string
  readonly tracer: NodeTracer | undefined
  readonly onLookup: ((kind: string, ms: number, ok: boolean) => void) | undefined
  /** Whether a link to `c` is open now (asked first). */
  readonly hasLink: ((c: Contact) => boolean) | undefined
  rpc(c: Contact, m: DhtMessage, signal?: AbortSignal, trace?: TraceContext): Promise<DhtMessage>
  /** May an address a peer named be dialled (`DhtInit.dialable`)? */
  dialable(addr: Endpoint): boolean
}

/**
 * Runs a disjoint-path lookup for `target`, sending `make(target)` to each node; `onAnswer` may stop it (true) or
 * say the answer held the value looked for (`held`: with `quorum`, the lookup ends once the closest nodes answered
 * with that many, lookup.ts `quorumFromClosest`).
 */
export function runLookup(ctx: DhtContext, deps: LookupDeps, target: Uint8Array, make: () => DhtMessage, onAnswer?: OnAnswer, signal?: AbortSignal, traced = false, quorum = 0): Promise<LookupResult> {
  const { table, config } = ctx
  table.markUsed(target)
  const tracer = deps.tracer
  // the query kind labels the metric and the spans: read once from the first message
  const kind = deps.onLookup || tracer ? make().t : ''
  // a lookup sampled out costs one draw: no span, no hex target, no per-hop spans or events
  const span = tracer?.sampleRoot(traced) ? tracer.start(`dht.lookup ${kind}`, { sample: true, attributes: { 'zeone.dht.kind': kind, 'zeone.dht.target': toHex(target) } }) : undefined
  const hasLink = deps.hasLink
  const init = {
    target, selfIdHex: deps.selfIdHex, clock: ctx.clock,
    seeds: table.closest(target, config.k),
    k: config.k, alpha: config.alpha, paths: config.disjointPaths, softTimeoutMs: config.softTimeoutMs,
    ...(quorum > 0 ? { quorum } : {}),
    admit: (c: Contact) => ctx.admissible(c.nodeId),
    ...(hasLink ? { warm: (c: Contact) => hasLink(c) } : {}),
    query: async (c: Contact, sig: AbortSignal, path: number): Promise<QueryAnswer> => {
      const hop = span && tracer!.start(`dht.rpc ${kind}`, { parent: span, kind: SpanKind.CLIENT, attributes: { 'zeone.peer.id': c.idHex, 'network.peer.address': c.addr.host, 'network.peer.port': c.addr.port } })
      try {
        const ans = await deps.rpc(c, make(), sig, hop ? tracer!.contextOf(hop) : undefined)
        if (ans.t !== 'nodes') throw new DhtInvalidError('unexpected', 'lookup answer is not a node list')
        const verdict = onAnswer?.(c, ans, path) ?? false
        const stop = verdict === true
        const held = typeof verdict === 'object' && verdict.held
        const closer = toContacts(ctx, deps, c, ans.nodes)
        if (span) { span.addEvent('answer', { 'zeone.peer.id': c.idHex, 'zeone.dht.closer': closer.length, 'zeone.dht.stop': stop }); hop!.end() }
        return { closer, stop, held }
      } catch (err) {
        if (span) { span.addEvent('no_answer', { 'zeone.peer.id': c.idHex, 'zeone.error.code': (err as { code?: string }).code ?? 'error' }); failSpan(hop, err) }
        throw err
      }
    },
  }
  const done = deps.onLookup
  if (!done && !span) return lookup(signal ? { ...init, signal } : init)
  const t0 = ctx.clock.now()
  return lookup(signal ? { ...init, signal } : init).then(
    (r) => {
      done?.(kind, ctx.clock.now() - t0, true)
      if (span) { span.setAttributes({ 'zeone.dht.messages': r.messages, 'zeone.dht.hops': r.hops, 'zeone.dht.answered': r.closest.length, 'zeone.dht.stopped': r.stopped }); span.end() }
      return r
    },
    (e: unknown) => { done?.(kind, ctx.clock.now() - t0, false); failSpan(span, e); throw e },
  )
}

/**
 * Turns the contacts a peer answered with into lookup candidates, dropping every address we may not dial
 * (loopback, private, link-local, metadata unless configured; our own ports). Naming one is a strike against the
 * peer that answered: an honest node only hands out contacts it reached over the network.
 */
function toContacts(ctx: DhtContext, deps: LookupDeps, from: Contact, nodes: WireContact[]): Contact[] {
  const out: Contact[] = []
  let refused = 0
  for (const n of nodes) {
    if (deps.dialable(n.addr)) out.push(makeContact(n.nodeId, sha1(n.nodeId), n.addr))
    else refused++
  }
  if (refused > 0) {
    ctx.log.debug({ peer: from.idHex, refused }, 'dht answer named undialable addresses')
    ctx.trust?.report(from.nodeId, 'invalid_message', `dht answer named ${refused} undialable address(es)`)
  }
  return out
}
