/**
 * TCP simultaneous open for networks that block UDP: both peers connect() from a fixed local port to the other's
 * predicted public address (port-preserving NATs keep the local port) at about the same time; the crossing SYNs
 * create both NAT mappings and the kernel completes one connection. Retries until `timeoutMs`.
 */
import { connect, type Socket } from 'node:net'
import { systemClock, type Clock } from '../../interfaces/clock.js'
import { AbortedError } from '../../util/errors.js'
import { NatError } from '../errors.js'
import type { Rinfo } from '../socket.js'

export interface TcpOpenOptions {
  localPort: number
  remote: Rinfo
  /** @default 8000 */
  timeoutMs?: number
  /** Pause between attempts after a refused/failed connect. @default 200 */
  retryMs?: number
  signal?: AbortSignal
  /** Deadline and retry pauses. @default systemClock */
  clock?: Clock
}

export async function tcpSimultaneousOpen(opts: TcpOpenOptions): Promise<Socket> {
  const clock = opts.clock ?? systemClock
  const deadline = clock.now() + (opts.timeoutMs ?? 8000)
  let last: unknown
  while (clock.now() < deadline) {
    if (opts.signal?.aborted) throw new AbortedError('tcp open aborted')
    try {
      return await attempt(opts, deadline - clock.now())
    } catch (err) {
      last = err
      await new Promise<void>((r) => clock.setTimeout(r, opts.retryMs ?? 200))
    }
  }
  throw new NatError('nat_tcp_failed', 'TCP simultaneous open failed', { cause: last })
}

function attempt(opts: TcpOpenOptions, ms: number): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: opts.remote.host, port: opts.remote.port, localPort: opts.localPort, localAddress: '0.0.0.0' })
    const t = setTimeout(() => { s.destroy(); reject(new NatError('nat_tcp_timeout', 'connect timed out')) }, Math.max(1, ms))
    t.unref()
    s.once('connect', () => { clearTimeout(t); opts.signal?.removeEventListener('abort', onAbort); s.off('error', onErr); resolve(s) })
    const onErr = (err: Error): void => { clearTimeout(t); opts.signal?.removeEventListener('abort', onAbort); s.destroy(); reject(err) }
    // a race lost to another path: stop this connect at once rather than at its timeout
    const onAbort = (): void => onErr(new AbortedError('tcp open aborted'))
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    s.once('error', onErr)
  })
}
