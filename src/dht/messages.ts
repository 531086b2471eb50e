/**
 * DHT wire messages (docs/protocol/dht.md): deterministic CBOR maps with one-letter keys, every one carrying a
 * version `v` and the sender's dynamic S/Kademlia puzzle solution `x`. Decoders are strict: unknown fields, wrong
 * types and oversize fields are refused before anything else looks at the message.
 */
import type { Endpoint } from '../interfaces/link.js'
import { decode, encode, type CborValue } from '../wire/cbor.js'
import { MessageType, registerMessageTypes } from '../wire/message-types.js'
import {
  asMap, bytesField, endpointField, fail, providerFromCbor, providerToCbor, recordFromCbor, recordToCbor, uintField,
  type SignedProvider, type SignedRecord,
} from './record.js'
import { ID_BYTES } from './id.js'

export const DhtMessageType = {
  FIND_NODE: MessageType.DHT_FIND_NODE,
  FIND_NODE_RESP: MessageType.DHT_FIND_NODE_RESP,
  FIND_VALUE: MessageType.DHT_FIND_VALUE,
  FIND_VALUE_RESP: MessageType.DHT_FIND_VALUE_RESP,
  STORE: MessageType.DHT_STORE,
  STORE_RESP: MessageType.DHT_STORE_RESP,
  ADD_PROVIDER: 0x16,
  ADD_PROVIDER_RESP: 0x17,
  GET_PROVIDERS: 0x18,
  GET_PROVIDERS_RESP: 0x19,
  PING: 0x1a,
  PONG: 0x1b,
} as const

registerMessageTypes('dht', {
  DHT_ADD_PROVIDER: 0x16, DHT_ADD_PROVIDER_RESP: 0x17, DHT_GET_PROVIDERS: 0x18, DHT_GET_PROVIDERS_RESP: 0x19,
  DHT_PING: 0x1a, DHT_PONG: 0x1b,
})

export const DHT_WIRE_VERSION = 1
/** Most node entries in one answer (K is at most 64). */
export const MAX_NODES = 64
/** Most signed values / providers in one answer. */
export const MAX_RECORDS = 256

export interface WireContact { nodeId: Uint8Array; addr: Endpoint }

export type DhtMessage =
  | { t: 'find_node'; x: Uint8Array; target: Uint8Array }
  | { t: 'find_value'; x: Uint8Array; key: Uint8Array }
  | { t: 'get_providers'; x: Uint8Array; key: Uint8Array }
  | { t: 'store'; x: Uint8Array; record: SignedRecord }
  | { t: 'add_provider'; x: Uint8Array; provider: SignedProvider }
  | { t: 'ping'; x: Uint8Array }
  | { t: 'nodes'; x: Uint8Array; nodes: WireContact[]; records?: SignedRecord[]; providers?: SignedProvider[] }
  | { t: 'ack'; x: Uint8Array; ok: boolean; err?: string }

const contactToCbor = (c: WireContact): CborValue => [c.nodeId, c.addr.host, c.addr.port]

function contactFromCbor(v: unknown, i: number): WireContact {
  if (!Array.isArray(v) || v.length !== 3) fail(`node ${i} must be [nodeId, host, port]`)
  return { nodeId: bytesField(v[0], `node ${i} id`, 32, 32), addr: endpointField([v[1], v[2]], `node ${i}`) }
}

function listOf<T>(v: unknown, what: string, max: number, each: (x: unknown, i: number) => T): T[] {
  if (!Array.isArray(v) || v.length > max) fail(`${what} must be an array of <= ${max}`)
  return v.map(each)
}

/** Encodes a message of the given wire type. */
export function encodeMessage(m: DhtMessage): { type: number; body: Uint8Array } {
  const base = { v: DHT_WIRE_VERSION, x: m.x }
  switch (m.t) {
    case 'find_node': return { type: DhtMessageType.FIND_NODE, body: encode({ ...base, t: m.target }) }
    case 'find_value': return { type: DhtMessageType.FIND_VALUE, body: encode({ ...base, k: m.key }) }
    case 'get_providers': return { type: DhtMessageType.GET_PROVIDERS, body: encode({ ...base, k: m.key }) }
    case 'store': return { type: DhtMessageType.STORE, body: encode({ ...base, r: recordToCbor(m.record) }) }
    case 'add_provider': return { type: DhtMessageType.ADD_PROVIDER, body: encode({ ...base, r: providerToCbor(m.provider) }) }
    case 'ping': return { type: DhtMessageType.PING, body: encode(base) }
    case 'ack': {
      const o: Record<string, CborValue> = { ...base, ok: m.ok }
      if (m.err !== undefined) o.e = m.err.slice(0, 200)
      return { type: DhtMessageType.STORE_RESP, body: encode(o) }
    }
    case 'nodes': {
      const o: Record<string, CborValue> = { ...base, n: m.nodes.map(contactToCbor) }
      if (m.records) o.r = m.records.map(recordToCbor)
      if (m.providers) o.p = m.providers.map(providerToCbor)
      const type = m.providers ? DhtMessageType.GET_PROVIDERS_RESP : m.records ? DhtMessageType.FIND_VALUE_RESP : DhtMessageType.FIND_NODE_RESP
      return { type, body: encode(o) }
    }
  }
}

/** Reply type for an `ack` to a given request type (STORE_RESP, ADD_PROVIDER_RESP, PONG). */
export function ackTypeFor(reqType: number): number {
  if (reqType === DhtMessageType.ADD_PROVIDER) return DhtMessageType.ADD_PROVIDER_RESP
  if (reqType === DhtMessageType.PING) return DhtMessageType.PONG
  return DhtMessageType.STORE_RESP
}

/** Decodes and validates a DHT message body of wire `type`. Throws DhtInvalidError on anything malformed. */
export function decodeMessage(type: number, body: Uint8Array, maxValueBytes = 65_536): DhtMessage {
  let raw: CborValue
  try {
    raw = decode(body, { maxDepth: 5, maxItems: MAX_RECORDS * 6 + 16, maxStringBytes: maxValueBytes })
  } catch (err) {
    fail(`undecodable CBOR: ${(err as Error).message}`)
  }
  const fields = FIELDS[type]
  if (!fields) fail(`not a DHT message type 0x${type.toString(16)}`)
  const m = asMap(raw, 'message', fields)
  if (m.v !== DHT_WIRE_VERSION) fail(`unsupported DHT message version ${String(m.v)}`)
  const x = bytesField(m.x, 'puzzle', ID_BYTES, ID_BYTES)
  switch (type) {
    case DhtMessageType.FIND_NODE: return { t: 'find_node', x, target: bytesField(m.t, 'target', ID_BYTES, ID_BYTES) }
    case DhtMessageType.FIND_VALUE: return { t: 'find_value', x, key: bytesField(m.k, 'key', ID_BYTES, ID_BYTES) }
    case DhtMessageType.GET_PROVIDERS: return { t: 'get_providers', x, key: bytesField(m.k, 'key', ID_BYTES, ID_BYTES) }
    case DhtMessageType.STORE: return { t: 'store', x, record: recordFromCbor(m.r, maxValueBytes) }
    case DhtMessageType.ADD_PROVIDER: return { t: 'add_provider', x, provider: providerFromCbor(m.r) }
    case DhtMessageType.PING: return { t: 'ping', x }
    case DhtMessageType.STORE_RESP: case DhtMessageType.ADD_PROVIDER_RESP: case DhtMessageType.PONG: {
      if (typeof m.ok !== 'boolean') fail('ok must be a boolean')
      const a: DhtMessage = { t: 'ack', x, ok: m.ok }
      if (m.e !== undefined) { if (typeof m.e !== 'string' || m.e.length > 200) fail('error text invalid'); a.err = m.e }
      return a
    }
    default: {
      const out: DhtMessage = { t: 'nodes', x, nodes: listOf(m.n, 'nodes', MAX_NODES, contactFromCbor) }
      if (m.r !== undefined) out.records = listOf(m.r, 'records', MAX_RECORDS, (r) => recordFromCbor(r, maxValueBytes))
      if (m.p !== undefined) out.providers = listOf(m.p, 'providers', MAX_RECORDS, providerFromCbor)
      return out
    }
  }
}

const FIELDS: Record<number, readonly string[]> = {
  [DhtMessageType.FIND_NODE]: ['v', 'x', 't'],
  [DhtMessageType.FIND_VALUE]: ['v', 'x', 'k'],
  [DhtMessageType.GET_PROVIDERS]: ['v', 'x', 'k'],
  [DhtMessageType.STORE]: ['v', 'x', 'r'],
  [DhtMessageType.ADD_PROVIDER]: ['v', 'x', 'r'],
  [DhtMessageType.PING]: ['v', 'x'],
  [DhtMessageType.STORE_RESP]: ['v', 'x', 'ok', 'e'],
  [DhtMessageType.ADD_PROVIDER_RESP]: ['v', 'x', 'ok', 'e'],
  [DhtMessageType.PONG]: ['v', 'x', 'ok', 'e'],
  [DhtMessageType.FIND_NODE_RESP]: ['v', 'x', 'n'],
  [DhtMessageType.FIND_VALUE_RESP]: ['v', 'x', 'n', 'r'],
  [DhtMessageType.GET_PROVIDERS_RESP]: ['v', 'x', 'n', 'p'],
}

export { ID_BYTES }
