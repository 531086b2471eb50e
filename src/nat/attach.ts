import type { NodeContext, Stoppable } from '../interfaces/node-context.js'
import type { TransportConfig } from '../transport/config.js'
import type { NatConfig } from './config.js'
import { NatService, type AdoptStream } from './service.js'
import { defaultNatComponents } from './components.js'
import { registerNatControl } from './control.js'
import { addressPolicyFor } from '../transport/address-policy.js'

declare module '../interfaces/node-context.js' {
  interface ServiceMap {
    /** nat: discovery, hole punching and UDP links */
    nat: NatService
  }
}

/** Wires the nat layer into a running node: udx socket, discovery, STUN server role, signalling, control routes. */
/** The config sections this layer reads (the node hands it only these). */
export interface NatLayerConfig { nat: NatConfig; node: TransportConfig }

export async function attach(ctx: NodeContext<NatLayerConfig>): Promise<Stoppable | void> {
  const cfg = ctx.config.nat
  if (!cfg.enabled) return undefined
  const svc = new NatService({
    identity: ctx.identity, config: cfg, links: ctx.links as NodeContext['links'] & { adoptStream?: AdoptStream },
    router: ctx.router, logger: ctx.logger, metrics: ctx.metrics, usage: () => ctx.services.get('usage'),
    addressPolicy: addressPolicyFor(ctx.config.node),
    // the real sockets, listeners, clock and random source: wired here, at the layer's composition point
    components: defaultNatComponents(),
  })
  await svc.start()
  ctx.services.provide('nat', svc)
  registerNatControl(ctx, svc)
  return { stop: () => svc.stop() }
}
