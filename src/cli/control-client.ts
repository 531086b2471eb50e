/** Calls the running node's owner-only control API (`<dataDir>/control.sock`). */
import { join } from 'node:path'
import { ZeoneError } from '../util/errors.js'

/**
 * ops/control-server.ts's socket path, spelled here so a client command does not load the server module and its
 * imports (test/cli/control-client.test.ts checks the two agree).
 */
export const clientSocketPath = (dataDir: string): string => join(dataDir, 'control.sock')

/** Largest control response we buffer. */
const MAX_RESPONSE = 16 << 20

export class ControlClientError extends ZeoneError {
  override readonly name = 'ControlClientError'
}

export interface ControlCallOptions {
  body?: unknown
  /** @default 15000 */
  timeoutMs?: number
}

export async function controlCall(dataDir: string, method: 'GET' | 'POST' | 'DELETE', path: string, opts: ControlCallOptions = {}): Promise<unknown> {
  // loaded per call: only the commands that talk to a node pay for node:http
  const { request } = await import('node:http')
  const socketPath = clientSocketPath(dataDir)
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body))
  return new Promise((resolve, reject) => {
    const req = request({
      // agent: false: no keep-alive socket reuse across calls (a restarted node would answer a stale socket with EPIPE)
      socketPath, method, path, agent: false,
      headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
      timeout: opts.timeoutMs ?? 15_000,
    }, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_RESPONSE) { req.destroy(new ControlClientError('too_large', 'control response too large')); return }
        chunks.push(c)
      })
      res.on('end', () => {
        let parsed: { ok?: boolean; result?: unknown; error?: { code?: string; message?: string } }
        try { parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch {
          reject(new ControlClientError('bad_response', 'the node sent a malformed control response')); return
        }
        if (parsed.ok) resolve(parsed.result)
        else reject(new ControlClientError(parsed.error?.code ?? 'error', parsed.error?.message ?? 'control request failed'))
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new ControlClientError('timeout', 'the node did not answer in time')))
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof ControlClientError) { reject(err); return }
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new ControlClientError('not_running', `no running node found (${socketPath}); start one with 'zeone start'`, { cause: err }))
      } else if (err.code === 'EACCES') {
        reject(new ControlClientError('forbidden', `permission denied on ${socketPath}: only the node's owner may use it`, { cause: err }))
      } else reject(new ControlClientError('control_io', err.message, { cause: err }))
    })
    req.end(payload)
  })
}
