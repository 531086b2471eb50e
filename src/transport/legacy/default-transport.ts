/** Builds the node's transport: the secure connection manager, or the legacy-only fallback listener. */
import type { Registry } from 'prom-client'
import type { Identity } from '../../crypto/identity.js'
import type { Logger } from '../../interfaces/logger.js'
import type { ZeoneConfig } from '../../ops/config-schema.js'
import type { Router } from '../router.js'
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

export const createDefaultTransport: TransportFactory = createFallbackTransport
