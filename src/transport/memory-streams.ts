/**
 * In-memory stream transport: Duplex pipes between endpoints of one process, with real backpressure (a writer is held
 * once the reader's buffer is full and it stops reading). Plugged into the ConnectionManager, it gives tests the whole
 * manager (handshake, dedupe, bans, limits, keep-alive) without sockets. The simulator-grade MemoryNetwork
 * (memory.ts) stays for DHT simulations of thousands of nodes, where a handshake per link would dominate.
 */
import { Duplex } from 'node:stream'
import type { Endpoint } from '../interfaces/link.js'
import type { StreamDialOptions, StreamTransport } from '../interfaces/transport.js'
import { AbortedError, ZeoneError } from '../util/errors.js'

type Accept = (stream: Duplex, remote: Endpoint) => void
const key = (e: Endpoint): string => `${e.host}:${e.port}`

/** One end of a pipe. A write completes once the other end's reader took the chunk into its buffer. */
class PipeEnd extends Duplex {
  peer: PipeEnd | undefined
  #held: (() => void) | undefined

  // like net.Socket: once the other end ended, this end ends too (no half-open pipe left waiting for a timer)
  constructor() { super({ allowHalfOpen: false }) }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const peer = this.peer
    if (!peer || peer.destroyed) { cb(new ZeoneError('connect_reset', 'pipe closed')); return }
    if (peer.push(chunk)) cb()
    else peer.#held = () => cb()
  }

  override _read(): void {
    const held = this.#held
    this.#held = undefined
    held?.()
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.peer?.push(null)
    cb()
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const peer = this.peer
    this.peer = undefined
    // like a reset TCP connection: the other end closes too
    if (peer && !peer.destroyed) peer.destroy()
    cb(err)
  }
}

/** Two connected pipe ends. */
export function pipePair(): [Duplex, Duplex] {
  const a = new PipeEnd()
  const b = new PipeEnd()
  a.peer = b
  b.peer = a
  return [a, b]
}

export class MemoryStreamNetwork {
  readonly #listeners = new Map<string, Accept>()
  #nextPort = 50_000

  /** A transport listening at `at` (a free port on `at.host` when the port is 0). */
  transport(at: Endpoint): StreamTransport {
    const local = at.port === 0 ? { host: at.host, port: this.#nextPort++ } : at
    return new MemoryStreamTransport(this, local)
  }

  /** @internal */ bind(at: Endpoint, accept: Accept): void {
    if (this.#listeners.has(key(at))) throw new ZeoneError('address_in_use', `address ${key(at)} already in use`)
    this.#listeners.set(key(at), accept)
  }

  /** @internal */ unbind(at: Endpoint): void { this.#listeners.delete(key(at)) }

  /** @internal */ connect(from: Endpoint, to: Endpoint): Duplex {
    const accept = this.#listeners.get(key(to))
    if (!accept) throw new ZeoneError('connect_failed', `connect to ${key(to)} failed: nothing listens there`)
    const [mine, theirs] = pipePair()
    const source = { host: from.host, port: this.#nextPort++ }
    queueMicrotask(() => accept(theirs, source))
    return mine
  }
}

class MemoryStreamTransport implements StreamTransport {
  readonly kind = 'memory'
  #listening = false

  constructor(readonly net: MemoryStreamNetwork, readonly local: Endpoint) {}

  async listen(onStream: Accept): Promise<Endpoint | undefined> {
    if (!this.#listening) { this.net.bind(this.local, onStream); this.#listening = true }
    return this.local
  }

  async dial(addr: Endpoint, opts: StreamDialOptions): Promise<Duplex> {
    if (opts.signal.aborted) throw new AbortedError()
    return this.net.connect(this.local, addr)
  }

  async close(): Promise<void> {
    if (this.#listening) this.net.unbind(this.local)
    this.#listening = false
  }
}
