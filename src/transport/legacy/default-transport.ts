/** Builds the node's transport: the secure connection manager, or the legacy-only fallback listener. */
import type { Registry } from 'prom-client'
import type { Identity } from '../../crypto/identity.js'
import type { Logger } from '../../interfaces/logger.js'
import type { ZeoneConfig } from '../../ops/config-schema.js'
import type { Router } from '../router.js'
import { ConnectionManager } from '../connection-manager.js'
import { FallbackTransport } from './fallback-transport.js'
import type { LegacyAcceptor, NodeTransport } from './types.js'

export interface TransportDeps {
  identity: Identity
  config: ZeoneConfig
  dataDir: string
  router: Router
  logger: Logger
  metrics: Registry
  capabilities: string[]
  legacyAcceptor?: LegacyAcceptor
}

export type TransportFactory = (deps: TransportDeps) => NodeTransport | Promise<NodeTransport>

export const createFallbackTransport: TransportFactory = (deps) =>
  new FallbackTransport({ host: deps.config.node.host, port: deps.config.node.port, ...(deps.legacyAcceptor ? { legacyAcceptor: deps.legacyAcceptor } : {}) })

/** The secure connection manager (v1/v2 handshake), handing non-magic streams to the legacy acceptor. */
export const createDefaultTransport: TransportFactory = (deps) => new ConnectionManager({
  identity: deps.identity, config: deps.config.node, dataDir: deps.dataDir, router: deps.router, logger: deps.logger,
  metrics: deps.metrics, capabilities: deps.capabilities, ...(deps.legacyAcceptor ? { legacyAcceptor: deps.legacyAcceptor } : {}),
})
