/** Control-API routes of the NAT layer (used by `zeone nat` and `zeone connect`). */
import type { NodeContext } from '../interfaces/node-context.js'
import type { NatConfig } from './config.js'
import { nodeIdFromB64 } from '../util/bytes.js'
import { InvalidInputError } from '../util/errors.js'
import type { NatService } from './service.js'

export function registerNatControl(ctx: NodeContext<{ nat: NatConfig }>, svc: NatService): void {
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
    const nodeId = nodeIdFromB64(body.nodeId)
    if (!nodeId) throw new InvalidInputError('bad_node_id', "'nodeId' must be a node id: base64 of a 32-byte Ed25519 key, as `zeone id` prints")
    const via = body.via === undefined ? undefined : nodeIdFromB64(body.via)
    if (body.via !== undefined && !via) throw new InvalidInputError('bad_node_id', "'via' must be a node id: base64 of a 32-byte Ed25519 key, as `zeone id` prints")
    const r = await svc.connect(nodeId, { ...(via ? { via } : {}), relayOnly: body.relay === true })
    const rtt0 = performance.now()
    await r.link.request(0x6f, new Uint8Array(8), { timeoutMs: 5000 }).catch(() => undefined)
    return {
      nodeId: r.link.peer.nodeIdB64, path: r.method, ms: Math.round(r.ms), rttMs: Math.round(performance.now() - rtt0),
      remote: r.remote, natPair: r.pair, wireVersion: r.link.peer.version,
    }
  })
}
