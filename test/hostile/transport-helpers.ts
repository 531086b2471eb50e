/**
 * Attack tools for the transport's hostile tests: a manual clock, and attacker sessions that complete a real
 * handshake over a real TCP socket with a fresh identity each, from a chosen loopback address (127.0.0.0/8 is all
 * ours on Linux, so 127.0.N.M stands for distinct IPs and /24s).
 */
import { connect, type Socket } from 'node:net'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import type { Clock } from '../../src/interfaces/clock.js'
import { ManualClock as EconomyManualClock } from '../economy/helpers.js'
import { systemClock } from '../../src/interfaces/clock.js'
import { Connection } from '../../src/transport/connection.js'

/** Timers fire only through advance(); starts at the real time so handshake timestamps stay in the skew window. */
export class ManualClock extends EconomyManualClock {
  constructor() { super(Date.now()) }
}

export interface AttackSession {
  sock: Socket
  conn: Connection
  identity: Identity
  /** Resolves with the close reason once the target (or we) closed the session. */
  closed: Promise<string>
}

/** Opens a TCP connection from `localAddress` and completes the handshake with a fresh identity. */
export function attackSession(port: number, localAddress: string, opts: { clock?: Clock } = {}): Promise<AttackSession> {
  return new Promise((resolve, reject) => {
    const identity = Identity.fromSeed(randomBytes(32))
    const sock = connect({ host: '127.0.0.1', port, localAddress, noDelay: true })
    sock.on('error', () => {})
    let closedCb!: (r: string) => void
    const closed = new Promise<string>((r) => { closedCb = r })
    const conn = new Connection(sock, { outbound: true, remoteAddr: { host: '127.0.0.1', port } }, {
      identity, clock: opts.clock ?? systemClock, handshakeTimeoutMs: 10_000, highWaterMark: 4 << 20, isReplay: () => false,
      handshake: { versions: [2], preferredVersion: 2, capabilities: [], suites: ['chacha20-poly1305'], listenPort: 0, maxFrame: 16 << 20, maxSkewMs: 30_000 },
    }, {
      established: () => resolve({ sock, conn, identity, closed }),
      frame: () => {},
      refused: (_c, reason) => reject(new Error(`attack handshake refused: ${reason}`)),
      closed: (_c, reason) => { closedCb(reason); reject(new Error(`attack session closed: ${reason}`)) },
    })
    sock.once('connect', () => conn.start())
    sock.once('close', () => reject(new Error('closed before the handshake')))
  })
}

/** Opens sessions one at a time; returns those that completed (the rest were refused). */
export async function attackSessions(port: number, localAddress: (i: number) => string, n: number): Promise<AttackSession[]> {
  const out: AttackSession[] = []
  for (let i = 0; i < n; i++) {
    try { out.push(await attackSession(port, localAddress(i))) } catch { /* refused */ }
  }
  return out
}

export const openSessions = (s: AttackSession[]): AttackSession[] => s.filter((a) => !a.conn.closed && !a.sock.destroyed)
