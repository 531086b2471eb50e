/**
 * The implementations the LinkProvider suite runs against: the simulator's MemoryNetwork, and the one
 * ConnectionManager over each stream kind: in-memory pipes, TCP, UDX (udx-native on loopback) and relay circuits
 * (a real relay node between the two). For UDX and relays the signalling that pairs two streams is done in-process
 * here (it is the NAT layer's job in a node); the streams, the manager and everything above them are the real ones.
 */
import { createServer, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import type { Endpoint } from '../../src/interfaces/link.js'
import type { StreamTransport } from '../../src/interfaces/transport.js'
import { natConfigSchema } from '../../src/nat/config.js'
import { RelayService } from '../../src/nat/relay/relay.js'
import { SwitchableStream } from '../../src/nat/relay/switchable.js'
import type { CircuitStream } from '../../src/nat/relay/circuit-stream.js'
import { getUdx } from '../../src/nat/socket.js'
import { toB64 } from '../../src/util/bytes.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { MemoryStreamNetwork } from '../../src/transport/memory-streams.js'
import { TcpTransport } from '../../src/transport/tcp-transport.js'
import { systemClock } from '../../src/interfaces/clock.js'
import { silentLogger } from '../../src/interfaces/logger.js'
import { addr, startNode } from '../transport/helpers.js'
import { waitFor, type LinkProviderFactory, type LinkProviderPair, type TestContext } from './link-provider.js'

/** Short handshake timeout: the timeout case waits for it (an event, not a timing assertion). */
const CFG = { handshakeTimeoutMs: 1500, sendHighWaterMark: 64 * 1024, limits: { connectsPerSecPerIp: 10_000, connectBurstPerIp: 10_000 } }
const key = (e: Endpoint): string => `${e.host}:${e.port}`

/** A transport that remembers the streams it accepted (so a test can stall their reader). */
function recording(tr: StreamTransport): StreamTransport & { accepted: Duplex[] } {
  const accepted: Duplex[] = []
  return {
    kind: tr.kind, accepted,
    listen: (on) => tr.listen((s, remote) => { accepted.push(s); on(s, remote) }),
    dial: (a, o) => tr.dial(a, o),
    close: () => tr.close(),
  }
}

const unread = (s: Duplex): number => {
  const st = (s as Duplex & { _readableState?: { buffered?: number; length?: number } })._readableState
  return s.readableLength ?? st?.buffered ?? st?.length ?? 0
}

/** Two managers over transports from `make`, plus the suite's hooks. */
async function managers(t: TestContext, make: (side: 'a' | 'b', id: Identity) => Promise<StreamTransport | undefined>, silent: () => Promise<Endpoint>, pushesBack = true, ids?: [Identity, Identity]): Promise<LinkProviderPair> {
  const [aId, bId] = ids ?? [Identity.fromSeed(randomBytes(32)), Identity.fromSeed(randomBytes(32))]
  const ta = await make('a', aId)
  const tb = await make('b', bId)
  const rb = tb ? recording(tb) : undefined
  const a = await startNode(t, CFG, { identity: aId, ...(ta ? { transport: ta } : {}) })
  const b = await startNode(t, CFG, { identity: bId, ...(rb ? { transport: rb } : {}) })
  const accepted: Duplex[] = rb?.accepted ?? []
  return {
    a: a.cm, b: b.cm, bRouter: b.router, aAddr: addr(a), bAddr: addr(b), aId: a.identity, bId: b.identity,
    stopA: () => a.cm.stop(),
    open: () => ({ a: a.cm.connectionCount, b: b.cm.connectionCount }),
    silentAddr: silent,
    stallB: () => {
      const streams = [...accepted]
      for (const s of streams) s.pause()
      return { resume: () => { for (const s of streams) s.resume() }, unread: () => streams.reduce((n, s) => n + unread(s), 0), pushesBack }
    },
  }
}

/** A TCP listener that accepts and never says a word. */
async function silentTcp(t: TestContext): Promise<Endpoint> {
  const held: Socket[] = []
  const server = createServer((s) => { held.push(s); s.on('error', () => {}) })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => { for (const s of held) s.destroy(); return new Promise<void>((r) => server.close(() => r())) })
  return { host: '127.0.0.1', port: (server.address() as { port: number }).port }
}

export const memory: LinkProviderFactory = async () => {
  const net = new MemoryNetwork()
  const aId = Identity.fromSeed(randomBytes(32))
  const bId = Identity.fromSeed(randomBytes(32))
  const a = net.createNode(aId, { host: 'a', port: 1 })
  const b = net.createNode(bId, { host: 'b', port: 1 })
  return { a, b, bRouter: b.router, aAddr: a.addr, bAddr: b.addr, aId, bId, stopA: async () => a.stop() }
}

export const memoryStreams: LinkProviderFactory = async (t) => {
  const net = new MemoryStreamNetwork()
  let host = 1
  const silent = async (): Promise<Endpoint> => {
    const tr = net.transport({ host: '10.9.0.1', port: 0 })
    const held: Duplex[] = []
    t.after(() => { for (const s of held) s.destroy(); return tr.close() })
    return (await tr.listen((s) => { held.push(s) }))!
  }
  return managers(t, async () => net.transport({ host: `10.1.0.${host++}`, port: 0 }), silent)
}

/** The manager's default transport, built here so b's accepted sockets can be stalled. */
export const tcp: LinkProviderFactory = async (t) =>
  managers(t, async () => new TcpTransport({ host: '127.0.0.1', port: 0, clock: systemClock, logger: silentLogger }), () => silentTcp(t))

/** UDX streams on loopback; a registry in this process pairs the two stream ids (what NAT signalling does). */
class UdxLoop {
  readonly #at = new Map<string, UdxEnd>()
  #nextId = 1

  transport(t: TestContext): StreamTransport {
    const udx = getUdx()
    const socket = udx.createSocket()
    socket.bind(0, '127.0.0.1')
    const local = { host: '127.0.0.1', port: socket.address()!.port }
    // every stream on this socket, whichever side opened it: the socket closes only once they are gone
    const self: UdxEnd = { socket, streams: [] }
    this.#at.set(key(local), self)
    let closed: Promise<void> | undefined
    const close = (): Promise<void> => {
      closed ??= (async () => {
        this.#at.delete(key(local))
        for (const s of self.streams) s.destroy()
        await socket.close()
      })()
      return closed
    }
    t.after(close)
    return {
      kind: 'udx',
      listen: async (accept) => { self.accept = accept; return local },
      dial: async (at, opts) => {
        opts.signal.throwIfAborted()
        const remote = this.#at.get(key(at))
        if (!remote?.accept) throw new Error(`nothing listens at ${key(at)}`)
        const accept = remote.accept
        const idA = this.#nextId++, idB = this.#nextId++
        const mine = udx.createStream(idA) as unknown as UdxStream
        const theirs = udx.createStream(idB) as unknown as UdxStream
        // a reset reaches the adapter as a close; a held stream without a reader must not throw it
        for (const s of [mine, theirs]) s.on('error', () => {})
        self.streams.push(mine)
        remote.streams.push(theirs)
        mine.connect(socket, idB, at.port, '127.0.0.1')
        theirs.connect(remote.socket, idA, local.port, '127.0.0.1')
        queueMicrotask(() => accept(theirs, local))
        return mine
      },
      close,
    }
  }

  /** An endpoint that accepts streams and never reads them. */
  silent(t: TestContext): Promise<Endpoint> {
    return this.transport(t).listen(() => {}) as Promise<Endpoint>
  }
}
type UdxStream = Duplex & { connect(...a: unknown[]): void }
interface UdxEnd { socket: ReturnType<ReturnType<typeof getUdx>['createSocket']>; streams: Duplex[]; accept?: (s: Duplex, from: Endpoint) => void }

export const udx: LinkProviderFactory = async (t) => {
  const loop = new UdxLoop()
  return managers(t, async () => loop.transport(t), () => loop.silent(t), false)
}

/**
 * Relay circuits: a relay node R and, per side, a TCP node linked to R; each side's second manager dials through
 * a circuit opened over that link (the same identity as its TCP node: one node, two ways to reach it).
 */
export const relayed: LinkProviderFactory = async (t) => {
  const cfg = natConfigSchema.parse({ relay: { enabled: true, allowPrivatePeers: true } }).relay
  const r = await startNode(t, CFG)
  const relaySvc = new RelayService({ config: cfg, router: r.router, links: r.cm })
  relaySvc.start()
  t.after(() => relaySvc.stop())
  const where = new Map<string, Uint8Array>() // synthetic endpoint -> node id reached through R
  const back = new Map<string, Endpoint>() // node id -> its synthetic endpoint
  let n = 1
  const side = async (silentNode = false): Promise<{ transport: StreamTransport; id: Identity }> => {
    const id = Identity.fromSeed(randomBytes(32))
    const local = { host: `10.3.0.${n++}`, port: 7 }
    let accept: ((s: Duplex, from: Endpoint) => void) | undefined
    const held: CircuitStream[] = []
    const node = await startNode(t, CFG, { identity: id })
    const svc = new RelayService({
      config: cfg, router: node.router, links: node.cm,
      accept: (from, s) => {
        if (silentNode) { s.on('error', () => {}); held.push(s); return true }
        if (!accept) return false
        accept(new SwitchableStream(s), back.get(toB64(from)) ?? { host: '10.3.0.250', port: 7 })
        return true
      },
    })
    svc.start()
    t.after(() => { for (const s of held) s.destroy(); svc.stop() })
    const relayLink = await node.cm.dial(addr(r))
    await waitFor(() => r.cm.get(id.publicKey) !== undefined, 'the relay has the link')
    where.set(key(local), id.publicKey)
    back.set(id.nodeIdB64, local)
    const transport: StreamTransport = {
      kind: 'relay',
      listen: async (on) => { accept = on; return local },
      dial: async (at, opts) => {
        opts.signal.throwIfAborted()
        const to = where.get(key(at))
        if (!to) throw new Error(`no node behind ${key(at)}`)
        return new SwitchableStream(await svc.open(relayLink, to))
      },
      close: async () => { accept = undefined },
    }
    return { transport, id }
  }
  const sa = await side()
  const sb = await side()
  let silentAt: Endpoint | undefined
  const silent = async (): Promise<Endpoint> => {
    if (!silentAt) {
      const s = await side(true)
      silentAt = back.get(s.id.nodeIdB64)!
    }
    return silentAt
  }
  return managers(t, async (which) => (which === 'a' ? sa : sb).transport, silent, true, [sa.id, sb.id])
}
