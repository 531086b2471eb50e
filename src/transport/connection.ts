/**
 * One secured stream: magic sniffing (legacy hand-off), the handshake with its timeout, then v1 or v2 frames.
 * Drives the sans-I/O handshake from src/wire/handshake.ts over any Duplex (TCP socket, punched UDP/UDX stream).
 * Emits decrypted application frames; every failure is reported with its refusal reason and closes the stream.
 */
import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { AeadKey } from '../crypto/aead.js'
import type { Identity } from '../crypto/identity.js'
import type { Clock } from '../interfaces/clock.js'
import type { Endpoint } from '../interfaces/link.js'
import { ZeoneError } from '../util/errors.js'
import { encodeHandshakeFrame, FrameReader, MAGIC_0, MAGIC_1, type RawFrame, V2_HEADER_BYTES, VERSION_HANDSHAKE } from '../wire/frame.js'
import { V1Opener, V1Sealer } from '../wire/frame-v1.js'
import { V2Opener, V2Sealer } from '../wire/frame-v2.js'
import { HandshakeInitiator, HandshakeResponder, type HandshakeConfig, type SessionParams } from '../wire/handshake.js'
import { HandshakeError } from '../wire/handshake-errors.js'
import { MessageType } from '../wire/message-types.js'
import type { FrameSink } from './rpc-link.js'
import { BATCH_ITEM_HEADER, SessionType } from '../wire/batch.js'

const SLAB_BYTES = 256 * 1024
/** Messages up to this size (envelope included) may share a BATCH frame; larger ones get a frame of their own. */
const BATCH_ITEM_MAX = 8 * 1024
const BATCH_MAX = 64 * 1024
const EMPTY = new Uint8Array(0)

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
}

export interface ConnectionEvents {
  /** Session keys are in place; called synchronously before any application frame is emitted. */
  established(conn: Connection): void
  frame(conn: Connection, type: number, plaintext: Buffer): void
  /** A refusal (reason label) that ends the connection; `err` carries details. */
  refused(conn: Connection, reason: string, err?: unknown): void
  closed(conn: Connection, reason: string): void
}

export class Connection implements FrameSink {
  readonly stream: Duplex
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
  #sealInto: ((type: number, pt: Uint8Array, out: Buffer, off: number) => number) | undefined
  #frameLength: (plaintextLength: number) => number = () => 0
  #open: ((f: RawFrame) => Buffer) | undefined
  #v2: V2Sealer | undefined
  /** Small frames are sealed back to back into a slab and written once per tick (one syscall for many frames). */
  #slab: Buffer | null = null
  #slabStart = 0
  #slabPos = 0
  #flushScheduled = false
  readonly #batch = Buffer.allocUnsafe(BATCH_MAX)
  #batchLen = 0
  #batchCount = 0
  #closed = false

  constructor(stream: Duplex, opts: ConnectionOptions, deps: ConnectionDeps, ev: ConnectionEvents) {
    this.stream = stream
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
    s.on('error', this.#onError)
    s.on('close', this.#onClose)
    this.#timer = this.#deps.clock.setTimeout(() => this.#refuse('handshake_timeout'), this.#deps.handshakeTimeoutMs)
    const cfg: HandshakeConfig = { ...this.#deps.handshake, identity: this.#deps.identity, now: () => this.#deps.clock.now() }
    if (this.opts.outbound) {
      this.#initiator = new HandshakeInitiator(cfg, { expectNodeId: this.opts.expectNodeId })
      s.write(encodeHandshakeFrame(MessageType.HELLO, this.#initiator.hello()))
    } else {
      this.#responder = new HandshakeResponder(cfg, { isReplay: this.#deps.isReplay, expectNodeId: this.opts.expectNodeId })
    }
  }

  /**
   * Sends one message. Small messages queued within one tick are packed into a single BATCH frame (docs/protocol.md
   * §4.8): one AEAD (v2) or one signature (v1) for many messages. Order is kept: a large message flushes the batch
   * before it is sealed on its own.
   */
  sendFrameParts(type: number, head: Uint8Array, body: Uint8Array): boolean {
    if (this.#closed || !this.#sealInto) return false
    const n = head.byteLength + body.byteLength
    if (n > BATCH_ITEM_MAX) {
      this.#flushBatch()
      this.#sealPartsNow(type, head, body)
    } else {
      if (this.#batchLen + BATCH_ITEM_HEADER + n > BATCH_MAX) this.#flushBatch()
      const b = this.#batch
      let o = this.#batchLen
      b[o] = type
      b.writeUInt32BE(n, o + 1)
      o += BATCH_ITEM_HEADER
      b.set(head, o)
      b.set(body, o + head.byteLength)
      this.#batchLen = o + n
      this.#batchCount++
      this.#scheduleFlush()
    }
    return this.stream.writableLength + (this.#slabPos - this.#slabStart) + this.#batchLen < this.#deps.highWaterMark
  }

  sendFrame(type: number, plaintext: Uint8Array): boolean {
    return this.sendFrameParts(type, EMPTY, plaintext)
  }

  #flushBatch(): void {
    if (this.#batchCount === 0) return
    const b = this.#batch
    if (this.#batchCount === 1) this.#sealNow(b[0]!, b.subarray(BATCH_ITEM_HEADER, this.#batchLen))
    else this.#sealNow(SessionType.BATCH, b.subarray(0, this.#batchLen))
    this.#batchLen = 0
    this.#batchCount = 0
  }

  /** v2: copies head and body straight into the output and encrypts in place; v1: builds the plaintext first. */
  #sealPartsNow(type: number, head: Uint8Array, body: Uint8Array): void {
    const sealer = this.#v2
    if (!sealer) {
      const pt = Buffer.allocUnsafe(head.byteLength + body.byteLength)
      pt.set(head, 0)
      pt.set(body, head.byteLength)
      this.#sealNow(type, pt)
      return
    }
    const ptLen = head.byteLength + body.byteLength
    const len = V2Sealer.frameLength(ptLen)
    const big = len > SLAB_BYTES / 4
    if (big) this.#flush()
    const out = big ? Buffer.allocUnsafe(len) : this.#slabFor(len)
    const off = big ? 0 : this.#slabPos
    out.set(head, off + V2_HEADER_BYTES)
    out.set(body, off + V2_HEADER_BYTES + head.byteLength)
    sealer.sealInPlace(type, ptLen, out, off)
    if (big) this.stream.write(out)
    else this.#slabPos += len
  }

  #sealNow(type: number, plaintext: Uint8Array): void {
    const seal = this.#sealInto!
    const len = this.#frameLength(plaintext.byteLength)
    if (len > SLAB_BYTES / 4) {
      this.#flush()
      const out = Buffer.allocUnsafe(len)
      seal(type, plaintext, out, 0)
      this.stream.write(out)
    } else {
      const slab = this.#slabFor(len)
      this.#slabPos += seal(type, plaintext, slab, this.#slabPos)
    }
  }

  #slabFor(len: number): Buffer {
    if (!this.#slab || this.#slabPos + len > this.#slab.length) {
      this.#flush()
      this.#slab = Buffer.allocUnsafe(SLAB_BYTES)
      this.#slabStart = this.#slabPos = 0
    }
    this.#scheduleFlush()
    return this.#slab
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    process.nextTick(this.#flushTick)
  }

  #flush(): void {
    if (this.#slab && this.#slabPos > this.#slabStart) {
      this.stream.write(this.#slab.subarray(this.#slabStart, this.#slabPos))
      this.#slabStart = this.#slabPos
    }
  }

  #flushTick = (): void => {
    this.#flushScheduled = false
    if (this.#closed) return
    this.#flushBatch()
    this.#flush()
  }

  whenWritable(): Promise<void> {
    const s = this.stream
    if (this.#closed || s.writableLength < this.#deps.highWaterMark / 2) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => { s.off('drain', done); s.off('close', done); resolve() }
      s.on('drain', done)
      s.on('close', done)
    })
  }

  close(reason: string): void {
    if (this.#closed) return
    if (this.#sealInto) this.#flushBatch()
    this.#flush()
    this.#finish(reason)
    const s = this.stream
    s.end()
    const t = this.#deps.clock.setTimeout(() => s.destroy(), 2000)
    s.once('close', () => t.cancel())
  }

  /** Closes at once after a refusal: nothing more is read or written. */
  destroy(reason: string): void {
    if (this.#closed) return
    this.#finish(reason)
    this.stream.destroy()
  }

  #finish(reason: string): void {
    this.#closed = true
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
          this.stream.off('error', this.#onError)
          this.stream.off('close', this.#onClose)
          this.#ev.closed(this, 'legacy')
          acceptor(this.stream, got)
          return
        }
        this.#refuse('bad_magic')
        return
      }
      chunk = got
    }
    try {
      this.#reader.push(chunk)
    } catch (err) {
      this.#refuse(err instanceof ZeoneError ? err.code : 'bad_frame', err)
    }
  }

  #onError = (err: Error): void => { this.destroy(`socket error: ${err.message}`) }
  #onClose = (): void => { if (!this.#closed) this.#finish(this.session ? 'remote closed' : 'closed_during_handshake') }

  #refuse(reason: string, err?: unknown): void {
    if (this.#closed) return
    this.#ev.refused(this, reason, err)
    this.destroy(reason)
  }

  #onFrame(f: RawFrame): void {
    if (this.#open) {
      const pt = this.#open(f) // throws FrameError: caught in #onData
      this.#ev.frame(this, f.type, pt)
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
      this.#v2 = sealer
      this.#sealInto = (t, pt, out, off) => sealer.sealInto(t, pt, out, off)
      this.#frameLength = V2Sealer.frameLength
      this.#open = (f) => opener.open(f, true)
    } else {
      const sealer = new V1Sealer({ key: p.sendKey, identity: this.#deps.identity })
      const opener = new V1Opener(p.recvKey, p.remoteNodeId)
      this.#sealInto = (t, pt, out, off) => sealer.sealInto(t, pt, out, off)
      this.#frameLength = V1Sealer.frameLength
      this.#open = (f) => opener.open(f)
    }
    this.#reader.versions = new Set([p.version])
    this.#reader.maxBody = p.maxFrame
    this.#ev.established(this)
  }
}
