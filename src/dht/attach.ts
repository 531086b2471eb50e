/**
 * Wires the DHT into a running node: SQLite store in `<dataDir>/dht.sqlite`, request handlers on the router, v0
 * DHT-in-DATA, admission of DHT-capable links as they appear, bootstrap, restored peers (re-validated before they
 * re-enter the table), maintenance timers, the `providers` service and the control routes of `zeone dht`.
 */
import { parseHostPort } from '../util/host-port.js'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { Histogram } from 'prom-client'
import { staticPuzzleBits } from '../crypto/identity.js'
import { systemClock } from '../interfaces/clock.js'
import type { Endpoint, Link } from '../interfaces/link.js'
import type { NodeContext, Stoppable } from '../interfaces/node-context.js'
import type { TransportConfig } from '../transport/config.js'
import type { DhtConfig } from './config.js'
import type { TrustSink } from '../interfaces/trust.js'
import { contactFromPeer, makeContact } from './contact.js'
import { providerDirectory, registerDhtRoutes } from './control.js'
import { Dht } from './dht.js'
import { LegacyDht } from './legacy.js'
import { LinkDhtNet, serveDht } from './link-net.js'
import { SqliteRecordStore } from './store-sqlite.js'
import { stakeStanding } from './publisher-standing.js'
import { sha1 } from '../crypto/hash.js'
import { addressPolicyFor } from '../transport/address-policy.js'
import { addressClass } from '../util/address-class.js'

declare module '../interfaces/node-context.js' {
  interface ServiceMap {
    /** dht: the Kademlia node (lookups, records, routing table) */
    dht: Dht
  }
}

/** Peers persisted for the next start. */
const MAX_SAVED_PEERS = 500


function externalIPv4(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return undefined
}

/**
 * Which contact addresses the DHT may dial when a peer named them: the node's AddressPolicy (`node.privateAddresses`,
 * with the DHT's extra bootstrap hosts counted as the operator's own), hosts the operator configured by name, and
 * never one of this node's own ports on a local address (a contact naming our HTTP port made us send it a HELLO).
 */
/** The config sections this layer reads (the node hands it only these). */
export interface DhtLayerConfig { dht: DhtConfig; node: TransportConfig }

export function dialableFor(ctx: Pick<NodeContext<DhtLayerConfig>, 'config' | 'links' | 'http'>): (addr: Endpoint) => boolean {
  const node = ctx.config.node
  const bootstrap = [...node.bootstrap, ...ctx.config.dht.bootstrap]
  const policy = addressPolicyFor({ ...node, bootstrap })
  const operator = new Set(bootstrap.map((b) => parseHostPort(b).host.toLowerCase()))
  const ownPorts = (): Set<number> => {
    const ports = new Set<number>()
    const l = ctx.links.listenAddress
    const h = ctx.http.address
    if (l) ports.add(l.port)
    if (h) ports.add(h.port)
    return ports
  }
  const local = (host: string): boolean => {
    const c = addressClass(host)
    return c === 'loopback' || c === 'unspecified' || host === node.host || host === ctx.config.dht.advertiseHost || host.toLowerCase() === 'localhost'
  }
  return (addr) => {
    if (local(addr.host) && ownPorts().has(addr.port)) return false
    return operator.has(addr.host.toLowerCase()) || policy.allows(addr.host)
  }
}

export async function attach(ctx: NodeContext<DhtLayerConfig>): Promise<Stoppable | void> {
  const cfg = ctx.config.dht
  if (!cfg.enabled) return undefined
  const log = ctx.logger
  const clock = systemClock
  if (staticPuzzleBits(ctx.identity.publicKey) < cfg.staticPuzzleBits) {
    log.error({ required: cfg.staticPuzzleBits, have: staticPuzzleBits(ctx.identity.publicKey) },
      'this identity does not solve the S/Kademlia static puzzle: other nodes will not admit it to their routing tables (mint a new identity with the puzzle, or lower dht.staticPuzzleBits network-wide)')
  }
  const store = new SqliteRecordStore(join(ctx.dataDir, 'dht.sqlite'), {
    clock, maxRecordsPerKey: cfg.maxRecordsPerKey, maxProvidersPerKey: cfg.maxProvidersPerKey, maxBytes: cfg.maxStoreBytes,
    maxPublisherShare: cfg.maxPublisherShare, self: ctx.identity.publicKey, standing: stakeStanding(() => ctx.services.get('stake')),
  })
  const trust: TrustSink = { report: (id, ev, d) => ctx.services.get('trust')?.report(id, ev, d) }
  const advertise = (): Endpoint[] => {
    const l = ctx.links.listenAddress
    if (!l) return []
    let host = cfg.advertiseHost || l.host
    if (host === '0.0.0.0' || host === '::') host = externalIPv4() ?? '127.0.0.1'
    return [{ host, port: l.port }]
  }
  // read the saved contacts before the table starts writing its own changes over them
  const saved = store.loadPeers(MAX_SAVED_PEERS).map((p) => makeContact(p.nodeId, sha1(p.nodeId), p.addr, p.lastSeen))
  const lookupSeconds = (ctx.metrics.getSingleMetric('zeone_dht_lookup_seconds') as Histogram<'kind' | 'outcome'> | undefined) ?? new Histogram({
    name: 'zeone_dht_lookup_seconds', help: 'Iterative DHT lookups by query kind (find_node, find_value, get_providers) and outcome',
    labelNames: ['kind', 'outcome'] as const, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [ctx.metrics],
  })
  const onLookup = (kind: string, ms: number, ok: boolean): void => { lookupSeconds.observe({ kind, outcome: ok ? 'ok' : 'error' }, ms / 1000) }
  const dht = new Dht({ config: cfg, identity: ctx.identity, net: new LinkDhtNet(ctx.links, clock), store, clock, logger: log, trust, advertise, dialable: dialableFor(ctx), persist: store, onLookup, ...(ctx.tracer ? { tracer: ctx.tracer } : {}) })
  const offServe = serveDht(ctx.router, dht, clock, ctx.tracer)
  const legacy = cfg.legacy ? new LegacyDht(dht, clock, () => ctx.router.legacyLinks?.() ?? []) : undefined
  const offLegacy = legacy ? ctx.router.handleLegacyDht(legacy.handle) : () => {}

  // every DHT-capable link is offered to the table through a PING: the answer proves the dynamic puzzle
  let joined = false
  const offer = (link: Link): void => {
    if (link.closed || !link.peer.capabilities.has('DHT')) return
    const c = contactFromPeer(link.peer, clock.now())
    if (!c) return
    dht.rpc(c, { t: 'ping', x: dht.puzzle }).then(() => {
      if (!joined && dht.table.size > 0) { joined = true; dht.findNode(ctx.identity.dhtId).catch(() => {}) }
    }, (err: unknown) => log.debug({ peer: link.peer.nodeIdB64, err: (err as Error).message }, 'dht ping of new link failed'))
  }
  const offLink = ctx.links.onLink(offer)
  for (const l of ctx.links.links()) offer(l)

  // restored peers must answer (and prove their identity) before they re-enter the table; they are pinged while
  // the bootstrap runs, not before it, so a restart full of dead contacts joins as fast as a fresh node, then every
  // bucket is refreshed through whoever answered
  const boot = cfg.bootstrap.map((b) => parseHostPort(b, { what: 'dht bootstrap entry' }))
  const restore = { peers: saved.length, revalidated: 0, publications: dht.restoredPublications, joinedMs: -1 }
  const t0 = clock.now()
  void (async () => {
    const [revalidated] = await Promise.all([dht.revalidate(saved).catch(() => 0), dht.bootstrap(boot).catch(() => 0)])
    restore.revalidated = revalidated
    if (dht.table.size > 0 && !joined) { joined = true; await dht.findNode(ctx.identity.dhtId).catch(() => {}) }
    if (dht.table.size > 0) {
      // we reached the network, so the saved contacts that did not answer are gone: stop carrying them
      store.forgetPeers(saved.filter((c) => !dht.table.has(c.idHex)).map((c) => c.nodeId))
      await dht.refresh(0).catch(() => {})
      restore.joinedMs = clock.now() - t0
    }
    log.info({ restored: saved.length, revalidated, publications: restore.publications, bootstrap: boot.length, table: dht.table.size }, 'dht started')
  })().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'dht join failed'))
  dht.start()

  ctx.services.provide('dht', dht)
  ctx.services.provide('providers', providerDirectory(dht))
  registerDhtRoutes(ctx.control, dht, legacy, () => restore)

  let stopped = false
  return {
    stop: () => {
      if (stopped) return
      stopped = true
      offLink(); offServe(); offLegacy()
      try {
        store.savePeers(dht.table.all().slice(0, MAX_SAVED_PEERS).map((c) => ({ nodeId: c.nodeId, addr: c.addr, lastSeen: c.lastSeen })))
      } catch (err) { log.warn({ err: (err as Error).message }, 'could not save dht peers') }
      dht.stop()
      store.close()
    },
  }
}
