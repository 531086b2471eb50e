/**
 * A stream transport: what carries bytes between two endpoints, and nothing more. TCP, in-memory pipes, punched UDX
 * streams and relay circuits all hand the one connection manager plain Duplex streams; the manager runs the
 * handshake, dedupe, bans, rate limits and keep-alive over each of them the same way (see docs/architecture.md).
 */
import type { Duplex } from 'node:stream'
import type { Endpoint, Link, LinkProvider } from './link.js'

export interface StreamDialOptions {
  /** Aborts the connect; already combined with the manager's shutdown signal. */
  signal: AbortSignal
  /** Give up (TimeoutError) after this long. */
  timeoutMs: number
}

export interface StreamTransport {
  /** A short name for logs and route labels ('tcp', 'memory', ...). */
  readonly kind: string
  /**
   * Starts accepting: every inbound stream goes to `onStream` with the address it came from. Resolves with the
   * address it listens on (undefined for a transport that only dials). Idempotent.
   */
  listen(onStream: (stream: Duplex, remote: Endpoint) => void): Promise<Endpoint | undefined>
  /** Opens a stream to `addr`; the stream is connected (writable) when this resolves. */
  dial(addr: Endpoint, opts: StreamDialOptions): Promise<Duplex>
  /** Stops accepting; streams already handed out are the manager's to close. Idempotent. */
  close(): Promise<void>
}

export interface AdoptOptions {
  /** Whether this node opened the stream (it then speaks first in the handshake). */
  outbound: boolean
  remoteAddr: Endpoint
  /** Refuse the link unless the peer proves this node id. */
  expectNodeId?: Uint8Array
  signal?: AbortSignal
}

/** Hands the connection manager a stream opened elsewhere (a punched UDX path, a relay circuit, TURN). */
export type AdoptStream = (stream: Duplex, opts: AdoptOptions) => Promise<Link>

/** What the composition root hands the layers as `ctx.links`: the link provider, plus the transport facts they need. */
export interface NodeLinks extends LinkProvider {
  /** Where the node accepts peers; undefined before it listens or for a transport that only dials. */
  readonly listenAddress?: Endpoint | undefined
  /** Present when the transport runs its handshake over streams other layers open (the connection manager). */
  adoptStream?: AdoptStream
}
