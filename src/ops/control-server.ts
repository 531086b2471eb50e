/**
 * The owner-only control API: JSON over HTTP on the Unix socket `<dataDir>/control.sock`. The data dir is 0700 and
 * the socket 0600, so only the node's owner (and root) can connect. Answers `{ok: true, result}` or
 * `{ok: false, error: {code, message}}`.
 */
import { chmodSync, statSync, unlinkSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect } from 'node:net'
import { join } from 'node:path'
import type { ControlApi, ControlHandler } from '../interfaces/node-context.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import { fsInputError } from '../util/fs-errors.js'
import { ZeoneError } from '../util/errors.js'

export const CONTROL_SOCKET = 'control.sock'
/** Largest control request body. */
export const MAX_CONTROL_BODY = 1 << 20
/** Unix socket paths are limited to 108 bytes on Linux (including the NUL). */
const MAX_SOCKET_PATH = 107

export class ControlError extends ZeoneError {
  override readonly name = 'ControlError'
}

export function controlSocketPath(dataDir: string): string { return join(dataDir, CONTROL_SOCKET) }

/** True if something accepts connections on the socket (another node owns this data dir). */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

export class ControlServer implements ControlApi {
  #routes = new Map<string, ControlHandler>()
  #server: Server | undefined
  readonly path: string
  #logger: Logger

  constructor(dataDir: string, logger: Logger = silentLogger) {
    this.path = controlSocketPath(dataDir)
    this.#logger = logger
  }

  route(method: 'GET' | 'POST' | 'DELETE', path: string, handler: ControlHandler): void {
    const k = `${method} ${path}`
    if (this.#routes.has(k)) throw new Error(`control route ${k} is already registered`)
    this.#routes.set(k, handler)
  }

  routes(): string[] { return [...this.#routes.keys()].sort() }

  async start(): Promise<void> {
    if (this.#server) return
    if (Buffer.byteLength(this.path) > MAX_SOCKET_PATH) {
      throw new ControlError('control_path', `control socket path too long for a Unix socket (${this.path}); use a shorter data dir`)
    }
    let exists = false
    try { exists = statSync(this.path).isSocket() } catch { /* absent */ }
    if (exists) {
      if (await socketAlive(this.path)) throw new ControlError('node_running', `another node is already running with this data dir (${this.path} answers)`)
      unlinkSync(this.path)
    }
    const server = createServer({ requestTimeout: 60_000 }, (req, res) => this.#onRequest(req, res))
    this.#server = server
    const oldMask = process.umask(0o177)
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(this.path, () => { server.off('error', reject); resolve() })
      })
    } finally {
      process.umask(oldMask)
    }
    chmodSync(this.path, 0o600)
  }

  async stop(): Promise<void> {
    const server = this.#server
    if (!server) return
    this.#server = undefined
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    try { unlinkSync(this.path) } catch { /* already gone */ }
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://control')
    const method = req.method ?? 'GET'
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))
    }
    const handler = this.#routes.get(`${method} ${url.pathname}`)
    if (!handler) { send(404, { ok: false, error: { code: 'not_found', message: `no control route ${method} ${url.pathname}` } }); return }
    const declared = Number(req.headers['content-length'] ?? 0)
    if (declared > MAX_CONTROL_BODY) { send(413, { ok: false, error: { code: 'too_large', message: 'request body too large' } }); req.destroy(); return }
    const chunks: Buffer[] = []
    let size = 0
    let tooLarge = false
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_CONTROL_BODY) { tooLarge = true; req.destroy(); return }
      chunks.push(c)
    })
    req.on('error', () => { /* client went away */ })
    req.on('end', () => {
      if (tooLarge) return
      let body: unknown = undefined
      const text = Buffer.concat(chunks).toString('utf8')
      if (text.length > 0) {
        try { body = JSON.parse(text) } catch { send(400, { ok: false, error: { code: 'bad_json', message: 'request body is not JSON' } }); return }
      }
      Promise.resolve()
        .then(() => handler({ method, path: url.pathname, query: url.searchParams, body }))
        .then((result) => send(200, { ok: true, result: result ?? null }))
        .catch((err: unknown) => {
          // a file-system error about a path the caller named is a user mistake, not an internal one
          err = err instanceof ZeoneError ? err : fsInputError(err) ?? err
          const code = err instanceof ZeoneError ? err.code : 'internal'
          this.#logger.debug({ path: url.pathname, code, err: (err as Error)?.message }, 'control request failed')
          send(code === 'internal' ? 500 : 400, { ok: false, error: { code, message: (err as Error)?.message ?? String(err) } })
        })
    })
  }
}
