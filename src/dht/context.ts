/**
 * What the parts of the DHT node (serve.ts, read.ts, publications.ts, maintenance.ts, traced-lookup.ts) share of
 * it: dht.ts builds one of these and hands it to each; and what the node is built from (`DhtInit`). Types only.
 */
import type { Clock } from '../interfaces/clock.js'
import type { Endpoint } from '../interfaces/link.js'
import type { NodeTracer } from '../interfaces/tracing.js'
import type { Logger } from '../interfaces/logger.js'
import type { TrustSink } from '../interfaces/trust.js'
import type { DhtConfig } from './config.js'
import type { Contact } from './contact.js'
import type { LookupResult } from './lookup.js'
import type { DhtMessage } from './messages.js'
import type { DhtNet } from './net.js'
import type { DhtPersistence } from './persist.js'
import type { Signer } from './record.js'
import type { RoutingTable } from './routing-table.js'
import type { MemoryRecordStore } from './store.js'

/** `onAnswer` of a lookup: true stops it, `{ held }` says whether the answer held the value (counts to `quorum`). */
export type OnAnswer = (from: Contact, m: DhtMessage, path: number) => boolean | { held: boolean }

export interface DhtContext {
  readonly config: DhtConfig
  readonly table: RoutingTable
  readonly store: MemoryRecordStore
  readonly clock: Clock
  readonly log: Logger
  readonly trust: TrustSink | undefined
  /** Our DHT id. */
  readonly selfId: Uint8Array
  /** Our dynamic puzzle solution, carried in every request. */
  readonly x: Uint8Array
  stopped(): boolean
  rpc(c: Contact, m: DhtMessage, signal?: AbortSignal): Promise<DhtMessage>
  runLookup(target: Uint8Array, make: () => DhtMessage, onAnswer?: OnAnswer, signal?: AbortSignal, traced?: boolean, quorum?: number): Promise<LookupResult>
  findNode(target: Uint8Array, signal?: AbortSignal): Promise<LookupResult>
  /** Sends `m` (a store) to every target; resolves to how many acknowledged it. */
  storeOn(targets: Contact[], m: DhtMessage, signal?: AbortSignal): Promise<number>
  admissible(nodeId: Uint8Array): boolean
}

/** What a `Dht` is built from. */
export interface DhtInit {
  config: DhtConfig
  identity: Signer & { readonly dhtId: Uint8Array }
  net: DhtNet
  store: MemoryRecordStore
  clock: Clock
  logger?: Logger
  trust?: TrustSink
  random?: (n: number) => Uint8Array
  /** Addresses we can be dialed at (for provider records). */
  advertise?: () => Endpoint[]
  /** Hand stored records to newly joined closer nodes. @default true */
  replicateOnJoin?: boolean
  /** Ping the oldest entry of a full bucket when a new contact shows up. @default true */
  pingOnFull?: boolean
  /** Precomputed dynamic puzzle solution (the simulator passes one to skip solving). */
  puzzle?: Uint8Array
  /**
   * May a contact address a peer named (in a lookup answer, or an inbound link's advertised listen address) be
   * dialled? The node passes its AddressPolicy plus "never our own ports" (attach.ts). @default every address
   */
  dialable?: (addr: Endpoint) => boolean
  /** Called when a lookup ends (kind = the query's message type), for the lookup latency metric. */
  onLookup?: (kind: string, ms: number, ok: boolean) => void
  /** When tracing is on: one span per lookup (an event per answer) and a client span per request, carried to the peer. */
  tracer?: NodeTracer
  /** Where table contacts and our publications are saved as they change, and our publications restored from. */
  persist?: DhtPersistence
}
