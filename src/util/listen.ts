import type { Server } from 'node:net'
import { ZeoneError } from './errors.js'

/** What a listener is for, so a bind failure can name it and the setting that moves it. */
export interface ListenerLabel {
  /** e.g. 'HTTP API', 'P2P listener' */
  what: string
  /** e.g. 'use --http-port N or set ops.httpPort' */
  fix: string
}

const REASONS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use (another zeone node or program holds it)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not on this machine',
}

/**
 * Starts `server` listening and resolves once it is bound. A bind error is rejected as is, or, when `label` is given
 * and the error is one an operator causes (port taken, privileged port, foreign address), as a ZeoneError that names
 * the listener, the address and the flag that changes it (a bare `EADDRINUSE 127.0.0.1:9468` told a new operator
 * nothing).
 */
export function listen(server: Server, port: number, host: string, label?: ListenerLabel): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const reason = err.code !== undefined ? REASONS[err.code] : undefined
      if (label === undefined || reason === undefined) { reject(err); return }
      const addr = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
      reject(new ZeoneError(err.code === 'EADDRINUSE' ? 'port_in_use' : 'listen_failed',
        `${label.what} could not listen on ${addr}: ${reason}; ${label.fix}`, { cause: err }))
    }
    server.once('error', onError)
    server.listen(port, host, () => { server.off('error', onError); resolve() })
  })
}
