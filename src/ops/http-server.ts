/**
 * The node's local HTTP server (ops.httpHost:ops.httpPort, loopback by default): GET /metrics (Prometheus text),
 * GET /healthz (JSON), and whatever routes and WebSocket upgrades layers register through HttpApi.
 *
 * Other websites reach this server through the owner's browser, so every request is checked before a handler runs:
 *  - Host must name this server (localhost, a loopback IP, the bound IP, any IP literal when bound to a wildcard, or
 *    a name in ops.httpAllowedHosts): a DNS-rebinding page sends its own name and is refused (421);
 *  - an Origin header, when present, must name such a host too: cross-site fetches and WebSockets are refused (403);
 *  - routes that spend or change state (every POST and every WebSocket upgrade unless registered open) need
 *    `Authorization: Bearer <token>`, the token in `<dataDir>/api.token` (401). GET routes stay open (metrics).
 */
import { timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { isIP, type AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Registry } from 'prom-client'
import type { HttpApi } from '../interfaces/node-context.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import { listen } from '../util/listen.js'
import { addressClass } from '../util/address-class.js'

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
  /** Bearer token required on state-changing routes and upgrades (api-token.ts); null turns the check off. */
  token: string | null
  /** Host names (not IPs) besides localhost that may address this server (ops.httpAllowedHosts). @default [] */
  allowedHosts?: string[]
}

/** Who may call a route: `token` = the bearer token is required, `open` = anyone who passes the Host/Origin checks. */
export type RouteAccess = 'token' | 'open'

/** The host part of a Host header or an Origin's authority (brackets stripped, lower case, no port). */
function hostnameOf(authority: string): string {
  const a = authority.trim().toLowerCase()
  if (a.startsWith('[')) { const end = a.indexOf(']'); return end > 0 ? a.slice(1, end) : a }
  const i = a.lastIndexOf(':')
  return i >= 0 && a.indexOf(':') === i ? a.slice(0, i) : a
}

export class HttpServer implements HttpApi {
  #routes = new Map<string, { handler: RouteHandler; access: RouteAccess }>()
  #upgrades = new Map<string, { handler: UpgradeHandler; access: RouteAccess }>()
  #token: Buffer | null
  #names: Set<string>
  #server: Server | undefined
  #upgraded = new Set<Duplex>()
  #init: HttpServerInit
  #logger: Logger

  constructor(init: HttpServerInit) {
    this.#init = init
    this.#logger = init.logger ?? silentLogger
    this.#token = init.token === null ? null : Buffer.from(init.token)
    this.#names = new Set(['localhost', ...(init.allowedHosts ?? []).map((h) => h.toLowerCase())])
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

  /** Registers a route; a POST needs the token unless `access` is 'open', a GET is open unless it is 'token'. */
  route(method: 'GET' | 'POST', path: string, handler: RouteHandler, access: RouteAccess = method === 'GET' ? 'open' : 'token'): void {
    const k = `${method} ${path}`
    if (this.#routes.has(k)) throw new Error(`HTTP route ${k} is already registered`)
    this.#routes.set(k, { handler, access })
  }

  /** Registers a WebSocket (or other) upgrade; it needs the token unless `access` is 'open'. */
  upgrade(path: string, handler: UpgradeHandler, access: RouteAccess = 'token'): void {
    if (this.#upgrades.has(path)) throw new Error(`HTTP upgrade ${path} is already registered`)
    this.#upgrades.set(path, { handler, access })
  }

  /** Whether a host name may address this server (Host header, Origin). */
  #hostAllowed(name: string): boolean {
    if (this.#names.has(name)) return true
    if (isIP(name) === 0) return false
    const c = addressClass(name)
    if (c === 'loopback') return true
    const bound = this.#init.host.toLowerCase()
    if (bound === '0.0.0.0' || bound === '::') return true // IP literals cannot be rebound to another server
    return name === bound
  }

  /** Why a request may not reach its handler (status and message), or undefined when it may. */
  #refusal(req: IncomingMessage, access: RouteAccess): { status: number; error: string } | undefined {
    const host = req.headers.host
    if (!host || !this.#hostAllowed(hostnameOf(host))) return { status: 421, error: 'Host header does not name this server' }
    const origin = req.headers.origin
    if (origin !== undefined) {
      let ok = false
      try {
        const u = new URL(origin)
        ok = (u.protocol === 'http:' || u.protocol === 'https:') && this.#hostAllowed(hostnameOf(u.host))
      } catch { ok = false }
      if (!ok) return { status: 403, error: 'cross-origin requests are refused' }
    }
    if (access === 'token' && this.#token) {
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')
      const given = m ? Buffer.from(m[1]!) : undefined
      if (!given || given.length !== this.#token.length || !timingSafeEqual(given, this.#token)) {
        return { status: 401, error: 'this route needs Authorization: Bearer <token> (the token is in the data dir, api.token)' }
      }
    }
    return undefined
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
    await listen(server, this.#init.port, this.#init.host, { what: 'HTTP API', fix: 'use --http-port N (config ops.httpPort) or stop the other node' })
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
    const route = this.#routes.get(`${req.method} ${path}`)
    const no = this.#refusal(req, route?.access ?? 'open')
    if (no) {
      res.writeHead(no.status, { 'content-type': 'application/json', ...(no.status === 401 ? { 'www-authenticate': 'Bearer' } : {}) })
      res.end(JSON.stringify({ error: no.error }))
      return
    }
    if (!route) {
      const known = [...this.#routes.keys()].some((k) => k.endsWith(` ${path}`))
      res.writeHead(known ? 405 : 404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: known ? 'method not allowed' : 'not found' }))
      return
    }
    const handler = route.handler
    Promise.resolve().then(() => handler(req, res)).catch((err: unknown) => {
      this.#logger.warn({ path, err: (err as Error)?.message }, 'HTTP handler failed')
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: 'internal error' }))
    })
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '/').split('?')[0]!
    const up = this.#upgrades.get(path)
    if (!up) { socket.destroy(); return }
    const no = this.#refusal(req, up.access)
    if (no) {
      socket.end(`HTTP/1.1 ${no.status} ${no.status === 401 ? 'Unauthorized' : no.status === 403 ? 'Forbidden' : 'Misdirected Request'}\r\n` +
        `Connection: close\r\nContent-Type: application/json\r\n${no.status === 401 ? 'WWW-Authenticate: Bearer\r\n' : ''}\r\n${JSON.stringify({ error: no.error })}`)
      return
    }
    const handler = up.handler
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
