/**
 * Request/reply correlation and dispatch on top of any frame channel (TCP session, UDP stream, in-memory pipe).
 *
 * Every application frame's plaintext starts with a 1-byte kind and, for requests and replies, a 4-byte
 * big-endian request id (docs/protocol.md §"Message envelope"):
 *   kind 0 = one-way message: [0][body]
 *   kind 1 = request:         [1][rid u32][body]
 *   kind 2 = reply:           [2][rid u32][body]
 *   kind 3 = traced request:  [3][rid u32][trace id 16][parent span id 8][flags 1][body]
 * Kind 3 is sent only to peers that announced the TRACE capability; a peer without it gets a plain request.
 */
import type { Clock } from '../interfaces/clock.js'
import { systemClock } from '../interfaces/clock.js'
import type { Body, Inbound, Link, Message, RemotePeer, RequestOptions, TraceContext } from '../interfaces/link.js'
import { joinParts } from '../util/bytes.js'
import { AbortedError, TimeoutError } from '../util/errors.js'
import { LinkClosedError, ProtocolError, RemoteError } from './errors.js'
import { decode, encode } from '../wire/cbor.js'
import { MessageType } from '../wire/message-types.js'

export const KIND_MESSAGE = 0
export const KIND_REQUEST = 1
export const KIND_REPLY = 2
export const KIND_TRACED_REQUEST = 3
/** The capability string a node announces when it accepts kind-3 envelopes. */
export const TRACE_CAPABILITY = 'TRACE'
const TRACE_BYTES = 25
const MESSAGE_HEAD = new Uint8Array([KIND_MESSAGE])

/** What an RpcLink needs from the channel underneath. */
export interface FrameSink {
  /** Sends one frame; returns false above the high-water mark (the frame is still queued). */
  sendFrame(type: number, plaintext: Uint8Array): boolean
  /**
   * Optional zero-copy variant: the plaintext is the concatenation of `parts`, which the sink copies straight into
   * the frame before it returns.
   */
  sendFrameParts?(type: number, parts: readonly Uint8Array[]): boolean
  whenWritable(): Promise<void>
  /** Closes the underlying channel; must eventually call RpcLink.handleClosed(reason) exactly once. */
  close(reason: string): void
}

export interface RpcLinkInit {
  /** @default 5000 */
  defaultTimeoutMs?: number
  /** Maximum requests awaiting a reply; further requests reject at once. @default 1024 */
  maxPending?: number
  clock?: Clock
}

interface Pending {
  resolve(m: Message): void
  reject(e: Error): void
  cancel(): void
}

export class RpcLink implements Link {
  readonly peer: RemotePeer
  #sink: FrameSink
  #dispatch: (msg: Inbound) => void
  #pending = new Map<number, Pending>()
  #nextId = 1
  #closed = false
  #closeListeners = new Set<(reason: string) => void>()
  readonly #timeoutMs: number
  readonly #maxPending: number
  readonly #clock: Clock

  constructor(peer: RemotePeer, sink: FrameSink, dispatch: (msg: Inbound) => void, init: RpcLinkInit = {}) {
    this.peer = peer
    this.#sink = sink
    this.#dispatch = dispatch
    this.#timeoutMs = init.defaultTimeoutMs ?? 5000
    this.#maxPending = init.maxPending ?? 1024
    this.#clock = init.clock ?? systemClock
  }

  get closed(): boolean { return this.#closed }

  /**
   * Moves the link onto another channel (the connection that won a simultaneous-dial tie-break): the link object,
   * its pending requests and its listeners stay; frames from now on go out through `sink`.
   */
  rebind(sink: FrameSink): void { if (!this.#closed) this.#sink = sink }

  get pendingRequests(): number { return this.#pending.size }

  send(type: number, body: Uint8Array): boolean {
    if (this.#closed) return false
    return this.#sendParts(type, [MESSAGE_HEAD, body])
  }

  sendParts(type: number, parts: readonly Uint8Array[]): boolean {
    if (this.#closed) return false
    return this.#sendParts(type, [MESSAGE_HEAD, ...parts])
  }

  request(type: number, body: Uint8Array, opts: RequestOptions = {}): Promise<Message> {
    if (this.#closed) return Promise.reject(new LinkClosedError('closed'))
    if (opts.signal?.aborted) return Promise.reject(new AbortedError())
    if (this.#pending.size >= this.#maxPending) return Promise.reject(new ProtocolError('too_many_pending', 'too many pending requests on this link'))
    const rid = this.#allocId()
    return new Promise<Message>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        done()
        reject(new TimeoutError(`request 0x${type.toString(16)} timed out after ${opts.timeoutMs ?? this.#timeoutMs} ms`))
      }, opts.timeoutMs ?? this.#timeoutMs)
      const onAbort = (): void => { done(); reject(new AbortedError()) }
      const done = (): void => {
        timer.cancel()
        opts.signal?.removeEventListener('abort', onAbort)
        this.#pending.delete(rid)
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      this.#pending.set(rid, {
        resolve: (m) => { done(); resolve(m) },
        reject: (e) => { done(); reject(e) },
        cancel: done,
      })
      const traced = opts.trace !== undefined && this.peer.capabilities.has(TRACE_CAPABILITY)
      this.#sendParts(type, traced ? [tracedHead(rid, opts.trace!), body] : [envelopeHead(KIND_REQUEST, rid), body])
    })
  }

  whenWritable(): Promise<void> { return this.#closed ? Promise.resolve() : this.#sink.whenWritable() }

  close(reason = 'closed locally'): void {
    if (this.#closed) return
    this.#sink.close(reason)
    // sinks call closed() when the channel is gone; make sure state settles even if one does not
    this.handleClosed(reason)
  }

  onClose(cb: (reason: string) => void): () => void {
    if (this.#closed) { queueMicrotask(() => cb('closed')); return () => {} }
    this.#closeListeners.add(cb)
    return () => this.#closeListeners.delete(cb)
  }

  /** Called by the channel when it is gone. Rejects pending requests and notifies listeners once. */
  handleClosed(reason: string): void {
    if (this.#closed) return
    this.#closed = true
    const err = new LinkClosedError(reason)
    for (const p of [...this.#pending.values()]) p.reject(err)
    this.#pending.clear()
    for (const cb of [...this.#closeListeners]) {
      try { cb(reason) } catch { /* a listener's failure must not stop the others */ }
    }
    this.#closeListeners.clear()
  }

  /**
   * Called by the channel with each authenticated, decrypted frame. Throws ProtocolError for a malformed
   * envelope (the caller counts it as an invalid frame); an unsolicited reply is ignored (it may be late).
   * `release` (the frame's pooled buffer, see Message.release) goes with a reply to its requester.
   */
  receiveFrame(type: number, plaintext: Uint8Array, release?: () => void): void {
    if (plaintext.byteLength < 1) throw new ProtocolError('bad_envelope', 'empty message envelope')
    const kind = plaintext[0]!
    if (kind === KIND_MESSAGE) {
      this.#dispatch(release ? { type, body: plaintext.subarray(1), link: this, release } : { type, body: plaintext.subarray(1), link: this })
      return
    }
    if (kind !== KIND_REQUEST && kind !== KIND_REPLY && kind !== KIND_TRACED_REQUEST) throw new ProtocolError('bad_envelope', `unknown envelope kind ${kind}`)
    if (plaintext.byteLength < 5) throw new ProtocolError('bad_envelope', 'truncated request id')
    const rid = new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength).getUint32(1)
    let body = plaintext.subarray(5)
    let trace: TraceContext | undefined
    if (kind === KIND_TRACED_REQUEST) {
      if (plaintext.byteLength < 5 + TRACE_BYTES) throw new ProtocolError('bad_envelope', 'truncated trace context')
      // copies: the frame's buffer may be pooled and reused after dispatch
      const traceId = plaintext.slice(5, 21)
      const spanId = plaintext.slice(21, 29)
      // W3C: an all-zero trace or span id is invalid; drop the context, keep the request
      if (traceId.some((b) => b !== 0) && spanId.some((b) => b !== 0)) trace = { traceId, spanId, flags: plaintext[29]! }
      body = plaintext.subarray(5 + TRACE_BYTES)
    }
    if (kind === KIND_REPLY) {
      const p = this.#pending.get(rid)
      if (!p) return
      if (type === MessageType.ERROR) {
        const e = decodeError(body)
        p.reject(new RemoteError(e.code, e.message))
      } else {
        p.resolve(release ? { type, body, release } : { type, body })
      }
      return
    }
    let replied = false
    const reply = (rtype: number, rbody: Body): boolean => {
      if (replied || this.#closed) return false
      replied = true
      return this.#sendParts(rtype, rbody instanceof Uint8Array ? [envelopeHead(KIND_REPLY, rid), rbody] : [envelopeHead(KIND_REPLY, rid), ...rbody])
    }
    this.#dispatch(trace ? { type, body, link: this, reply, trace } : { type, body, link: this, reply })
  }

  /** One frame whose plaintext is the parts' concatenation (copied by the sink, or joined here for a plain sink). */
  #sendParts(type: number, parts: readonly Uint8Array[]): boolean {
    return this.#sink.sendFrameParts ? this.#sink.sendFrameParts(type, parts) : this.#sink.sendFrame(type, joinParts(parts))
  }

  #allocId(): number {
    let id = this.#nextId
    do {
      id = id >= 0xffffffff ? 1 : id + 1
    } while (this.#pending.has(id))
    this.#nextId = id
    return id
  }
}

function tracedHead(rid: number, t: TraceContext): Uint8Array {
  const out = new Uint8Array(5 + TRACE_BYTES)
  out[0] = KIND_TRACED_REQUEST
  new DataView(out.buffer).setUint32(1, rid)
  out.set(t.traceId.subarray(0, 16), 5)
  out.set(t.spanId.subarray(0, 8), 21)
  out[29] = t.flags & 0xff
  return out
}

function envelopeHead(kind: number, rid: number): Uint8Array {
  const out = new Uint8Array(5)
  out[0] = kind
  new DataView(out.buffer).setUint32(1, rid)
  return out
}

/** ERROR message body: CBOR `{code: text, message: text}`. */
export function encodeError(code: string, message: string): Uint8Array {
  return encode({ code: code.slice(0, 64), message: message.slice(0, 512) })
}

export function decodeError(body: Uint8Array): { code: string; message: string } {
  try {
    const v = decode(body, { maxDepth: 2, maxItems: 8, maxStringBytes: 1024 }) as Record<string, unknown>
    if (v && typeof v === 'object' && typeof v.code === 'string' && typeof v.message === 'string') return { code: v.code, message: v.message }
  } catch { /* fall through */ }
  return { code: 'malformed_error', message: 'peer sent a malformed ERROR message' }
}
