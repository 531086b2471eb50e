/**
 * The one interface a link reads backpressure, drain, close and errors from, whatever carries it: a TCP socket
 * (net.Socket), a UDX stream (udx-native, a streamx stream: no `writableLength`, no write callback), a relay circuit
 * or a relayed stream that may move to a direct path (node Duplexes of our own), or a UDX stream through a TURN
 * allocation. Every stream kind gets its adapter here; a stream of an unknown kind is refused up front instead of
 * being driven through properties it may not have (`undefined + n < hwm` is false: a writer that waits forever).
 */
import { Socket } from 'node:net'
import { Duplex } from 'node:stream'
import { ZeoneError } from '../util/errors.js'

export type StreamKind = 'tcp' | 'udx' | 'turn' | 'circuit' | 'switchable' | 'duplex'

/** What carries a link now, for operators: the kind of path and the far end of it (a relay's or TURN server's address). */
export interface StreamRoute { readonly via: 'tcp' | 'udx' | 'turn' | 'relay' | 'stream'; readonly remote?: { host: string; port: number } }

export interface StreamAdapter {
  readonly kind: StreamKind
  readonly stream: Duplex
  /** Bytes the stream accepted but has not handed on yet (its own send queue). */
  readonly queued: number
  /** The last write() answered false and no 'drain' came since: a 'drain' (or the close) will follow. */
  readonly mustDrain: boolean
  /**
   * A write's callback means the stream no longer holds the chunk (it may be reused). Only net.Socket promises
   * this; a UDX stream takes no write callback at all.
   */
  readonly releasesOnCallback: boolean
  /** Writes `chunk` (the callback, where the kind supports one, once the stream is done with it). */
  write(chunk: Uint8Array, cb?: (err?: Error | null) => void): boolean
  /** Resolves on the next 'drain' or when the stream closes; one shared wait however many callers poll. */
  whenDrained(): Promise<void>
  /** Called once when the stream closes; `err` is the error that ended it, if any. Returns an unsubscribe. */
  onClose(fn: (err?: Error) => void): () => void
  /** The path the stream runs over now (it may change: a relayed stream that moved to a direct one). */
  readonly route: StreamRoute
}

/** Streams of our own (relay circuits, switchable streams) name their adapter through this method. */
export const STREAM_ADAPTER: unique symbol = Symbol.for('zeone.streamAdapter')
export interface AdaptableStream { [STREAM_ADAPTER](): StreamAdapter }

/** How a kind counts what it still holds. */
type QueueCount = (s: Duplex) => number

const nodeQueued: QueueCount = (s) => s.writableLength
/** streamx keeps its send queue in `_writableState.buffered` (bytes, via byteLength of each chunk). */
const streamxQueued: QueueCount = (s) => {
  const b = (s as Duplex & { _writableState?: { buffered?: unknown } | null })._writableState?.buffered
  return typeof b === 'number' ? b : 0
}

type RouteOf = (s: Duplex) => StreamRoute

/**
 * How much a UDX stream may hold in its own (streamx) queue before a writer is told to wait for 'drain' (issue 24,
 * under measurement). udx-native takes a write into its native queue at once and calls back only when that queue fell
 * under its own watermark, and streamx emits 'drain' only once its queue is empty *and* native called back: waiting
 * for that after every write that returned false (a content server writes a 1 MiB chunk, then awaits writability
 * before it reads the next one from disk) may leave the native queue empty while the next chunk is read and
 * encrypted. With a budget, a UDX writer goes on below it, as a TCP writer does while the kernel keeps taking bytes.
 * The default stays 0 (wait after every write that returned false, as before): bench/nat.ts with
 * NAT_BENCH_COMPARE_DRAIN=1 compares UDX_QUEUE_BYTES against it in one run, and on the loaded dev VM (load ~55) the
 * difference was within the run-to-run noise (docs/nat.md), so it is not switched on.
 */
export const UDX_QUEUE_BYTES = 2 * 1024 * 1024
let udxDrainAt = 0
export function setUdxQueueBytes(bytes: number): void { udxDrainAt = Math.max(0, Math.floor(bytes)) }

const tcpRoute: RouteOf = (s) => {
  const k = s as Socket
  return { via: 'tcp', ...(k.remoteAddress ? { remote: { host: k.remoteAddress, port: k.remotePort ?? 0 } } : {}) }
}
const udxRoute: RouteOf = (s) => {
  const u = s as Duplex & { remoteHost?: string | null; remotePort?: number }
  return { via: 'udx', ...(u.remoteHost ? { remote: { host: u.remoteHost, port: u.remotePort ?? 0 } } : {}) }
}

class Adapter implements StreamAdapter {
  readonly kind: StreamKind
  readonly stream: Duplex
  readonly releasesOnCallback: boolean
  readonly #count: QueueCount
  readonly #route: RouteOf
  readonly #callbacks: boolean
  /** A write that returned false makes later writers wait only once this much is queued (0: at once). */
  readonly #drainAt: number
  #mustDrain = false
  #closed = false
  #error: Error | undefined
  #wait: Promise<void> | undefined
  #wake: (() => void) | undefined
  readonly #closeFns = new Set<(err?: Error) => void>()

  constructor(stream: Duplex, kind: StreamKind, count: QueueCount, opts: { releasesOnCallback: boolean; callbacks: boolean; route: RouteOf; drainAt?: number }) {
    this.stream = stream
    this.kind = kind
    this.#count = count
    this.#route = opts.route
    this.releasesOnCallback = opts.releasesOnCallback
    this.#callbacks = opts.callbacks
    this.#drainAt = opts.drainAt ?? 0
    stream.on('drain', this.#onDrain)
    stream.on('error', (err: Error) => { this.#error ??= err })
    stream.on('close', this.#onClose)
    if (stream.destroyed) queueMicrotask(this.#onClose)
  }

  get queued(): number { return this.#closed ? 0 : this.#count(this.stream) }
  get route(): StreamRoute { return this.#route(this.stream) }
  get mustDrain(): boolean { return this.#mustDrain && !this.#closed }

  write(chunk: Uint8Array, cb?: (err?: Error | null) => void): boolean {
    if (this.#closed) { if (cb) queueMicrotask(() => cb(this.#error ?? new Error('stream closed'))); return false }
    let ok: boolean
    if (cb && this.#callbacks) ok = this.stream.write(chunk, cb)
    else {
      ok = this.stream.write(chunk)
      // no callback on this kind: the chunk is the stream's from here on (releasesOnCallback is false)
      if (cb) queueMicrotask(() => cb())
    }
    if (!ok && this.#count(this.stream) >= this.#drainAt) this.#mustDrain = true
    return ok
  }

  whenDrained(): Promise<void> {
    if (this.#closed || !this.#mustDrain) return Promise.resolve()
    this.#wait ??= new Promise<void>((resolve) => { this.#wake = resolve })
    return this.#wait
  }

  onClose(fn: (err?: Error) => void): () => void {
    if (this.#closed) { queueMicrotask(() => fn(this.#error)); return () => {} }
    this.#closeFns.add(fn)
    return () => { this.#closeFns.delete(fn) }
  }

  #release(): void {
    const wake = this.#wake
    this.#wait = undefined
    this.#wake = undefined
    wake?.()
  }

  #onDrain = (): void => { this.#mustDrain = false; this.#release() }

  #onClose = (): void => {
    if (this.#closed) return
    this.#closed = true
    this.#mustDrain = false
    this.#release()
    const fns = [...this.#closeFns]
    this.#closeFns.clear()
    for (const fn of fns) fn(this.#error)
  }
}

const adapters = new WeakMap<object, StreamAdapter>()

/** The adapter of a net.Socket (kernel send queue in writableLength; callbacks once libuv wrote the bytes). */
export const tcpAdapter = (s: Socket): StreamAdapter => new Adapter(s, 'tcp', nodeQueued, { releasesOnCallback: true, callbacks: true, route: tcpRoute })

/**
 * The adapter of a udx-native stream (streamx). Through a TURN allocation (`turnServer` given) its kind is 'turn'
 * and its route names the TURN server, not the loopback proxy the stream talks to.
 */
export const udxAdapter = (s: Duplex, turnServer?: { host: string; port: number }): StreamAdapter =>
  new Adapter(s, turnServer ? 'turn' : 'udx', streamxQueued, {
    releasesOnCallback: false, callbacks: false, route: turnServer ? () => ({ via: 'turn', remote: turnServer }) : udxRoute,
    drainAt: udxDrainAt,
  })

/** The adapter of a node Duplex of our own (it counts writableLength and calls writes back). */
export const duplexAdapter = (s: Duplex, kind: StreamKind, route: RouteOf = () => ({ via: 'stream' })): StreamAdapter =>
  new Adapter(s, kind, nodeQueued, { releasesOnCallback: false, callbacks: true, route })

const isStreamx = (s: object): boolean => {
  const w = (s as { _writableState?: { buffered?: unknown } | null })._writableState
  return !(s instanceof Duplex) && typeof w?.buffered === 'number' && typeof (s as { write?: unknown }).write === 'function'
}

/** Marks a udx stream as running through the TURN server at `server` (its adapter reports kind 'turn'). */
export function tagTurn(s: Duplex, server: { host: string; port: number }): Duplex {
  if (!isStreamx(s)) throw new ZeoneError('stream_kind', 'only a udx stream runs through TURN')
  adapters.set(s, udxAdapter(s, server))
  return s
}

/** The one adapter of `s` (created on first use, the same object afterwards). Unknown kinds are refused. */
export function adaptStream(s: Duplex): StreamAdapter {
  const known = adapters.get(s)
  if (known) return known
  let a: StreamAdapter
  const own = (s as Partial<AdaptableStream>)[STREAM_ADAPTER]
  if (typeof own === 'function') a = own.call(s)
  else if (s instanceof Socket) a = tcpAdapter(s)
  else if (isStreamx(s)) a = udxAdapter(s)
  else if (s instanceof Duplex) a = duplexAdapter(s, 'duplex')
  else throw new ZeoneError('stream_kind', 'a link cannot run over this stream: no adapter for its kind')
  adapters.set(s, a)
  return a
}
