/**
 * One secured stream: magic sniffing (legacy hand-off), the handshake with its timeout, then v1 or v2 frames.
 * Drives the sans-I/O handshake from src/wire/handshake.ts over any Duplex (TCP socket, punched UDP/UDX stream).
 * Emits decrypted application frames; every failure is reported with its refusal reason and closes the stream.
 */
import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { AeadKey, TAG_BYTES } from '../crypto/aead.js'
import type { Identity } from '../crypto/identity.js'
import type { Clock } from '../interfaces/clock.js'
import type { Endpoint } from '../interfaces/link.js'
import { ZeoneError } from '../util/errors.js'
import { encodeHandshakeFrame, FrameReader, MAGIC_0, MAGIC_1, type RawFrame, V1_HEADER_BYTES, V2_HEADER_BYTES, VERSION_HANDSHAKE } from '../wire/frame.js'
import { V1Opener, V1Sealer } from '../wire/frame-v1.js'
import { V2Opener, V2Sealer } from '../wire/frame-v2.js'
import { HandshakeInitiator, HandshakeResponder, type HandshakeConfig, type SessionParams } from '../wire/handshake.js'
import { HandshakeError } from '../wire/handshake-errors.js'
import { MessageType } from '../wire/message-types.js'
import type { FrameSink } from './rpc-link.js'
import { FrameWriter } from './frame-writer.js'
import { lendFrame, switchToSlabReads } from './slab-reader.js'
import type { TransportBuffers } from './slab-pool.js'
import { SessionType } from '../wire/batch.js'
import { adaptStream, type StreamAdapter } from './stream-adapter.js'

export interface ConnectionOptions {
  outbound: boolean
  remoteAddr: Endpoint
  expectNodeId?: Uint8Array
  /** Inbound TCP only: hand streams without the magic to this acceptor (legacy bridge). */
  legacyAcceptor?: (socket: Socket, firstBytes: Buffer) => void
}

export interface ConnectionDeps {
  identity: Identity
  clock: Clock
  handshake: Omit<HandshakeConfig, 'identity' | 'now'>
  handshakeTimeoutMs: number
  highWaterMark: number
  isReplay: (nonce: Uint8Array) => boolean
  /** Most bytes this connection may hold in an unfinished frame; more is refused ('frame_memory'). */
  maxBuffered?: number
  /** Told whenever the bytes held in the unfinished frame change (see FrameBudget). */
  onBuffered?: (conn: Connection, bytes: number) => void
  /** The node's send slabs and large-frame buffers (its manager's); without it the module-wide defaults. */
  buffers?: TransportBuffers
}

export interface ConnectionEvents {
  /** Session keys are in place; called synchronously before any application frame is emitted. */
  established(conn: Connection): void
  /** `release`: present when the frame has a pooled buffer of its own (lendFrame); handed on with the message. */
  frame(conn: Connection, type: number, plaintext: Buffer, release?: () => void): void
  /** A refusal (reason label) that ends the connection; `err` carries details. */
  refused(conn: Connection, reason: string, err?: unknown): void
  closed(conn: Connection, reason: string): void
}

export class Connection implements FrameSink {
  readonly stream: Duplex
  /** Backpressure, drain, close and errors of `stream`, whatever its kind (see stream-adapter). */
  readonly adapter: StreamAdapter
  readonly opts: ConnectionOptions
  readonly startedAt: number
  session: SessionParams | undefined
  lastReceived: number
  #deps: ConnectionDeps
  #ev: ConnectionEvents
  #reader: FrameReader
  #initiator: HandshakeInitiator | undefined
  #responder: HandshakeResponder | undefined
  #timer: { cancel(): void } | undefined
  #sniff: Buffer | null
  #writer: FrameWriter | undefined
  #open: ((f: RawFrame) => Buffer) | undefined
  #closed = false
  /** The reason given to retire(), once retired. */
  #retired: string | undefined
  #unClose: () => void = () => {}
  /** Bytes of the unfinished frame, as last reported to onBuffered. */
  #buffered = 0

  constructor(stream: Duplex, opts: ConnectionOptions, deps: ConnectionDeps, ev: ConnectionEvents) {
    this.stream = stream
    this.adapter = adaptStream(stream) // throws for a stream kind without an adapter
    this.opts = opts
    this.#deps = deps
    this.#ev = ev
    this.startedAt = deps.clock.now()
    this.lastReceived = this.startedAt
    this.#sniff = opts.outbound ? null : Buffer.alloc(0)
    this.#reader = new FrameReader({ versions: new Set([VERSION_HANDSHAKE]), maxBody: deps.handshake.maxFrame, onFrame: (f) => this.#onFrame(f) })
  }

  get closed(): boolean { return this.#closed }

  start(): void {
    const s = this.stream
    if (s instanceof Socket) s.setNoDelay(true)
    s.on('data', this.#onData)
    // close and errors come from the adapter: the error that ended the stream, if any, is the close reason
    this.#unClose = this.adapter.onClose((err) => { if (err) this.#onError(err); else this.#onClose() })
    this.#timer = this.#deps.clock.setTimeout(() => this.#refuse('handshake_timeout'), this.#deps.handshakeTimeoutMs)
    // outbound streams are ours from the first byte; inbound ones switch once the magic rules out the legacy bridge
    if (this.opts.outbound && s instanceof Socket) switchToSlabReads(s, this.#onSlabChunk, this.#pendingFrame, this.#deps.buffers?.frames)
    const cfg: HandshakeConfig = { ...this.#deps.handshake, identity: this.#deps.identity, now: () => this.#deps.clock.now() }
    if (this.opts.outbound) {
      this.#initiator = new HandshakeInitiator(cfg, { expectNodeId: this.opts.expectNodeId })
      s.write(encodeHandshakeFrame(MessageType.HELLO, this.#initiator.hello()))
    } else {
      this.#responder = new HandshakeResponder(cfg, { isReplay: this.#deps.isReplay, expectNodeId: this.opts.expectNodeId })
    }
  }

  /** Sends the concatenation of `parts` as one message (batched with other small ones, see FrameWriter). */
  sendFrameParts(type: number, parts: readonly Uint8Array[]): boolean {
    const w = this.#writer
    if (this.#closed || !w) return false
    w.send(type, parts)
    return this.#belowHighWater(w)
  }

  sendFrame(type: number, plaintext: Uint8Array): boolean {
    return this.sendFrameParts(type, [plaintext])
  }

  /**
   * Room for more: what the stream holds plus what the writer has not handed on yet stays under the high-water
   * mark. A stream that does not count its queue (WritePressure.queued 0) is full while it waits for a 'drain'.
   */
  #belowHighWater(w: FrameWriter): boolean {
    const p = w.pressure
    const q = p.queued
    if (q === 0 && p.mustDrain) return false
    return q + w.pending < this.#deps.highWaterMark
  }

  whenWritable(): Promise<void> {
    const w = this.#writer
    if (this.#closed || !w) return Promise.resolve()
    // hand what is pending to the stream now: a producer looping on resolved promises would starve the nextTick flush
    if (w.pending > 0) w.flush()
    const p = w.pressure
    // only a stream that asked for a 'drain' is waited for: it will emit one (or close)
    if (!p.mustDrain || (p.queued > 0 && p.queued < this.#deps.highWaterMark / 2)) return Promise.resolve()
    return p.whenDrained()
  }

  close(reason: string): void {
    if (this.#closed) return
    this.#writer?.flush()
    this.#finish(reason)
    const s = this.stream
    s.end()
    const t = this.#deps.clock.setTimeout(() => s.destroy(), 2000)
    this.adapter.onClose(() => t.cancel())
  }

  /**
   * Stops sending but keeps reading until the peer ends its side too (or `graceMs` passes): the way out for the
   * connection that lost a simultaneous-dial tie-break. Both ends retire the same connection, so every frame either
   * side sent on it before switching to the survivor is still delivered.
   */
  retire(reason: string, graceMs: number): void {
    if (this.#closed || this.#retired !== undefined) return
    this.#retired = reason
    this.#writer?.flush()
    this.stream.end()
    const t = this.#deps.clock.setTimeout(() => this.destroy(reason), graceMs)
    this.adapter.onClose(() => t.cancel())
  }

  /** Closes at once after a refusal: nothing more is read or written. */
  destroy(reason: string): void {
    if (this.#closed) return
    this.#finish(reason)
    this.stream.destroy()
  }

  #finish(reason: string): void {
    this.#closed = true
    this.#writer?.stop()
    this.#reader.stop()
    this.#timer?.cancel()
    this.stream.off('data', this.#onData)
    this.#ev.closed(this, reason)
  }

  #onData = (chunk: Buffer): void => {
    if (this.#closed) return
    this.lastReceived = this.#deps.clock.now()
    if (this.#sniff) {
      const got = this.#sniff.length === 0 ? chunk : Buffer.concat([this.#sniff, chunk])
      if (got.length < 2 && got[0] === MAGIC_0) { this.#sniff = got; return }
      this.#sniff = null
      if (got[0] !== MAGIC_0 || got[1] !== MAGIC_1) {
        const acceptor = this.opts.legacyAcceptor
        if (acceptor && this.stream instanceof Socket) {
          this.#closed = true
          this.#timer?.cancel()
          this.stream.off('data', this.#onData)
          this.#unClose()
          this.#ev.closed(this, 'legacy')
          acceptor(this.stream, got)
          return
        }
        this.#refuse('bad_magic')
        return
      }
      chunk = got
      if (this.stream instanceof Socket) switchToSlabReads(this.stream, this.#onSlabChunk, this.#pendingFrame, this.#deps.buffers?.frames)
    }
    this.#push(chunk, false)
  }

  readonly #pendingFrame = { get: () => this.#reader.pending(), moved: (tail: Buffer) => this.#reader.movedTail(tail) }

  /** Bytes read into a SlabReader slab (after switchToSlabReads): stable memory, see FrameReader. */
  #onSlabChunk = (chunk: Buffer): void => {
    if (this.#closed) return
    this.lastReceived = this.#deps.clock.now()
    this.#push(chunk, true)
  }

  #push(chunk: Buffer, stable: boolean): void {
    try {
      this.#reader.push(chunk, stable)
    } catch (err) {
      this.#refuse(err instanceof ZeoneError ? err.code : 'bad_frame', err)
      return
    }
    const n = this.#reader.buffered
    if (this.#closed || n === this.#buffered) return
    this.#buffered = n
    if (n > (this.#deps.maxBuffered ?? Infinity)) return this.#refuse('frame_memory')
    this.#deps.onBuffered?.(this, n)
  }

  /** Bytes held now in the unfinished frame. */
  get bufferedBytes(): number { return this.#closed ? 0 : this.#buffered }

  #onError = (err: Error): void => { this.destroy(`socket error: ${err.message}`) }
  #onClose = (): void => { if (!this.#closed) this.#finish(this.#retired ?? (this.session ? 'remote closed' : 'closed_during_handshake')) }

  #refuse(reason: string, err?: unknown): void {
    if (this.#closed) return
    this.#ev.refused(this, reason, err)
    this.destroy(reason)
  }

  #onFrame(f: RawFrame): void {
    if (this.#open) {
      const pt = this.#open(f) // throws FrameError: caught in #onData
      this.#ev.frame(this, f.type, pt, f.type === SessionType.BATCH ? undefined : lendFrame(f.frame))
      return
    }
    const body = f.frame.subarray(f.headerLength)
    if (this.#initiator && f.type === MessageType.HELLO_ACK) {
      const { verify, session } = this.#initiator.onHelloAck(body)
      this.stream.write(encodeHandshakeFrame(MessageType.VERIFY, verify))
      this.#establish(session)
    } else if (this.#responder && f.type === MessageType.HELLO && !this.#responder.claimedNodeId) {
      this.stream.write(encodeHandshakeFrame(MessageType.HELLO_ACK, this.#responder.onHello(body)))
    } else if (this.#responder && f.type === MessageType.VERIFY) {
      this.#establish(this.#responder.onVerify(body))
    } else {
      throw new HandshakeError('bad_handshake', `unexpected frame type ${f.type} during the handshake`)
    }
  }

  #establish(p: SessionParams): void {
    this.#timer?.cancel()
    this.#timer = undefined
    this.session = p
    if (p.version === 2) {
      const sealer = new V2Sealer(new AeadKey(p.suite, p.sendKey))
      const opener = new V2Opener(new AeadKey(p.suite, p.recvKey))
      this.#writer = new FrameWriter(this.stream, {
        headerLength: V2_HEADER_BYTES,
        frameLength: V2Sealer.frameLength,
        sealInto: (t, pt, out, off) => sealer.sealInto(t, pt, out, off),
        sealInPlace: (t, n, out, off) => sealer.sealInPlace(t, n, out, off),
      }, undefined, this.#deps.buffers?.send)
      this.#open = (f) => opener.open(f, true)
    } else {
      const sealer = new V1Sealer({ key: p.sendKey, identity: this.#deps.identity })
      const opener = new V1Opener(p.recvKey, p.remoteNodeId)
      this.#writer = new FrameWriter(this.stream, {
        headerLength: V1_HEADER_BYTES + TAG_BYTES, // where sealInPlace expects the plaintext
        frameLength: V1Sealer.frameLength,
        sealInto: (t, pt, out, off) => sealer.sealInto(t, pt, out, off),
        sealInPlace: (t, n, out, off) => sealer.sealInPlace(t, n, out, off),
      }, undefined, this.#deps.buffers?.send)
      this.#open = (f) => opener.open(f, true)
    }
    this.#reader.versions = new Set([p.version])
    this.#reader.maxBody = p.maxFrame
    this.#ev.established(this)
  }
}
