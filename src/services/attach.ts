/**
 * Wires the services layer into a running node: the service router on SERVICE_REQUEST, the `echo` service, and the
 * v0 mapping when the legacy bridge is on. Other layers register services through `ctx.services.get('serviceRouter')`.
 */
import type { LayerHandle, NodeContext } from '../interfaces/node-context.js'
import type { TransportConfig } from '../transport/config.js'
import type { LegacyConfig } from '../transport/legacy/config.js'
import type { ServicesConfig } from './config.js'
import { MessageType } from '../wire/message-types.js'
import { createEchoService } from './echo.js'
import { LegacyServices } from './legacy.js'
import { ServiceRouter } from './router.js'

declare module '../interfaces/node-context.js' {
  interface ServiceMap {
    /** services: register a service by name, call services on peers */
    serviceRouter: ServiceRouter
    /** services: call services on v0 peers (present when the legacy bridge is on) */
    legacyServices: LegacyServices
  }
}

/** The config sections this layer reads (the node hands it only these). */
export interface ServicesLayerConfig { services: ServicesConfig; node: TransportConfig; legacy: LegacyConfig }

export async function attach(ctx: NodeContext<ServicesLayerConfig>): Promise<LayerHandle<ServicesLayerConfig>> {
  const cfg = ctx.config.services
  const router = new ServiceRouter({
    providerId: ctx.identity.publicKey, usage: () => ctx.services.get('usage'), logger: ctx.logger,
    maxConcurrent: cfg.maxConcurrent, timeoutMs: cfg.timeoutMs, maxPayloadBytes: cfg.maxPayloadBytes, signal: ctx.signal,
    ...(ctx.tracer ? { tracer: ctx.tracer } : {}),
  })
  const off: Array<() => void> = []
  if (cfg.echo.enabled) off.push(router.register(createEchoService({ price: BigInt(cfg.echo.price), maxPayloadBytes: cfg.echo.maxPayloadBytes })))
  off.push(ctx.router.handle(MessageType.SERVICE_REQUEST, router.handle))
  ctx.services.provide('serviceRouter', router)
  let legacy: LegacyServices | undefined
  if (ctx.config.node.legacy) {
    legacy = new LegacyServices({
      router, legacy: ctx.router, providerIdB64: ctx.identity.nodeIdB64,
      allowed: ctx.config.legacy.services, creditLimit: BigInt(ctx.config.legacy.creditLimit),
    })
    ctx.services.provide('legacyServices', legacy)
  }
  ctx.control.route('GET', '/v1/services', () => router.names())
  return {
    stop() {
      for (const f of off) f()
      legacy?.stop()
    },
    liveKeys: ['services.maxConcurrent', 'services.timeoutMs', 'services.maxPayloadBytes'],
    onConfig(next) {
      const s = next.services
      router.setLimits({ maxConcurrent: s.maxConcurrent, timeoutMs: s.timeoutMs, maxPayloadBytes: s.maxPayloadBytes })
    },
  }
}
