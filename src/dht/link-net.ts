/**
 * DhtNet over the node's LinkProvider (TCP, memory transport) and the router: outgoing requests ride `Link.request`
 * on a link whose handshake proved the contact's node id; incoming DHT requests are answered by `Dht.handleRequest`
 * with the identity and listen address the handshake proved, never fields from the message body.
 */
import type { Clock } from '../interfaces/clock.js'
import type { Endpoint, LinkProvider, MessageRouter, RequestOptions, TraceContext } from '../interfaces/link.js'
import type { NodeTracer } from '../interfaces/tracing.js'
import { SpanKind } from '@opentelemetry/api'
import { toHex } from '../util/bytes.js'
import { contactFromPeer, type Contact } from './contact.js'
import type { Dht } from './dht.js'
import { DhtMessageType } from './messages.js'
import type { DhtNet, DhtReply } from './net.js'
import { DhtLookupError } from './errors.js'
import { equalBytes } from '../util/bytes.js'

function withTimeout(timeoutMs: number, signal?: AbortSignal): AbortSignal {
  const t = AbortSignal.timeout(timeoutMs)
  return signal ? AbortSignal.any([signal, t]) : t
}

export class LinkDhtNet implements DhtNet {
  constructor(private readonly links: LinkProvider, private readonly clock: Clock) {}

  async request(c: Contact, type: number, body: Uint8Array, opts: { timeoutMs: number; signal?: AbortSignal; trace?: TraceContext }): Promise<DhtReply> {
    let link = this.links.get(c.nodeId)
    if (!link || link.closed) link = await this.links.dial(c.addr, { expectNodeId: c.nodeId, signal: withTimeout(opts.timeoutMs, opts.signal) })
    // a provider may hand back an open link that merely shares the address (a reused port now served by another
    // node): its answer must never count as this contact's
    if (!equalBytes(link.peer.nodeId, c.nodeId)) throw new DhtLookupError('identity_mismatch', `peer at ${c.addr.host}:${c.addr.port} is not the expected node`)
    const ro: RequestOptions = { timeoutMs: opts.timeoutMs }
    if (opts.signal) ro.signal = opts.signal
    if (opts.trace) ro.trace = opts.trace
    const msg = await link.request(type, body, ro)
    const from = contactFromPeer(link.peer, this.clock.now()) ?? c
    return { type: msg.type, body: msg.body, from }
  }

  hasLink(c: Contact): boolean {
    const link = this.links.get(c.nodeId)
    return link !== undefined && !link.closed
  }

  async connect(addr: Endpoint, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<Contact | undefined> {
    const link = await this.links.dial(addr, { signal: withTimeout(opts.timeoutMs, opts.signal) })
    const c = contactFromPeer(link.peer, this.clock.now())
    if (!c) throw new DhtLookupError('no_listen_addr', `peer at ${addr.host}:${addr.port} has no listen address`)
    return c
  }
}

const TYPE_NAMES = new Map<number, string>(Object.entries(DhtMessageType).map(([k, v]) => [v, k]))

const REQUEST_TYPES = [
  DhtMessageType.FIND_NODE, DhtMessageType.FIND_VALUE, DhtMessageType.STORE,
  DhtMessageType.ADD_PROVIDER, DhtMessageType.GET_PROVIDERS, DhtMessageType.PING,
]

/** Registers the DHT request handlers on a router; returns a function that unregisters them. */
export function serveDht(router: MessageRouter, dht: Dht, clock: Clock, tracer?: NodeTracer): () => void {
  const offs = REQUEST_TYPES.map((type) => router.handle(type, (msg) => {
    if (!msg.reply) return
    const peer = msg.link.peer
    // a traced request gets a server span under the requester's hop span
    const span = tracer && msg.trace ? tracer.start(`dht.handle ${TYPE_NAMES.get(type) ?? type}`, { parent: msg.trace, kind: SpanKind.SERVER, attributes: { 'zeone.peer.id': toHex(peer.nodeId) } }) : undefined
    const res = dht.handleRequest(peer, contactFromPeer(peer, clock.now()), msg.type, msg.body)
    msg.reply(res.type, res.body)
    span?.setAttribute('zeone.dht.reply_type', res.type)
    span?.end()
  }))
  return () => { for (const off of offs) off() }
}
