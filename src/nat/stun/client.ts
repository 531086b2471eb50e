/**
 * STUN client transactions (RFC 8489 §6.2.1) over any DatagramSocket: retransmits with a doubling RTO, matches
 * responses by transaction id (not by source, so RFC 5780 CHANGE-REQUEST replies from another address match).
 */
import { randomBytes } from 'node:crypto'
import { systemClock, type Clock } from '../../interfaces/clock.js'
import { toHex } from '../../util/bytes.js'
import { AbortedError, TimeoutError } from '../../util/errors.js'
import { StunResponseError } from '../errors.js'
import type { DatagramSocket, Rinfo } from '../socket.js'
import {
  Attr, decodeAddress, decodeErrorCode, decodeStun, encodeStun, getAttr, isStun, StunClass, StunMethod,
  verifyFingerprint, type DecodedStun, type StunAddress, type StunAttribute,
} from './codec.js'

export interface StunClientInit {
  socket: DatagramSocket
  clock?: Clock
  /** First retransmission timeout. @default 250 */
  rtoMs?: number
  /** Requests sent per transaction (RFC 8489 Rc). @default 5 */
  maxTransmits?: number
  /** At most this many transactions in flight. @default 64 */
  maxPending?: number
}

export interface StunRequest {
  method: number
  attrs?: StunAttribute[]
  integrityKey?: Uint8Array
}

export interface StunReply { msg: DecodedStun; from: Rinfo }

interface Pending {
  resolve(r: StunReply): void
  reject(err: Error): void
  timer: { cancel(): void }
}

export class StunClient {
  readonly #socket: DatagramSocket
  readonly #clock: Clock
  readonly #rto: number
  readonly #maxTransmits: number
  readonly #maxPending: number
  readonly #pending = new Map<string, Pending>()
  readonly #unsub: () => void
  #destroyed = false

  constructor(init: StunClientInit) {
    this.#socket = init.socket
    this.#clock = init.clock ?? systemClock
    this.#rto = init.rtoMs ?? 250
    this.#maxTransmits = init.maxTransmits ?? 5
    this.#maxPending = init.maxPending ?? 64
    this.#unsub = init.socket.onMessage((buf, from) => this.#onMessage(buf, from))
  }

  /** Feeds a datagram; returns true if it answered one of our transactions. */
  #onMessage(buf: Uint8Array, from: Rinfo): boolean {
    if (!isStun(buf)) return false
    let msg: DecodedStun
    try { msg = decodeStun(buf) } catch { return false }
    if (msg.cls !== StunClass.success && msg.cls !== StunClass.error) return false
    if (msg.fingerprintOffset >= 0 && !verifyFingerprint(msg)) return false
    const key = toHex(msg.txId)
    const p = this.#pending.get(key)
    if (!p) return false
    this.#pending.delete(key)
    p.timer.cancel()
    p.resolve({ msg, from })
    return true
  }

  request(server: Rinfo, req: StunRequest, opts: { signal?: AbortSignal } = {}): Promise<StunReply> {
    if (this.#destroyed) return Promise.reject(new AbortedError('STUN client destroyed'))
    if (this.#pending.size >= this.#maxPending) return Promise.reject(new TimeoutError('too many STUN transactions in flight'))
    const txId = new Uint8Array(randomBytes(12))
    const key = toHex(txId)
    const bytes = encodeStun({ method: req.method, cls: StunClass.request, txId, attrs: req.attrs ?? [] },
      req.integrityKey ? { integrityKey: req.integrityKey } : {})
    return new Promise<StunReply>((resolve, reject) => {
      if (opts.signal?.aborted) { reject(new AbortedError()); return }
      let sent = 0
      let rto = this.#rto
      const cleanup = (): void => opts.signal?.removeEventListener('abort', onAbort)
      const entry: Pending = {
        resolve: (r) => { cleanup(); resolve(r) },
        reject: (e) => { cleanup(); reject(e) },
        timer: { cancel() {} },
      }
      const onAbort = (): void => { this.#pending.delete(key); entry.timer.cancel(); entry.reject(new AbortedError()) }
      const fire = (): void => {
        if (sent >= this.#maxTransmits) {
          this.#pending.delete(key)
          entry.reject(new TimeoutError(`STUN request to ${server.host}:${server.port} timed out`))
          return
        }
        sent++
        try {
          this.#socket.send(bytes, server.port, server.host)
        } catch (err) {
          // e.g. a configured server that is not an IP literal: this request fails, nothing else does
          this.#pending.delete(key)
          entry.reject(err instanceof Error ? err : new Error(String(err)))
          return
        }
        const wait = sent === this.#maxTransmits ? rto * 2 : rto
        rto *= 2
        entry.timer = this.#clock.setTimeout(fire, wait)
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      this.#pending.set(key, entry)
      fire()
    })
  }

  /** Sends a Binding request and returns the mapped address plus RFC 5780 attributes of the response. */
  async binding(server: Rinfo, opts: { attrs?: StunAttribute[]; signal?: AbortSignal } = {}): Promise<BindingResult> {
    const { msg, from } = await this.request(server, { method: StunMethod.binding, attrs: opts.attrs ?? [] }, opts)
    return bindingResult(msg, from)
  }

  destroy(): void {
    if (this.#destroyed) return
    this.#destroyed = true
    this.#unsub()
    for (const p of this.#pending.values()) { p.timer.cancel(); p.reject(new AbortedError('STUN client destroyed')) }
    this.#pending.clear()
  }
}

export interface BindingResult {
  mapped: StunAddress
  from: Rinfo
  otherAddress?: StunAddress
  responseOrigin?: StunAddress
}

export function bindingResult(msg: DecodedStun, from: Rinfo): BindingResult {
  if (msg.cls === StunClass.error) {
    const e = getAttr(msg, Attr.ERROR_CODE)
    const { code, reason } = e ? decodeErrorCode(e) : { code: 500, reason: 'error response without ERROR-CODE' }
    throw new StunResponseError(code, reason)
  }
  const x = getAttr(msg, Attr.XOR_MAPPED_ADDRESS)
  const m = getAttr(msg, Attr.MAPPED_ADDRESS)
  if (!x && !m) throw new StunResponseError(500, 'no mapped address in Binding response')
  const mapped = x ? decodeAddress(x, true, msg.txId) : decodeAddress(m!, false)
  const o = getAttr(msg, Attr.OTHER_ADDRESS)
  const r = getAttr(msg, Attr.RESPONSE_ORIGIN)
  return {
    mapped, from,
    ...(o ? { otherAddress: decodeAddress(o, false) } : {}),
    ...(r ? { responseOrigin: decodeAddress(r, false) } : {}),
  }
}
