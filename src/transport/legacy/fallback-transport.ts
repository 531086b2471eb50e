/**
 * A TCP listener with no ZE sessions: streams that start with a legacy frame go to the legacy acceptor, everything
 * else is closed. The node uses it only when no secure connection manager is available (e.g. legacy-only tests);
 * it implements the same NodeTransport surface so the rest of the node does not care.
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { FrameEvent } from '../../interfaces/node-context.js'
import type { DialOptions, Endpoint, Link } from '../../interfaces/link.js'
import { ZeoneError } from '../../util/errors.js'
import type { LegacyAcceptor, NodeTransport } from './types.js'
import { listen } from '../../util/listen.js'

/** How long a new stream may take to send its first bytes. */
const FIRST_BYTES_TIMEOUT_MS = 10_000

export interface FallbackTransportInit {
  host: string
  port: number
  legacyAcceptor?: LegacyAcceptor
}

export class FallbackTransport implements NodeTransport {
  #server: Server | undefined
  #sockets = new Set<Socket>()
  #init: FallbackTransportInit

  constructor(init: FallbackTransportInit) { this.#init = init }

  get listenAddress(): Endpoint | undefined {
    const a = this.#server?.address() as AddressInfo | null | undefined
    return a ? { host: a.address, port: a.port } : undefined
  }

  async start(): Promise<void> {
    if (this.#server) return
    const server = createServer((s) => this.#onSocket(s))
    this.#server = server
    await listen(server, this.#init.port, this.#init.host)
  }

  async stop(): Promise<void> {
    const server = this.#server
    if (!server) return
    this.#server = undefined
    for (const s of this.#sockets) s.destroy()
    this.#sockets.clear()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  #onSocket(socket: Socket): void {
    this.#sockets.add(socket)
    socket.once('close', () => this.#sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    const timer = setTimeout(() => socket.destroy(), FIRST_BYTES_TIMEOUT_MS)
    timer.unref()
    socket.once('data', (first: Buffer) => {
      clearTimeout(timer)
      socket.pause()
      this.#sockets.delete(socket)
      const isMagic = first.length >= 2 && first[0] === 0x5a && first[1] === 0x45
      if (isMagic || !this.#init.legacyAcceptor) { socket.destroy(); return }
      this.#init.legacyAcceptor(socket, first)
    })
  }

  async dial(addr: Endpoint, _opts?: DialOptions): Promise<Link> {
    throw new ZeoneError('unsupported', `no secure transport available to dial ${addr.host}:${addr.port}`)
  }
  get(_nodeId: Uint8Array | string): Link | undefined { return undefined }
  links(): Link[] { return [] }
  onLink(_cb: (link: Link) => void): () => void { return () => {} }
  observe(_cb: (ev: FrameEvent) => void): () => void { return () => {} }
}
