/**
 * Wires the VPN service into a running node (after the economy, so the usage meter, stakes and the DHT's provider
 * directory exist): the VPN_CONNECT / VPN_DATA / VPN_CLOSE handlers, the exit (`vpn.exit.enabled`) with its DHT
 * announcement, the SOCKS5 listener (`vpn.socks.port`), and the control routes behind `zeone vpn`.
 */
import { networkInterfaces } from 'node:os'
import type { Inbound } from '../../interfaces/link.js'
import type { NodeContext, Stoppable } from '../../interfaces/node-context.js'
import type { DhtConfig } from '../../dht/config.js'
import type { EconomyConfig } from '../../economy/config.js'
import type { VpnConfig } from './config.js'
import { fromB64, nodeIdFromB64, toB64 } from '../../util/bytes.js'
import { ZeoneError } from '../../util/errors.js'
import { MessageType } from '../../wire/message-types.js'
import { VpnClient } from './client.js'
import { VpnExit } from './exit.js'
import { ExitAnnouncer } from './announcer.js'
import { encodeAnnouncement, VPN_EXIT_KEY } from './market.js'
import { decodeClose, decodeConnect, decodeData, encodeConnectResult, Rep, Role } from './messages.js'
import { ExitPolicy } from './policy.js'
import { SocksServer } from './socks-server.js'
import { parseIp } from './ip.js'
import { rangeClassOf } from './policy.js'
import { UdpExit } from './udp-exit.js'
import { decodeUdpAssociate, decodeUdpClose, decodeUdpData, encodeUdpAssociateResult } from './udp-messages.js'

declare module '../../interfaces/node-context.js' {
  interface ServiceMap {
    /** vpn: the client side (exits, streams) */
    vpnClient: VpnClient
    /** vpn: the exit side, when vpn.exit.enabled */
    vpnExit: VpnExit
    /** vpn: the SOCKS5 listener, when vpn.socks.port >= 0 */
    vpnSocks: SocksServer
    /** vpn: the exit's UDP associations, when vpn.exit.enabled and vpn.exit.udp.enabled */
    vpnUdpExit: UdpExit
    /** vpn: the exit's provider-record announcer, when it announces */
    vpnAnnouncer: ExitAnnouncer
  }
}

const MIB = 1024n * 1024n

/** `host:port` or `[v6]:port` (the config schema checked the shape). */
function hostPort(s: string): { host: string; port: number } {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([^\s:/]+):(\d{1,5})$/.exec(s)
  const port = m ? Number(m[2]) : NaN
  if (!m || port < 1 || port > 65535) throw new ZeoneError('bad_exit', `expected host:port, got '${s.slice(0, 100)}'`)
  return { host: m[1]!, port }
}

/**
 * The node's own public interface addresses: an exit never connects to them (they reach its own services). Read at
 * most once a second: os.networkInterfaces() on every VPN_CONNECT and every UDP datagram was a measurable share of a
 * burst of connects.
 */
let selfCache: { at: number; addrs: string[] } | undefined
function publicSelfAddresses(): string[] {
  const now = Date.now()
  if (selfCache && now - selfCache.at < 1000) return selfCache.addrs
  const out: string[] = []
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) {
    const ip = parseIp(a.address)
    if (ip && !rangeClassOf(ip)) out.push(a.address)
  }
  selfCache = { at: now, addrs: out }
  return out
}

/** The exit's price per MiB as its economy will charge it (list price of service `vpn`, else the byte price). */
function pricePerMiB(ctx: NodeContext<VpnLayerConfig>): bigint {
  const e = ctx.config.economy
  const p = e.pricing.services.vpn
  if (p) return (BigInt(p.price) * MIB) / (BigInt(p.per) || 1n)
  return BigInt(e.bytePrice) * MIB
}

/** The config sections this layer reads (the node hands it only these): prices from economy, `dht.k` for announcements. */
export interface VpnLayerConfig { vpn: VpnConfig; economy: EconomyConfig; dht: DhtConfig }

export async function attach(ctx: NodeContext<VpnLayerConfig>): Promise<Stoppable | void> {
  const cfg = ctx.config.vpn
  const log = ctx.logger
  const usage = (): ReturnType<typeof ctx.services.get<'usage'>> => ctx.services.get('usage')
  const client = new VpnClient({
    links: ctx.links, providers: () => ctx.services.get('providers'), ...(ctx.tracer ? { tracer: ctx.tracer } : {}), usage, stake: () => ctx.services.get('stake'),
    trustOf: (id) => ctx.services.get('economy')?.trust.view(id).effective,
    logger: log.child({ c: 'vpn-client' }), window: cfg.socks.window, maxWindow: cfg.socks.maxWindow, windowBudget: cfg.socks.windowBudget, connectTimeoutMs: cfg.socks.connectTimeoutMs,
    idleTimeoutMs: cfg.socks.idleTimeoutMs, maxPricePerMiB: BigInt(cfg.socks.maxPricePerMiB), requireStake: cfg.socks.requireStake,
    deadMs: cfg.socks.deadMs,
  })
  for (const ref of cfg.socks.exits) {
    const at = ref.indexOf('@')
    client.addExit({ nodeId: fromB64(ref.slice(0, at)), addrs: [hostPort(ref.slice(at + 1))], source: 'config' })
  }
  ctx.services.provide('vpnClient', client)

  let exit: VpnExit | undefined
  const policy = new ExitPolicy(cfg.exit.policy)
  if (cfg.exit.enabled) {
    exit = new VpnExit({
      policy, limits: cfg.exit, usage, logger: log.child({ c: 'vpn-exit' }), selfAddresses: publicSelfAddresses, ...(ctx.tracer ? { tracer: ctx.tracer } : {}),
    })
    ctx.services.provide('vpnExit', exit)
  }
  let udpExit: UdpExit | undefined
  if (exit && cfg.exit.udp.enabled) {
    udpExit = new UdpExit({
      policy, limits: cfg.exit.udp, resolve: exit.resolve, selfAddresses: publicSelfAddresses, usage, logger: log.child({ c: 'vpn-udp-exit' }),
    })
    ctx.services.provide('vpnUdpExit', udpExit)
  }
  const off: Array<() => void> = []
  off.push(ctx.router.handle(MessageType.VPN_CONNECT, async (msg: Inbound) => {
    if (exit) return exit.handleConnect(msg)
    const req = decodeConnect(msg.body)
    msg.reply?.(MessageType.VPN_CONNECT, encodeConnectResult({ stream: req.stream, rep: Rep.notAllowed, window: 0, reason: 'exit_disabled: this node is not a VPN exit' }))
  }))
  off.push(ctx.router.handle(MessageType.VPN_DATA, (msg: Inbound) => {
    const m = decodeData(msg.body)
    if (m.role === Role.client) { if (exit) exit.onData(msg.link, m, msg.release); else msg.release?.() }
    else client.onData(msg.link, m, msg.release)
  }))
  off.push(ctx.router.handle(MessageType.VPN_CLOSE, (msg: Inbound) => {
    const m = decodeClose(msg.body)
    if (m.role === Role.client) exit?.onClose(msg.link, m)
    else client.onClose(msg.link, m)
  }))

  off.push(ctx.router.handle(MessageType.VPN_UDP_ASSOCIATE, (msg: Inbound) => {
    if (udpExit) return udpExit.handleAssociate(msg)
    const req = decodeUdpAssociate(msg.body)
    msg.reply?.(MessageType.VPN_UDP_ASSOCIATE, encodeUdpAssociateResult({ assoc: req.assoc, rep: Rep.notAllowed, reason: `exit_disabled: this node ${exit ? 'relays no UDP' : 'is not a VPN exit'}` }))
  }))
  off.push(ctx.router.handle(MessageType.VPN_UDP_DATA, (msg: Inbound) => {
    const m = decodeUdpData(msg.body)
    if (m.role === Role.client) udpExit?.onData(msg.link, m)
    else client.onUdpData(msg.link, m)
  }))
  off.push(ctx.router.handle(MessageType.VPN_UDP_CLOSE, (msg: Inbound) => {
    const m = decodeUdpClose(msg.body)
    if (m.role === Role.client) udpExit?.onClose(msg.link, m)
    else client.onUdpClose(msg.link, m)
  }))

  const providers = ctx.services.get('providers')
  let announceTimer: NodeJS.Timeout | undefined
  if (exit && cfg.exit.announce && providers) {
    const announcer = new ExitAnnouncer({
      providers, filledAt: ctx.config.dht.k, intervalMs: cfg.exit.announceIntervalMs,
      tableSize: () => ctx.services.get('dht')?.table.size ?? 0,
      build: async () => {
        const stake = await ctx.services.get('stake')?.stakeOf(ctx.identity.publicKey).catch(() => 0n) ?? 0n
        return encodeAnnouncement({ pricePerMiB: pricePerMiB(ctx), capacityMbps: cfg.exit.capacityMbps, region: cfg.exit.region, policyDigest: policy.digest, stake })
      },
      onAnnounce: (why) => log.info({ why, pricePerMiB: `${pricePerMiB(ctx)}`, capacityMbps: cfg.exit.capacityMbps, policy: policy.digest }, 'vpn exit announced'),
      onError: (err) => log.warn({ err: err.message }, 'vpn exit announcement failed'),
    })
    ctx.services.provide('vpnAnnouncer', announcer)
    void announcer.tick(Date.now())
    // the table is looked at every couple of seconds (cheap: a size read); announcing happens only when due
    announceTimer = setInterval(() => { void announcer.tick(Date.now()) }, Math.min(2000, cfg.exit.announceIntervalMs))
    announceTimer.unref()
  }

  let socks: SocksServer | undefined
  if (cfg.socks.port >= 0) {
    socks = new SocksServer({
      client, host: cfg.socks.host, port: cfg.socks.port, handshakeTimeoutMs: cfg.socks.handshakeTimeoutMs,
      maxConnections: cfg.socks.maxConnections, udp: cfg.socks.udp, logger: log.child({ c: 'socks' }),
      ...(cfg.socks.username !== undefined && cfg.socks.password !== undefined ? { auth: { user: cfg.socks.username, pass: cfg.socks.password } } : {}),
    })
    await socks.start()
    ctx.services.provide('vpnSocks', socks)
    log.info({ socks: socks.address }, 'vpn SOCKS5 listening')
  }

  const status = (): unknown => ({
    socks: socks?.address ?? null, auth: cfg.socks.username !== undefined, pinned: client.pinned ?? null, openStreams: client.openStreams,
    socksCounts: socks?.counts ?? null, udpAssociations: client.openAssociations, udpDrops: socks ? Object.fromEntries(socks.udpDrops) : null,
    exit: exit ? { enabled: true, streams: exit.streams, opened: exit.counts.opened, refused: Object.fromEntries(exit.counts.refused), policy: policy.canonical(), policyDigest: policy.digest, pricePerMiB: `${pricePerMiB(ctx)}`,
      udp: udpExit ? { associations: udpExit.associations, opened: udpExit.counts.opened, sent: udpExit.counts.sent, received: udpExit.counts.received, dropped: Object.fromEntries(udpExit.counts.dropped), refused: Object.fromEntries(udpExit.counts.refused) } : null } : { enabled: false },
  })
  ctx.control.route('GET', '/v1/vpn/status', status)
  ctx.control.route('GET', '/v1/vpn/exits', async (req) => {
    if (req.query.get('refresh') === '1') await client.refresh(ctx.signal)
    return client.exits().map((e) => ({
      nodeId: toB64(e.nodeId), addrs: e.addrs, source: e.source, rttMs: e.rttMs === undefined ? null : Math.round(e.rttMs * 100) / 100,
      pricePerMiB: e.ann ? `${e.ann.pricePerMiB}` : null, capacityMbps: e.ann?.capacityMbps ?? null, region: e.ann?.region ?? null,
      policyDigest: e.ann?.policyDigest ?? null, stake: e.ann ? `${e.ann.stake}` : null, score: e.score ?? null, excluded: e.excluded ?? null,
      dead: e.deadUntil > Date.now(), lastError: e.lastError ?? null, carriedBytes: `${client.carriedVia(e.nodeId)}`,
    }))
  })
  ctx.control.route('POST', '/v1/vpn/use', (req) => {
    const b = (req.body ?? {}) as { exit?: unknown }
    if (b.exit === null || b.exit === 'auto') { client.use(undefined); return { pinned: null } }
    if (typeof b.exit !== 'string') throw new ZeoneError('bad_exit', "expected {exit: 'NODE_ID_B64[@host:port]' | 'auto'}")
    const at = b.exit.indexOf('@')
    const idText = at >= 0 ? b.exit.slice(0, at) : b.exit
    const nodeId = nodeIdFromB64(idText)
    if (!nodeId) throw new ZeoneError('bad_exit', "the exit's node id must be base64 of 32 bytes (as `zeone id` prints), optionally followed by @host:port")
    if (at >= 0) client.addExit({ nodeId, addrs: [hostPort(b.exit.slice(at + 1))], source: 'pinned' })
    else if (!client.exits().some((e) => toB64(e.nodeId) === toB64(nodeId))) throw new ZeoneError('unknown_exit', 'exit not known; give NODE_ID@host:port or run zeone vpn exits --refresh')
    client.use(toB64(nodeId))
    return { pinned: toB64(nodeId) }
  })

  return {
    async stop() {
      for (const f of off) f()
      if (announceTimer) clearInterval(announceTimer)
      if (exit && providers) providers.unprovide(VPN_EXIT_KEY)
      await socks?.stop()
      udpExit?.stop()
      exit?.stop()
      client.stop()
    },
  }
}
