/** The node's own control routes: status, peers, config reload, stop. */
import type { Endpoint, Link, LegacyLink } from '../interfaces/link.js'
import type { ControlApi } from '../interfaces/node-context.js'
import type { ZeoneConfig } from './config-schema.js'

/** What these routes need from the node (ZeoneNode satisfies it). */
export interface ControllableNode {
  readonly identity: { nodeIdB64: string; dhtIdHex: string }
  readonly listenAddress: Endpoint | undefined
  readonly httpAddress: Endpoint | undefined
  readonly config: ZeoneConfig
  readonly state: string
  allLinks(): Array<Link | LegacyLink>
  reloadConfig(): boolean
  readonly lastReload: { live: string[]; restartRequired: string[] }
  stop(): Promise<void>
}

export interface PeerInfo {
  nodeId: string
  dhtId: string
  version: number
  outbound: boolean
  remote: string
  /** What carries the link now: tcp, udx, turn, relay (absent where the transport does not say). */
  via?: string
  listen: string | null
  capabilities: string[]
}

const ep = (e: Endpoint | undefined): string | null => (e ? `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}` : null)

export function registerNodeControlRoutes(control: ControlApi, node: ControllableNode): void {
  control.route('GET', '/v1/status', () => ({
    nodeId: node.identity.nodeIdB64, dhtId: node.identity.dhtIdHex, state: node.state,
    listen: ep(node.listenAddress), http: ep(node.httpAddress), legacy: node.config.node.legacy,
    peers: node.allLinks().length,
  }))
  control.route('GET', '/v1/peers', (): PeerInfo[] => node.allLinks().filter((l) => !l.closed).map((l) => ({
    nodeId: l.peer.nodeIdB64, dhtId: Buffer.from(l.peer.dhtId).toString('hex'), version: l.peer.version,
    outbound: l.peer.outbound, remote: ep(l.peer.route?.remote ?? l.peer.remoteAddr) ?? '', ...(l.peer.route ? { via: l.peer.route.via } : {}),
    listen: ep(l.peer.listenAddr),
    capabilities: [...l.peer.capabilities].sort(),
  })))
  control.route('POST', '/v1/config/reload', () => { const applied = node.reloadConfig(); return { applied, ...(applied ? node.lastReload : { live: [], restartRequired: [] }) } })
  control.route('POST', '/v1/stop', () => {
    setImmediate(() => { void node.stop() })
    return { stopping: true }
  })
}
