/**
 * The SOCKS5 listener on the client node: runs the handshake (socks.ts), asks the VPN client to open the stream
 * through an exit, writes the SOCKS reply, and leaves the socket to the stream's Pipe. Refusals are SOCKS reply
 * codes; a connection that fails the handshake is closed. Bounded: at most `maxConnections` sockets at once.
 * UDP ASSOCIATE (when `udp`) is served by socks-relay.ts, one relay per control connection.
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { Logger } from '../../interfaces/logger.js'
import { silentLogger } from '../../interfaces/logger.js'
import { listen } from '../../util/listen.js'
import type { VpnClient } from './client.js'
import { Rep } from './messages.js'
import { CMD_UDP_ASSOCIATE, reply, socksHandshake, SocksError, type SocksAuth } from './socks.js'
import { serveUdpAssociate } from './socks-relay.js'

export interface SocksServerInit {
  client: VpnClient
  host: string
  port: number
  auth?: SocksAuth
  handshakeTimeoutMs: number
  maxConnections: number
  /** Offer UDP ASSOCIATE. @default false */
  udp?: boolean
  logger?: Logger
}

export class SocksServer {
  readonly init: SocksServerInit
  #server: Server | undefined
  #sockets = new Set<Socket>()
  #log: Logger
  readonly counts = { accepted: 0, connected: 0, refused: 0, udpAssociations: 0 }
  /** Datagrams the UDP relays dropped, by reason (wrong_source, frag, short, oversize, ...). */
  readonly udpDrops = new Map<string, number>()

  constructor(init: SocksServerInit) {
    this.init = init
    this.#log = init.logger ?? silentLogger
  }

  get address(): { host: string; port: number } | undefined {
    const a = this.#server?.address()
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined
  }

  /** Idempotent: a second call returns the first start (never a second listener). */
  start(): Promise<void> {
    this.#starting ??= this.#start()
    return this.#starting
  }

  #starting: Promise<void> | undefined

  async #start(): Promise<void> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, (s) => this.#accept(s))
    server.on('error', (err) => this.#log.warn({ err: err.message }, 'socks listener error'))
    await listen(server, this.init.port, this.init.host, { what: 'SOCKS5 listener', fix: 'set vpn.socks.port (or -1 to turn it off)' })
    this.#server = server
  }

  #accept(s: Socket): void {
    if (this.#sockets.size >= this.init.maxConnections) { s.destroy(); this.counts.refused++; return }
    this.counts.accepted++
    this.#sockets.add(s)
    s.on('close', () => this.#sockets.delete(s))
    s.on('error', () => {})
    void this.#serve(s)
  }

  async #serve(s: Socket): Promise<void> {
    let req
    try {
      req = await socksHandshake(s, { ...(this.init.auth ? { auth: this.init.auth } : {}), timeoutMs: this.init.handshakeTimeoutMs, udp: this.init.udp === true })
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'socks handshake failed')
      if (err instanceof SocksError && err.rep !== undefined) s.end()
      else s.destroy()
      return
    }
    if (req.cmd === CMD_UDP_ASSOCIATE) {
      try {
        const rep = await serveUdpAssociate(s, req, this.init.client, this.udpDrops, this.#log)
        if (rep === Rep.succeeded) { this.counts.udpAssociations++; return }
        this.counts.refused++
        if (!s.destroyed) s.end(reply(rep))
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'vpn UDP association failed')
        if (!s.destroyed) s.end(reply(Rep.general))
      }
      return
    }
    try {
      const r = await this.init.client.open(s, req.host, req.port, () => { s.write(reply(Rep.succeeded)); s.resume() })
      if (r.rep === Rep.succeeded) { this.counts.connected++; return }
      this.counts.refused++
      this.#log.info({ port: req.port, rep: r.rep, exit: r.exit, reason: r.reason }, 'vpn stream refused')
      if (!s.destroyed) s.end(reply(r.rep))
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'vpn stream failed')
      if (!s.destroyed) s.end(reply(Rep.general))
    }
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    this.#sockets.clear()
    const srv = this.#server
    this.#server = undefined
    if (srv) await new Promise<void>((r) => srv.close(() => r()))
  }
}
