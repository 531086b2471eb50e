/**
 * What the composition root (src/node.ts) hands every layer's `attach(ctx)`: the node's identity, the layer's own
 * slice of the validated config (`C`: the sections it declared, typed by the layer from its own and lower layers'
 * config.ts, so this file names no config type), data dir, logger, metrics registry, the transport's router and link provider, the local HTTP APIs,
 * a registry through which layers find each other's services, and the node's shutdown signal.
 */
import type { NodeTracer } from './tracing.js'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Registry } from 'prom-client'
import type { Identity } from '../crypto/identity.js'
import type { Endpoint, LegacyRouter, MessageRouter, RemotePeer } from './link.js'
import type { NodeLinks } from './transport.js'
import type { Logger } from './logger.js'
import type { TrustSink } from './trust.js'
import type { ProviderDirectory } from './providers.js'
import type { ClaimEvidence, StakeSource, UsageMeter } from './services.js'

/** A JSON request on the owner-only control API (used by `zeone peers`, `zeone dht get`, ...). */
export interface ControlRequest {
  method: string
  path: string
  query: URLSearchParams
  body: unknown
}
export type ControlHandler = (req: ControlRequest) => Promise<unknown> | unknown

export interface ControlApi {
  /** Registers `METHOD /path` on the control API; the handler's return value is sent as JSON. */
  route(method: 'GET' | 'POST' | 'DELETE', path: string, handler: ControlHandler): void
}

/**
 * The node's local HTTP server (metrics port): /metrics, /healthz, and layer endpoints such as the chat API.
 * `access` 'token' = the caller must send the data dir's API token (default for POST and upgrades), 'open' = not
 * (default for GET). Host and Origin are checked on every request (src/ops/http-server.ts).
 */
export interface HttpApi {
  /** Where it listens (undefined while stopped or when the HTTP API is off). */
  readonly address?: Endpoint | undefined
  route(method: 'GET' | 'POST', path: string, handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>, access?: 'token' | 'open'): void
  upgrade(path: string, handler: (req: IncomingMessage, socket: Duplex, head: Buffer) => void, access?: 'token' | 'open'): void
}

/**
 * Services layers provide to each other. Each layer augments this interface from its own attach.ts:
 *   declare module '../interfaces/node-context.js' { interface ServiceMap { dht: Dht } }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface ServiceMap {
  /** economy: trust scoring (lower layers report events) */
  trust: TrustSink
  /** economy: pricing, metering and debt-limit enforcement */
  usage: UsageMeter
  /** chain settlement client (or config): stakes */
  stake: StakeSource
  /** dht: provider records */
  providers: ProviderDirectory
  /** economy: the ledger's record of claims other layers judged (v0 balance claims) */
  claimEvidence: ClaimEvidence
}

export interface ServiceRegistry {
  provide<K extends keyof ServiceMap>(name: K, impl: ServiceMap[K]): void
  get<K extends keyof ServiceMap>(name: K): ServiceMap[K] | undefined
}

/** `C` is the layer's config slice, e.g. `{ dht: DhtConfig; node: TransportConfig }`; updated in place on reload. */
export interface NodeContext<C extends object = object> {
  identity: Identity
  config: C
  dataDir: string
  logger: Logger
  metrics: Registry
  router: MessageRouter & LegacyRouter
  links: NodeLinks
  wireTap: WireTap
  control: ControlApi
  http: HttpApi
  services: ServiceRegistry
  /** Aborted when the node stops. */
  signal: AbortSignal
  /** The node's tracer; absent when tracing is off (`ops.tracing.endpoint` unset), so span work costs nothing. */
  tracer?: NodeTracer
}

/** One application frame crossing the wire, reported after decryption (in) or before encryption (out). */
export interface FrameEvent {
  peer: RemotePeer
  direction: 'in' | 'out'
  type: number
  /** Application payload bytes (the message body, excluding envelope, header and AEAD tag). */
  bytes: number
}

/** Lets the economy layer meter traffic without the transport knowing about it. */
export interface WireTap {
  observe(cb: (ev: FrameEvent) => void): () => void
}

export interface Stoppable { stop(): Promise<void> | void }

/** What a layer's attach may return: how to stop it and, optionally, the config keys it applies without a restart. */
export interface LayerHandle<C extends object = object> extends Stoppable {
  /** Dotted config paths (or prefixes ending in '.') this layer applies live through `onConfig`. */
  liveKeys?: readonly string[]
  /** Called after a reload that changed at least one of `liveKeys`, with the layer's slice of the config the node now runs. */
  onConfig?(next: C): void
}

/**
 * Every layer exports `attach` from src/<layer>/attach.ts; src/node.ts calls them in layer order, each with the
 * config slice it declared in `LAYERS`. `AttachFn` alone is an attach of any slice (lists of layers).
 */
export type AttachFn<C extends object = any> = (ctx: NodeContext<C>) => Promise<LayerHandle<C> | Stoppable | void>
