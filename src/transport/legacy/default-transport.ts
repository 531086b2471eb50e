/** Builds the node's transport: the secure connection manager, or the legacy-only fallback listener. */
import type { Registry } from 'prom-client'
import type { Identity } from '../../crypto/identity.js'
import type { Logger } from '../../interfaces/logger.js'
import type { TransportConfig } from '../config.js'
import type { Router } from '../router.js'
import { ConnectionManager } from '../connection-manager.js'
import type { LegacyAcceptor, NodeTransport } from './types.js'
import type { NodeTracer } from '../../interfaces/tracing.js'

export interface TransportDeps {
  identity: Identity
  /** The node's config; the transport reads only its own slice. */
  config: { node: TransportConfig }
  dataDir: string
  router: Router
  logger: Logger
  metrics: Registry
  capabilities: string[]
  legacyAcceptor?: LegacyAcceptor
  /** The node's tracer (absent when tracing is off). */
  tracer?: NodeTracer
}

export type TransportFactory = (deps: TransportDeps) => NodeTransport | Promise<NodeTransport>

/** The secure connection manager (v1/v2 handshake), handing non-magic streams to the legacy acceptor. */
export const createDefaultTransport: TransportFactory = (deps) => new ConnectionManager({
  identity: deps.identity, config: deps.config.node, dataDir: deps.dataDir, router: deps.router, logger: deps.logger,
  metrics: deps.metrics, capabilities: deps.capabilities, ...(deps.legacyAcceptor ? { legacyAcceptor: deps.legacyAcceptor } : {}),
  ...(deps.tracer ? { tracer: deps.tracer } : {}),
})
