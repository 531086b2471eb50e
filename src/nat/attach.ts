import type { NodeContext, Stoppable } from '../interfaces/node-context.js'
import { fromB64 } from '../util/bytes.js'
import { NatService, type AdoptStream } from './service.js'

declare module '../interfaces/node-context.js' {
  interface ServiceMap {
    /** nat: discovery, hole punching and UDP links */
    nat: NatService
  }
}

/** Wires the nat layer into a running node: udx socket, discovery, STUN server role, signalling, control routes. */
export async function attach(ctx: NodeContext): Promise<Stoppable | void> {
  const cfg = ctx.config.nat
  if (!cfg.enabled) return undefined
  const svc = new NatService({
    identity: ctx.identity, config: cfg, links: ctx.links as NodeContext['links'] & { adoptStream?: AdoptStream },
    router: ctx.router, logger: ctx.logger, metrics: ctx.metrics, usage: () => ctx.services.get('usage'),
  })
  await svc.start()
  ctx.services.provide('nat', svc)
  ctx.control.route('GET', '/nat', async () => {
    const b = svc.behavior ?? await svc.discover()
    return { ...b, localPort: svc.socket?.address().port }
  })
  ctx.control.route('POST', '/nat/connect', async (req) => {
    const body = (req.body ?? {}) as { nodeId?: string; via?: string }
    if (typeof body.nodeId !== 'string') throw new Error('nodeId (base64) required')
    const r = await svc.connect(fromB64(body.nodeId), body.via ? { via: fromB64(body.via) } : {})
    return { nodeId: r.link.peer.nodeIdB64, method: r.method, ms: Math.round(r.ms), remote: r.remote, pair: r.pair, version: r.link.peer.version }
  })
  return { stop: () => svc.stop() }
}
