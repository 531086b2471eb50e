/**
 * The composition root. `createNode(config)` builds a ZeoneNode; `start()` loads the identity (refusing a key file
 * readable by group/others), builds the router, the transport (with the legacy v0 bridge unless `node.legacy` is
 * false), the local HTTP API and the owner-only control API, then attaches the layers in order
 * services, dht, nat, content, economy, vpn, cortex, dashboard, and dials the bootstrap peers. `stop()` undoes it in reverse.
 * Both are idempotent and may be called in any order.
 */
import { parseHostPort } from './util/host-port.js'
import { toHex } from './util/bytes.js'
import { createTracer } from './ops/tracing.js'
import type { NodeTracer } from './interfaces/tracing.js'
import { TRACE_CAPABILITY } from './transport/rpc-link.js'
import { chmodSync, mkdirSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Registry } from 'prom-client'
import { loadOrCreateIdentity, type Identity } from './crypto/identity.js'
import type { Endpoint, Handler, LegacyHandler, LegacyLink, Link, MessageRouter, LegacyRouter } from './interfaces/link.js'
import type { Logger } from './interfaces/logger.js'
import type { LayerHandle, NodeContext } from './interfaces/node-context.js'
import type { ZeoneConfig } from './ops/config-schema.js'
import { LAYERS, sliceOf, type LayerEntry } from './node-layers.js'
import { ConfigWatcher } from './ops/config-watcher.js'
import type { ConfigSources } from './ops/config.js'
import { ControlServer } from './ops/control-server.js'
import { HttpServer } from './ops/http-server.js'
import { loadOrCreateApiToken } from './ops/api-token.js'
import { createLogger } from './ops/logger.js'
import { createMetricsRegistry, registerDataDirMetrics } from './ops/metrics.js'
import { diffConfig, matchesKey } from './ops/live-config.js'
import { MapServiceRegistry } from './ops/service-registry.js'
import { registerNodeControlRoutes } from './ops/node-control.js'
import { Router } from './transport/router.js'
import { LegacyBridge } from './transport/legacy/bridge.js'
import { addressPolicyFor } from './transport/address-policy.js'
import { createDefaultTransport, type TransportFactory } from './transport/legacy/default-transport.js'
import type { NodeTransport } from './transport/legacy/types.js'

export interface NodeInit {
  /** @default a pino logger at config.ops.logLevel on stderr */
  logger?: Logger
  /** When it names a file, the node watches it and applies valid changes (live reload). */
  configSources?: ConfigSources
  /** Builds the transport. @default the secure connection manager (with the legacy acceptor) */
  transport?: TransportFactory
  /** Replaces the layer list (tests). */
  layers?: readonly LayerEntry[]
  /** Capabilities announced in the handshake. @default ['DHT'] */
  capabilities?: string[]
}

export type NodeState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped'

/**
 * What a peer is worth to the transport's admission rules: 0 for a stranger (no trust history, or blacklisted),
 * else its effective trust (behaviour weighted by stake). A fresh identity has no history, so it never gets the
 * reserved slots; stake alone does not count, since an unknown peer's stake reads as the configured default.
 */
function peerValue(services: MapServiceRegistry, id: Uint8Array): number {
  const trust = services.get('trust') as { view?(p: Uint8Array): { effective: number; blacklisted: boolean; events: number } } | undefined
  const v = trust?.view?.(id)
  return !v || v.blacklisted || v.events === 0 ? 0 : v.effective
}

export class ZeoneNode {
  #config: ZeoneConfig
  readonly init: NodeInit
  readonly dataDir: string
  readonly logger: Logger
  readonly metrics: Registry
  readonly services = new MapServiceRegistry()
  readonly router: Router
  #state: NodeState = 'new'
  #starting: Promise<void> | undefined
  #stopping: Promise<void> | undefined
  #abort = new AbortController()
  #identity: Identity | undefined
  #transport: NodeTransport | undefined
  #legacy: LegacyBridge | undefined
  #http: HttpServer | undefined
  #control: ControlServer | undefined
  #watcher: ConfigWatcher | undefined
  #attached: Array<[string, LayerHandle<object>, (c: ZeoneConfig) => object]> = []
  #tracer: NodeTracer | undefined
  #ctx: NodeContext<ZeoneConfig> | undefined
  /** The per-layer copies of the context (each with its own child logger and config slice); reload updates them. */
  #layerCtx: Array<{ ctx: NodeContext<object>; slice: (c: ZeoneConfig) => object }> = []
  readonly startedAt = Date.now()

  constructor(config: ZeoneConfig, init: NodeInit = {}) {
    this.#config = config
    this.init = init
    this.dataDir = resolve(config.dataDir)
    this.logger = init.logger ?? createLogger({ level: config.ops.logLevel })
    this.metrics = createMetricsRegistry()
    registerDataDirMetrics(this.metrics, this.dataDir)
    this.router = new Router({ logger: this.logger.child({ c: 'router' }) })
  }

  get state(): NodeState { return this.#state }
  get config(): ZeoneConfig { return this.#config }
  get identity(): Identity {
    if (!this.#identity) throw new Error('node not started')
    return this.#identity
  }
  get transport(): NodeTransport | undefined { return this.#transport }
  get legacy(): LegacyBridge | undefined { return this.#legacy }
  get http(): HttpServer | undefined { return this.#http }
  get control(): ControlServer | undefined { return this.#control }
  get context(): NodeContext<ZeoneConfig> | undefined { return this.#ctx }
  get signal(): AbortSignal { return this.#abort.signal }
  /** Where the node accepts peers. */
  get listenAddress(): Endpoint | undefined { return this.#transport?.listenAddress }
  get httpAddress(): Endpoint | undefined { return this.#http?.address }

  start(): Promise<void> {
    if (this.#stopping) return Promise.reject(new Error('node is stopping or stopped'))
    this.#starting ??= this.#start().catch(async (err: unknown) => {
      await this.#teardown()
      throw err
    })
    return this.#starting
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop()
    return this.#stopping
  }

  async #start(): Promise<void> {
    this.#state = 'starting'
    const cfg = this.#config
    mkdirSync(this.dataDir, { recursive: true, mode: 0o700 })
    if ((statSync(this.dataDir).mode & 0o077) !== 0) {
      this.logger.warn({ dataDir: this.dataDir }, 'data dir was accessible by group/others; setting mode 0700')
      chmodSync(this.dataDir, 0o700)
    }
    // a new key is minted to solve the S/Kademlia static puzzle the DHT requires
    const { identity, created } = loadOrCreateIdentity(this.dataDir, { puzzleBits: cfg.dht.staticPuzzleBits })
    this.#identity = identity
    this.logger.info({ nodeId: identity.nodeIdB64, dhtId: identity.dhtIdHex, created }, 'identity loaded')

    // first: refuses a data dir another running node owns, before anything else touches its files
    this.#control = new ControlServer(this.dataDir, this.logger.child({ c: 'control' }))
    registerNodeControlRoutes(this.#control, this)
    await this.#control.start()

    const legacyOn = cfg.node.legacy
    this.#legacy = legacyOn
      ? new LegacyBridge({ identity, config: cfg.legacy, logger: this.logger.child({ c: 'legacy' }), metrics: this.metrics,
        knownPeers: () => this.#advertisable(),
        addressPolicy: addressPolicyFor({ ...cfg.node, bootstrap: [...cfg.node.bootstrap, ...cfg.legacy.bootstrap] }),
        trust: () => this.services.get('trust'), claimEvidence: () => this.services.get('claimEvidence') })
      : undefined
    this.#tracer = await createTracer(cfg.ops.tracing, toHex(identity.publicKey))
    if (this.#tracer) this.logger.info({ endpoint: cfg.ops.tracing.endpoint, sampleRatio: cfg.ops.tracing.sampleRatio }, 'tracing on (OTLP/HTTP)')
    const factory = this.init.transport ?? createDefaultTransport
    this.#transport = await factory({
      identity, config: cfg, dataDir: this.dataDir, router: this.router, logger: this.logger.child({ c: 'transport' }),
      metrics: this.metrics, capabilities: [...(this.init.capabilities ?? ['DHT']), TRACE_CAPABILITY],
      ...(this.#tracer ? { tracer: this.#tracer } : {}),
      ...(this.#legacy ? { legacyAcceptor: this.#legacy.accept } : {}),
    })
    await this.#transport.start()
    this.#legacy?.setSelfAddress(this.#transport.listenAddress)
    // session slots reserved for peers with trust or stake (transport/admission.ts); economy attaches later
    ;(this.#transport as { setPeerValue?(fn: (id: Uint8Array) => number): void }).setPeerValue?.((id) => peerValue(this.services, id))

    this.#http = new HttpServer({
      host: cfg.ops.httpHost, port: cfg.ops.httpPort, metrics: this.metrics, logger: this.logger.child({ c: 'http' }),
      token: loadOrCreateApiToken(this.dataDir), allowedHosts: cfg.ops.httpAllowedHosts,
      health: () => ({ ok: this.#state === 'running', state: this.#state, nodeId: identity.nodeIdB64,
        peers: this.#transport?.links().length ?? 0, legacyPeers: this.#legacy?.links().length ?? 0,
        uptimeS: Math.round((Date.now() - this.startedAt) / 1000) }),
    })
    await this.#http.start()

    const legacy = this.#legacy
    const router: MessageRouter & LegacyRouter = {
      handle: (type: number, h: Handler) => this.router.handle(type, h),
      handleLegacy: (type: string, h: LegacyHandler) => (legacy ? legacy.handleLegacy(type, h) : () => {}),
      handleLegacyDht: (h: (r: Record<string, unknown>, l: LegacyLink) => Promise<Record<string, unknown>>) =>
        (legacy ? legacy.handleLegacyDht(h) : () => {}),
      legacyLinks: () => legacy?.links() ?? [],
    }
    this.#ctx = {
      identity, config: cfg, dataDir: this.dataDir, logger: this.logger, metrics: this.metrics, router,
      links: this.#transport, wireTap: this.#transport, control: this.#control, http: this.#http,
      services: this.services, signal: this.#abort.signal, ...(this.#tracer ? { tracer: this.#tracer } : {}),
    }
    for (const entry of this.init.layers ?? LAYERS) {
      const [name, attach] = entry
      const slice = sliceOf(entry)
      const layerCtx: NodeContext<object> = { ...this.#ctx, config: slice(cfg), logger: this.logger.child({ c: name }) }
      this.#layerCtx.push({ ctx: layerCtx, slice })
      const s = await attach(layerCtx)
      if (s) this.#attached.push([name, s, slice])
    }
    this.#watchConfig()
    this.#state = 'running'
    this.logger.info({ listen: this.listenAddress, http: this.httpAddress, legacy: legacyOn }, 'node started')
    this.#bootstrap()
  }

  #bootstrap(): void {
    // node.bootstrap (v1/v2 peers) is dialed by the connection manager itself
    if (!this.#legacy && this.#config.legacy.bootstrap.length > 0) this.logger.warn('legacy.bootstrap ignored: the legacy bridge is off (node.legacy: false)')
    for (const hp of this.#config.legacy.bootstrap) {
      this.#legacy?.dial(parseHostPort(hp)).catch((err: unknown) => this.logger.warn({ peer: hp, err: (err as Error).message }, 'legacy bootstrap dial failed'))
    }
  }

  #watchConfig(): void {
    const src = this.init.configSources
    if (!src?.file) return
    this.#watcher = new ConfigWatcher({ sources: { ...src, file: src.file }, current: this.#config, logger: this.logger })
    this.#watcher.on('reload', (loaded) => {
      const layerKeys = this.#attached.flatMap(([, h]) => h.liveKeys ?? [])
      const { effective: next, live, restartRequired } = diffConfig(this.#config, loaded, layerKeys)
      this.#lastReload = { live, restartRequired }
      if (live.length) this.logger.info({ keys: live }, 'config: applied live')
      if (restartRequired.length) this.logger.warn({ keys: restartRequired }, 'config: changed keys need a restart to take effect; the node keeps running with their current values')
      this.#config = next
      const l = this.logger as Logger & { level?: string }
      if (typeof l.level === 'string') l.level = next.ops.logLevel
      if (this.#ctx) this.#ctx.config = next
      for (const { ctx, slice } of this.#layerCtx) ctx.config = slice(next)
      for (const [name, h, slice] of this.#attached) {
        if (!h.onConfig || !live.some((k) => matchesKey(h.liveKeys ?? [], k))) continue
        try { h.onConfig(slice(next)) } catch (err) { this.logger.error({ layer: name, err: (err as Error).message }, 'config: layer failed to apply live keys') }
      }
    })
    this.#watcher.on('error', () => { /* logged by the watcher; the old config stays */ })
    this.#watcher.start()
  }

  /** Reloads the config file now (also done automatically when the file changes). */
  reloadConfig(): boolean { return this.#watcher?.reload() ?? false }

  /** What the last applied reload changed: keys applied live, and keys held back until a restart. */
  get lastReload(): { live: string[]; restartRequired: string[] } { return this.#lastReload }
  #lastReload: { live: string[]; restartRequired: string[] } = { live: [], restartRequired: [] }

  /** Peers we may advertise to others: only verified listening addresses, never ephemeral source ports. */
  #advertisable(): Array<{ nodeId: string; host: string; port: number; version: number }> {
    const out: Array<{ nodeId: string; host: string; port: number; version: number }> = []
    for (const l of [...(this.#transport?.links() ?? []), ...(this.#legacy?.links() ?? [])]) {
      const a = l.peer.listenAddr
      if (a) out.push({ nodeId: l.peer.nodeIdB64, host: a.host, port: a.port, version: l.peer.version })
    }
    return out
  }

  /** Every open link, secure and legacy. */
  allLinks(): Array<Link | LegacyLink> { return [...(this.#transport?.links() ?? []), ...(this.#legacy?.links() ?? [])] }

  async #stop(): Promise<void> {
    if (this.#starting) await this.#starting.catch(() => {})
    await this.#teardown()
  }

  async #teardown(): Promise<void> {
    if (this.#state === 'stopped') return
    this.#state = 'stopping'
    this.#abort.abort()
    this.#watcher?.stop()
    for (const [name, s] of this.#attached.reverse()) {
      try { await s.stop() } catch (err) { this.logger.warn({ layer: name, err: (err as Error).message }, 'layer stop failed') }
    }
    this.#attached = []
    await this.#control?.stop()
    await this.#legacy?.stop()
    await this.#transport?.stop()
    await this.#http?.stop()
    // flush what the layers recorded; a collector that is down must not hold the stop
    await this.#tracer?.shutdown().catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'tracing: final export failed'))
    this.#state = 'stopped'
    this.logger.info('node stopped')
  }
}

export function createNode(config: ZeoneConfig, init: NodeInit = {}): ZeoneNode {
  return new ZeoneNode(config, init)
}

export { parseHostPort } from './util/host-port.js'
export { LAYERS, preloadLayers, type LayerEntry } from './node-layers.js'
