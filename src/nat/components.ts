/**
 * The I/O a NAT service is built from, injected (the js-libp2p `components` shape, issue 23 item 1): UDP sockets,
 * TCP listeners (the local port a TCP simultaneous open advertises), the clock and the random source. The service
 * and its parts never bind, listen, read the time or draw randomness themselves; `defaultNatComponents()` is wired at
 * the composition point (attach.ts), and a test hands in what it needs to drive.
 */
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { systemClock, type Clock } from '../interfaces/clock.js'
import { UdxDatagramSocket } from './socket.js'

/** A bound TCP listener: its port, and the way to give it back. */
export interface TcpListener { readonly port: number; close(): Promise<void> }

export interface NatComponents {
  /** A udx socket bound to (port, host); port 0 = any. Throws when the port is taken. */
  bindUdp(port: number, host: string): UdxDatagramSocket
  /** A TCP listener on `host`, any port. */
  tcpListen(host: string): Promise<TcpListener>
  clock: Clock
  /** `n` random bytes (session ids, stream ids). */
  random(n: number): Uint8Array
}

export async function nodeTcpListen(host: string): Promise<TcpListener> {
  const srv = createServer()
  await new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen(0, host, () => resolve()) })
  const port = (srv.address() as { port: number }).port
  return { port, close: () => new Promise<void>((resolve) => srv.close(() => resolve())) }
}

/** The real ones: udx-native sockets, node:net, the system clock, node:crypto. */
export function defaultNatComponents(over: Partial<NatComponents> = {}): NatComponents {
  return {
    bindUdp: (port, host) => UdxDatagramSocket.bind(port, host),
    tcpListen: nodeTcpListen,
    clock: systemClock,
    random: (n) => new Uint8Array(randomBytes(n)),
    ...over,
  }
}

/**
 * A free local TCP port (bound and released) to advertise as a `tcp` candidate: simultaneous open connect()s from
 * it, so it must not stay bound.
 */
export async function freeTcpPort(c: Pick<NatComponents, 'tcpListen'>, host = '0.0.0.0'): Promise<number> {
  const l = await c.tcpListen(host)
  await l.close()
  return l.port
}
