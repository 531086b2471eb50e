/**
 * The DHT's server side: answers one inbound request from a proven peer (PING, FIND_NODE, FIND_VALUE,
 * GET_PROVIDERS, STORE, ADD_PROVIDER), with the write rate limit and the checks a stored record must pass.
 */
import { equalBytes, toHex } from '../util/bytes.js'
import type { Contact } from './contact.js'
import type { DhtContext } from './context.js'
import { DhtInvalidError } from './errors.js'
import { ackTypeFor, decodeMessage, encodeMessage, type DhtMessage, type WireContact } from './messages.js'
import { checkDynamicPuzzle } from './puzzle.js'
import type { PeerRateLimiter } from './rate-limit.js'
import { verifyProvider, verifyRecord, type SignedRecord } from './record.js'

/** Clock skew tolerated on a record's expiry beyond the maximum TTL. */
const EXPIRY_SKEW_MS = 60_000

export interface ServeState {
  readonly writes: PeerRateLimiter
  /** Per-key record checks (`Dht.setValidator`), by hex key. */
  readonly validators: Map<string, (r: SignedRecord) => string | undefined>
  /** Offers the requester's contact to the table (`Dht.observe`). */
  observe(c: Contact): void
}

/**
 * Answers one inbound DHT request from a proven peer. `contact` is its dialable contact (undefined when it does
 * not listen: it is served but never admitted). Throws DhtInvalidError for anything malformed or forged.
 */
export function serveRequest(ctx: DhtContext, st: ServeState, peer: { nodeId: Uint8Array; dhtId: Uint8Array }, contact: Contact | undefined, type: number, body: Uint8Array): { type: number; body: Uint8Array } {
  const { config, store, x } = ctx
  let m: DhtMessage
  try {
    m = decodeMessage(type, body, config.maxValueBytes)
  } catch (err) {
    ctx.trust?.report(peer.nodeId, 'invalid_message', 'dht decode')
    throw err
  }
  if (!checkDynamicPuzzle(peer.dhtId, m.x, config.dynamicPuzzleBits)) {
    throw new DhtInvalidError('puzzle', 'dynamic puzzle solution missing or wrong')
  }
  if (contact) st.observe(contact)
  const now = ctx.clock.now()
  const ack = (ok: boolean, err?: string): { type: number; body: Uint8Array } => {
    const { body: b } = encodeMessage(ok || err === undefined ? { t: 'ack', x, ok } : { t: 'ack', x, ok, err })
    return { type: ackTypeFor(type), body: b }
  }
  const forgery = (err: string): void => {
    ctx.trust?.report(peer.nodeId, err === 'bad_signature' ? 'signature_forgery' : 'invalid_message', `dht ${err}`)
  }
  const nodesFor = (target: Uint8Array): WireContact[] =>
    ctx.table.closestLive(target, config.k, (c) => equalBytes(c.nodeId, peer.nodeId)).map((c) => ({ nodeId: c.nodeId, addr: c.addr }))
  switch (m.t) {
    case 'ping': return ack(true)
    case 'find_node': return encodeMessage({ t: 'nodes', x, nodes: nodesFor(m.target) })
    case 'find_value': return encodeMessage({ t: 'nodes', x, nodes: nodesFor(m.key), records: store.getRecords(m.key, now) })
    case 'get_providers':
      return encodeMessage({ t: 'nodes', x, nodes: nodesFor(m.key), providers: store.getProviders(m.key, now, config.maxProvidersPerKey) })
    case 'store': {
      if (!st.writes.take(toHex(peer.nodeId), now)) return ack(false, 'rate_limited')
      const err = checkRecord(ctx, st, m.record, now)
      if (err) { forgery(err); return ack(false, err) }
      const res = store.putRecord(m.record, now)
      return ack(res === 'stored' || res === 'unchanged', res)
    }
    case 'add_provider': {
      if (!st.writes.take(toHex(peer.nodeId), now)) return ack(false, 'rate_limited')
      const err = checkExpiry(ctx, m.provider.expires, now) ?? (verifyProvider(m.provider) ? undefined : 'bad_signature')
      if (err) { forgery(err); return ack(false, err) }
      const res = store.putProvider(m.provider, now)
      return ack(res === 'stored' || res === 'unchanged', res)
    }
    default: throw new DhtInvalidError('unexpected', `not a DHT request: ${m.t}`)
  }
}

function checkExpiry(ctx: DhtContext, expires: number, now: number): string | undefined {
  if (expires <= now) return 'expired'
  if (expires > now + ctx.config.recordTtlMs + EXPIRY_SKEW_MS) return 'ttl_too_long'
  return undefined
}

function checkRecord(ctx: DhtContext, st: ServeState, r: SignedRecord, now: number): string | undefined {
  if (r.value.byteLength > ctx.config.maxValueBytes) return 'too_large'
  return checkExpiry(ctx, r.expires, now) ?? (verifyRecord(r) ? undefined : 'bad_signature') ?? st.validators.get(toHex(r.key))?.(r)
}
