/** The TCP stream transport: a listening server and outbound connects, each cancellable and bounded in time. */
import { createServer, connect, type Server } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Clock } from '../interfaces/clock.js'
import type { Endpoint } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import type { StreamDialOptions, StreamTransport } from '../interfaces/transport.js'
import { AbortedError, TimeoutError, ZeoneError } from '../util/errors.js'
import { listen } from '../util/listen.js'
import { normalizeHost } from './peer-book.js'

/** How long close() waits for the listener (sockets handed to the legacy bridge may outlive it). */
const CLOSE_GRACE_MS = 2000

export interface TcpTransportInit {
  host: string
  /** 0 picks a free port. */
  port: number
  clock: Clock
  logger: Logger
}

export class TcpTransport implements StreamTransport {
  readonly kind = 'tcp'
  readonly #init: TcpTransportInit
  #server: Server | undefined
  #listening: Promise<Endpoint | undefined> | undefined
  #closing: Promise<void> | undefined

  constructor(init: TcpTransportInit) { this.#init = init }

  listen(onStream: (stream: Duplex, remote: Endpoint) => void): Promise<Endpoint | undefined> {
    this.#listening ??= this.#listen(onStream)
    return this.#listening
  }

  async #listen(onStream: (stream: Duplex, remote: Endpoint) => void): Promise<Endpoint | undefined> {
    const server = createServer({ noDelay: true }, (s) => {
      s.on('error', () => { /* surfaced through the connection's close */ })
      onStream(s, { host: normalizeHost(s.remoteAddress), port: s.remotePort ?? 0 })
    })
    this.#server = server
    await listen(server, this.#init.port, this.#init.host, { what: 'P2P listener', fix: 'use --port N (config node.port) or stop the other node' })
    server.on('error', (err) => this.#init.logger.error({ err: err.message }, 'listener error'))
    const a = server.address()
    return a && typeof a === 'object' ? { host: normalizeHost(a.address), port: a.port } : undefined
  }

  dial(addr: Endpoint, opts: StreamDialOptions): Promise<Duplex> {
    const { signal } = opts
    if (signal.aborted) return Promise.reject(new AbortedError())
    const sock = connect({ host: addr.host, port: addr.port, noDelay: true })
    return new Promise<Duplex>((resolve, reject) => {
      const t = this.#init.clock.setTimeout(() => { done(); sock.destroy(); reject(new TimeoutError(`connect to ${addr.host}:${addr.port} timed out`)) }, opts.timeoutMs)
      const onErr = (err: Error): void => { done(); reject(new ZeoneError('connect_failed', `connect to ${addr.host}:${addr.port} failed: ${err.message}`, { cause: err })) }
      const onAbort = (): void => { done(); sock.destroy(); reject(new AbortedError()) }
      const onOk = (): void => { done(); resolve(sock) }
      // one place removes every listener, whichever way the connect ends
      const done = (): void => { t.cancel(); sock.off('error', onErr); sock.off('connect', onOk); signal.removeEventListener('abort', onAbort) }
      sock.once('error', onErr)
      sock.once('connect', onOk)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    const server = this.#server
    if (!server) return
    const closed = new Promise<void>((r) => server.close(() => r()))
    await Promise.race([closed, new Promise<void>((r) => { setTimeout(r, CLOSE_GRACE_MS).unref() })])
  }
}
