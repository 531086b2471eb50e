/**
 * The node's local HTTP server (ops.httpHost:ops.httpPort, loopback by default): GET /metrics (Prometheus text),
 * GET /healthz (JSON), and whatever routes and WebSocket upgrades layers register through HttpApi.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Registry } from 'prom-client'
import type { HttpApi } from '../interfaces/node-context.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import { listen } from '../util/listen.js'

type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>
type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

export interface HttpServerInit {
  host: string
  /** 0 = ephemeral, -1 = do not listen (routes can still be registered). */
  port: number
  metrics: Registry
  /** Body of /healthz; `ok: false` answers 503. */
  health: () => { ok: boolean } & Record<string, unknown>
  logger?: Logger
}

export class HttpServer implements HttpApi {
  #routes = new Map<string, RouteHandler>()
  #upgrades = new Map<string, UpgradeHandler>()
  #server: Server | undefined
  #upgraded = new Set<Duplex>()
  #init: HttpServerInit
  #logger: Logger

  constructor(init: HttpServerInit) {
    this.#init = init
    this.#logger = init.logger ?? silentLogger
    this.route('GET', '/metrics', async (_req, res) => {
      const body = await init.metrics.metrics()
      res.writeHead(200, { 'content-type': init.metrics.contentType })
      res.end(body)
    })
    this.route('GET', '/healthz', (_req, res) => {
      const h = init.health()
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' })
      res.end(JSON.stringify(h))
    })
  }

  route(method: 'GET' | 'POST', path: string, handler: RouteHandler): void {
    const k = `${method} ${path}`
    if (this.#routes.has(k)) throw new Error(`HTTP route ${k} is already registered`)
    this.#routes.set(k, handler)
  }

  upgrade(path: string, handler: UpgradeHandler): void {
    if (this.#upgrades.has(path)) throw new Error(`HTTP upgrade ${path} is already registered`)
    this.#upgrades.set(path, handler)
  }

  /** Bound address, once listening. */
  get address(): { host: string; port: number } | undefined {
    const a = this.#server?.address() as AddressInfo | null | undefined
    return a ? { host: a.address, port: a.port } : undefined
  }

  async start(): Promise<void> {
    if (this.#server || this.#init.port < 0) return
    const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => this.#onRequest(req, res))
    server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head))
    server.on('clientError', (_err, socket) => socket.destroy())
    this.#server = server
    await listen(server, this.#init.port, this.#init.host)
  }

  async stop(): Promise<void> {
    const server = this.#server
    if (!server) return
    this.#server = undefined
    for (const s of this.#upgraded) s.destroy()
    this.#upgraded.clear()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!
    const handler = this.#routes.get(`${req.method} ${path}`)
    if (!handler) {
      const known = [...this.#routes.keys()].some((k) => k.endsWith(` ${path}`))
      res.writeHead(known ? 405 : 404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: known ? 'method not allowed' : 'not found' }))
      return
    }
    Promise.resolve().then(() => handler(req, res)).catch((err: unknown) => {
      this.#logger.warn({ path, err: (err as Error)?.message }, 'HTTP handler failed')
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: 'internal error' }))
    })
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '/').split('?')[0]!
    const handler = this.#upgrades.get(path)
    if (!handler) { socket.destroy(); return }
    this.#upgraded.add(socket)
    socket.once('close', () => this.#upgraded.delete(socket))
    try {
      handler(req, socket, head)
    } catch (err) {
      this.#logger.warn({ path, err: (err as Error).message }, 'HTTP upgrade handler failed')
      socket.destroy()
    }
  }
}
