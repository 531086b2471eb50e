/** Control-API routes of the NAT layer (used by `zeone nat` and `zeone connect`). */
import type { NodeContext } from '../interfaces/node-context.js'
import { fromB64 } from '../util/bytes.js'
import { InvalidInputError } from '../util/errors.js'
import type { NatService } from './service.js'

export function registerNatControl(ctx: NodeContext, svc: NatService): void {
  ctx.control.route('GET', '/v1/nat', async (req) => {
    // --refresh forces a new round (it used to return the cached one)
    const b = await svc.discover(req.query.get('refresh') === '1')
    const r = ctx.config.nat.relay
    return {
      ...b, localPort: svc.socket?.address().port ?? 0, stunServers: ctx.config.nat.stunServers,
      relay: { enabled: r.enabled, useRelays: r.useRelays, maxCircuits: r.maxCircuits, circuits: svc.relayCircuits },
    }
  })
  ctx.control.route('POST', '/v1/nat/connect', async (req) => {
    const body = (req.body ?? {}) as { nodeId?: unknown; via?: unknown; relay?: unknown }
    if (typeof body.nodeId !== 'string' || fromB64(body.nodeId).length !== 32) throw new InvalidInputError('bad_node_id', 'nodeId must be a base64 Ed25519 public key')
    if (body.via !== undefined && (typeof body.via !== 'string' || fromB64(body.via).length !== 32)) throw new InvalidInputError('bad_node_id', 'via must be a base64 node id')
    const r = await svc.connect(fromB64(body.nodeId), { ...(typeof body.via === 'string' ? { via: fromB64(body.via) } : {}), relayOnly: body.relay === true })
    const rtt0 = performance.now()
    await r.link.request(0x6f, new Uint8Array(8), { timeoutMs: 5000 }).catch(() => undefined)
    return {
      nodeId: r.link.peer.nodeIdB64, path: r.method, ms: Math.round(r.ms), rttMs: Math.round(performance.now() - rtt0),
      remote: r.remote, natPair: r.pair, wireVersion: r.link.peer.version,
    }
  })
}
