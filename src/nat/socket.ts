/**
 * The one datagram-socket shape the NAT code drives (STUN client, punching, TURN client), with adapters for
 * node:dgram and udx-native. Punching on the udx socket itself keeps the NAT mapping that the stream then uses.
 */
import { createSocket, type Socket as NodeDgram } from 'node:dgram'
import { createRequire } from 'node:module'
import type { Duplex } from 'node:stream'
import { contain, unownedErrorSink, type NatErrorSink } from './guard.js'

export interface Rinfo { host: string; port: number }

export interface DatagramSocket {
  send(buf: Uint8Array, port: number, host: string): void
  /** Every datagram that is not consumed by a udx stream; returns an unsubscribe function. */
  onMessage(cb: (buf: Uint8Array, from: Rinfo) => void): () => void
  address(): Rinfo
  close(): Promise<void>
}

// ---- udx-native (untyped CommonJS): the narrow surface we use ----
export interface UdxSocketLike {
  bind(port?: number, host?: string): void
  address(): { host: string; port: number } | null
  trySend(buf: Uint8Array, port: number, host: string): void
  on(ev: 'message', cb: (buf: Buffer, rinfo: { host: string; port: number }) => void): unknown
  on(ev: 'error', cb: (err: Error) => void): unknown
  off(ev: 'message', cb: (buf: Buffer, rinfo: { host: string; port: number }) => void): unknown
  close(): Promise<void>
  readonly closing: boolean
  setRecvBufferSize?(size: number): unknown
  setSendBufferSize?(size: number): unknown
}
export interface UdxStreamLike extends Duplex {
  readonly id: number
  connect(socket: UdxSocketLike, remoteId: number, port: number, host: string): void
  changeRemote(socket: UdxSocketLike, remoteId: number, port: number, host: string): Promise<void>
  setInteractive(b: boolean): void
}
export interface UdxLike {
  createSocket(opts?: Record<string, unknown>): UdxSocketLike
  createStream(id: number, opts?: Record<string, unknown>): UdxStreamLike
}

let udxSingleton: UdxLike | undefined
/** The process-wide udx instance (one event-loop binding is enough). */
export function getUdx(): UdxLike {
  if (!udxSingleton) {
    const Ctor = createRequire(import.meta.url)('udx-native') as new () => UdxLike
    udxSingleton = new Ctor()
  }
  return udxSingleton
}

/** Kernel socket buffers asked for on every udx socket (what the kernel grants is capped by its sysctls). */
export const UDP_BUFFER_BYTES = 4 * 1024 * 1024

export class UdxDatagramSocket implements DatagramSocket {
  readonly raw: UdxSocketLike
  /** Where a throw inside a datagram callback goes (the owning service's log and error counter). */
  errorSink: NatErrorSink = unownedErrorSink
  #closed: Promise<void> | undefined
  constructor(raw: UdxSocketLike) {
    this.raw = raw
    // an 'error' event without a listener would be thrown by the emitter and end the process
    raw.on('error', (err) => this.errorSink('socket.error', err))
  }

  /**
   * `bufferBytes` sizes the kernel's receive and send buffers (capped by net.core.rmem_max / wmem_max). UDX streams
   * have no kernel flow control: whatever arrives while the event loop is busy (decrypting, hashing a chunk) waits
   * in the receive buffer, and the default ~208 KiB overflowed under a 16 MiB fetch on a loaded machine (810
   * RcvbufErrors, a third more loss than the 2% the lab link had), which the congestion control read as congestion.
   */
  static bind(port = 0, host = '0.0.0.0', bufferBytes = UDP_BUFFER_BYTES): UdxDatagramSocket {
    const s = getUdx().createSocket()
    // a port in use throws here: the half-initialised socket is closed, not leaked
    try { s.bind(port, host) } catch (err) { void s.close().catch(() => {}); throw err }
    if (bufferBytes > 0) {
      try { s.setRecvBufferSize?.(bufferBytes); s.setSendBufferSize?.(bufferBytes) } catch { /* kept at the system default */ }
    }
    return new UdxDatagramSocket(s)
  }

  send(buf: Uint8Array, port: number, host: string): void {
    if (this.#closed || this.raw.closing) return
    this.raw.trySend(buf, port, host)
  }

  onMessage(cb: (buf: Uint8Array, from: Rinfo) => void): () => void {
    const fn = (b: Buffer, r: { host: string; port: number }): void => contain('socket.message', this.errorSink, () => cb(b, { host: r.host, port: r.port }))
    this.raw.on('message', fn)
    return () => { this.raw.off('message', fn) }
  }

  address(): Rinfo {
    const a = this.raw.address()
    return { host: a?.host ?? '0.0.0.0', port: a?.port ?? 0 }
  }

  close(): Promise<void> {
    this.#closed ??= this.raw.close()
    return this.#closed
  }
}

export class NodeDatagramSocket implements DatagramSocket {
  readonly raw: NodeDgram
  /** Where a throw inside a datagram callback goes. */
  errorSink: NatErrorSink = unownedErrorSink
  #closed: Promise<void> | undefined
  #addr: Rinfo
  private constructor(raw: NodeDgram, addr: Rinfo) { this.raw = raw; this.#addr = addr }

  static async bind(port = 0, host = '0.0.0.0'): Promise<NodeDatagramSocket> {
    const s = createSocket({ type: 'udp4' })
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject)
      s.bind(port, host, () => { s.off('error', reject); resolve() })
    })
    s.on('error', () => { /* ICMP errors surface as send failures; datagrams are best effort */ })
    const a = s.address()
    return new NodeDatagramSocket(s, { host: a.address, port: a.port })
  }

  send(buf: Uint8Array, port: number, host: string): void {
    if (this.#closed) return
    // node:dgram resolves a hostname instead of throwing; the NAT code sends only to validated IP literals
    this.raw.send(buf, port, host, () => {})
  }

  onMessage(cb: (buf: Uint8Array, from: Rinfo) => void): () => void {
    const fn = (b: Buffer, r: { address: string; port: number }): void => contain('socket.message', this.errorSink, () => cb(b, { host: r.address, port: r.port }))
    this.raw.on('message', fn)
    return () => { this.raw.off('message', fn) }
  }

  address(): Rinfo { return this.#addr }

  close(): Promise<void> {
    this.#closed ??= new Promise((resolve) => { try { this.raw.close(() => resolve()) } catch { resolve() } })
    return this.#closed
  }
}
