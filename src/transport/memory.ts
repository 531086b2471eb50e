/**
 * The simulator-grade in-memory LinkProvider: links without streams, handshakes or limits, for DHT simulations of
 * thousands of nodes and unit tests of upper layers. It keeps the LinkProvider contract (test/compliance runs the
 * same suite against it); to test the manager's dedupe, bans and limits in memory use memory-streams.ts, which
 * plugs in-memory pipes into the real ConnectionManager. Identities are real; there is no encryption (nothing leaves the process).
 * Messages are delivered asynchronously (after `latencyMs`, default: next macrotask), in order per direction.
 */
import type { Identity } from '../crypto/identity.js'
import type { Clock } from '../interfaces/clock.js'
import type { DialOptions, Endpoint, Link, LinkProvider, RemotePeer } from '../interfaces/link.js'
import { equalBytes, toB64 } from '../util/bytes.js'
import { AbortedError, ZeoneError } from '../util/errors.js'
import { LinkClosedError } from './errors.js'
import { Router } from './router.js'
import { RpcLink, type FrameSink } from './rpc-link.js'

export interface MemoryNetworkInit {
  /** One-way delay between two endpoints in ms. @default () => 0 */
  latencyMs?: (from: Endpoint, to: Endpoint) => number
  clock?: Clock
}

const key = (e: Endpoint): string => `${e.host}:${e.port}`

/**
 * Default clock of in-memory networks: like systemClock but with ref'd timers, so a process whose only pending work is
 * an in-flight in-memory message does not exit before it is delivered.
 */
const refClock: Clock = {
  now: () => Date.now(),
  setTimeout(cb, ms) {
    const t = setTimeout(cb, ms)
    return { cancel: () => clearTimeout(t) }
  },
}

export class MemoryNetwork {
  readonly nodes = new Map<string, MemoryNode>()
  readonly latencyMs: (from: Endpoint, to: Endpoint) => number
  readonly clock: Clock
  constructor(init: MemoryNetworkInit = {}) {
    this.latencyMs = init.latencyMs ?? (() => 0)
    this.clock = init.clock ?? refClock
  }

  createNode(identity: Identity, addr: Endpoint, opts: { capabilities?: string[] } = {}): MemoryNode {
    if (this.nodes.has(key(addr))) throw new Error(`address ${key(addr)} already in use`)
    const node = new MemoryNode(this, identity, addr, new Set(opts.capabilities ?? ['DHT']))
    this.nodes.set(key(addr), node)
    return node
  }
}

export class MemoryNode implements LinkProvider {
  readonly router = new Router()
  #links = new Map<string, RpcLink>()
  #listeners = new Set<(link: Link) => void>()
  #stopped = false

  constructor(readonly network: MemoryNetwork, readonly identity: Identity, readonly addr: Endpoint, readonly capabilities: ReadonlySet<string>) {}

  async dial(addr: Endpoint, opts: DialOptions = {}): Promise<Link> {
    if (this.#stopped) throw new LinkClosedError('node stopped')
    if (opts.signal?.aborted) throw new AbortedError()
    const remote = this.network.nodes.get(key(addr))
    if (!remote || remote.#stopped) throw new ZeoneError('connect_refused', `connection refused: ${key(addr)}`)
    if (opts.expectNodeId && !equalBytes(opts.expectNodeId, remote.identity.publicKey)) {
      throw new ZeoneError('identity_mismatch', `peer at ${key(addr)} is not the expected node`)
    }
    const existing = this.#links.get(remote.identity.nodeIdB64)
    if (existing && !existing.closed) return existing
    const [mine, theirs] = connectPair(this, remote)
    this.#add(mine)
    remote.#add(theirs)
    return mine
  }

  get(nodeId: Uint8Array | string): Link | undefined {
    return this.#links.get(typeof nodeId === 'string' ? nodeId : toB64(nodeId))
  }

  links(): Link[] { return [...this.#links.values()] }

  onLink(cb: (link: Link) => void): () => void {
    this.#listeners.add(cb)
    return () => this.#listeners.delete(cb)
  }

  /** Closes every link and refuses new ones (simulates the node going away). */
  stop(): void {
    this.#stopped = true
    for (const l of [...this.#links.values()]) l.close('node stopped')
    this.network.nodes.delete(key(this.addr))
  }

  #add(link: RpcLink): void {
    const id = link.peer.nodeIdB64
    this.#links.get(id)?.close('replaced')
    this.#links.set(id, link)
    link.onClose(() => { if (this.#links.get(id) === link) this.#links.delete(id) })
    for (const cb of this.#listeners) cb(link)
  }
}

function peerOf(node: MemoryNode, outbound: boolean): RemotePeer {
  return {
    nodeId: node.identity.publicKey,
    nodeIdB64: node.identity.nodeIdB64,
    dhtId: node.identity.dhtId,
    remoteAddr: node.addr,
    listenAddr: node.addr,
    version: 2,
    capabilities: node.capabilities,
    outbound,
  }
}

function connectPair(a: MemoryNode, b: MemoryNode): [RpcLink, RpcLink] {
  const net = a.network
  let la!: RpcLink
  let lb!: RpcLink
  const makeSink = (from: MemoryNode, to: MemoryNode, getPeer: () => RpcLink, getSelf: () => RpcLink): FrameSink => ({
    sendFrame(type, plaintext) {
      const copy = plaintext.slice()
      const delay = net.latencyMs(from.addr, to.addr)
      net.clock.setTimeout(() => {
        const peer = getPeer()
        if (peer.closed) return
        try { peer.receiveFrame(type, copy) } catch { peer.close('protocol error') }
      }, delay)
      return true
    },
    whenWritable: () => Promise.resolve(),
    close(reason) {
      const self = getSelf()
      const peer = getPeer()
      self.handleClosed(reason)
      net.clock.setTimeout(() => peer.handleClosed(`remote closed: ${reason}`), net.latencyMs(from.addr, to.addr))
    },
  })
  la = new RpcLink(peerOf(b, true), makeSink(a, b, () => lb, () => la), a.router.dispatch, { clock: net.clock })
  lb = new RpcLink(peerOf(a, false), makeSink(b, a, () => la, () => lb), b.router.dispatch, { clock: net.clock })
  return [la, lb]
}
