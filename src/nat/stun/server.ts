/**
 * STUN server role (RFC 8489 Binding) with RFC 5780 behaviour-discovery support: with an alternate address it binds
 * four sockets (primary/alternate IP x primary/alternate port), answers CHANGE-REQUEST from the socket asked for and
 * reports OTHER-ADDRESS and RESPONSE-ORIGIN. `answerBinding` is the sans-I/O core; `StunServer` adds the sockets.
 */
import type { NatErrorSink } from '../guard.js'
import { NodeDatagramSocket, type DatagramSocket, type Rinfo } from '../socket.js'
import {
  Attr, decodeStun, encodeAddress, encodeErrorCode, encodeStun, getAttr, isStun, readU32, StunClass, StunMethod,
  type StunAttribute,
} from './codec.js'

/** Index into the 4 sockets: bit 1 = alternate IP, bit 0 = alternate port. */
export type SocketIndex = 0 | 1 | 2 | 3

export interface StunServerAddrs {
  primary: Rinfo
  /** Second IP and port (RFC 5780); without it CHANGE-REQUEST is refused with 420. */
  alternate?: Rinfo
}

function familyOf(host: string): 4 | 6 { return host.includes(':') ? 6 : 4 }

export function addrOf(addrs: StunServerAddrs, i: SocketIndex): Rinfo {
  const alt = addrs.alternate ?? addrs.primary
  return { host: i & 2 ? alt.host : addrs.primary.host, port: i & 1 ? alt.port : addrs.primary.port }
}

/**
 * Answers one datagram received on socket `on` from `from`. Returns the reply bytes and the socket index to send it
 * from, or undefined to stay silent (not a Binding request, malformed).
 */
export function answerBinding(buf: Uint8Array, from: Rinfo, on: SocketIndex, addrs: StunServerAddrs):
  { reply: Uint8Array; via: SocketIndex } | undefined {
  if (!isStun(buf)) return undefined
  let msg
  try { msg = decodeStun(buf) } catch { return undefined }
  if (msg.method !== StunMethod.binding || msg.cls !== StunClass.request) return undefined
  const cr = getAttr(msg, Attr.CHANGE_REQUEST)
  let via = on
  if (cr) {
    let flags: number
    try { flags = readU32(cr) } catch { return errorReply(msg.txId, on, 400, 'bad CHANGE-REQUEST') }
    if (!addrs.alternate && (flags & 6)) return errorReply(msg.txId, on, 420, 'no alternate address')
    via = (on ^ ((flags & 4 ? 2 : 0) | (flags & 2 ? 1 : 0))) as SocketIndex
  }
  const origin = addrOf(addrs, via)
  const attrs: StunAttribute[] = [
    { type: Attr.XOR_MAPPED_ADDRESS, value: encodeAddress({ family: familyOf(from.host), ...from }, true, msg.txId) },
    { type: Attr.RESPONSE_ORIGIN, value: encodeAddress({ family: familyOf(origin.host), ...origin }, false) },
  ]
  if (addrs.alternate) {
    const other = addrOf(addrs, (on ^ 3) as SocketIndex)
    attrs.push({ type: Attr.OTHER_ADDRESS, value: encodeAddress({ family: familyOf(other.host), ...other }, false) })
  }
  return { reply: encodeStun({ method: StunMethod.binding, cls: StunClass.success, txId: msg.txId, attrs }), via }
}

function errorReply(txId: Uint8Array, via: SocketIndex, code: number, reason: string): { reply: Uint8Array; via: SocketIndex } {
  const attrs = [{ type: Attr.ERROR_CODE, value: encodeErrorCode(code, reason) }]
  return { reply: encodeStun({ method: StunMethod.binding, cls: StunClass.error, txId, attrs }), via }
}

export interface StunServerInit extends StunServerAddrs {
  /** Replies per second across all clients (amplification guard). @default 2000 */
  maxRepliesPerSecond?: number
  /** Errors contained in the sockets' datagram callbacks. */
  onError?: NatErrorSink
}

export class StunServer {
  readonly #init: StunServerInit
  #sockets: DatagramSocket[] = []
  #windowStart = 0
  #windowCount = 0
  #stopped = false

  readonly #addrs: StunServerAddrs

  constructor(init: StunServerInit) {
    this.#init = init
    this.#addrs = { primary: { ...init.primary }, ...(init.alternate ? { alternate: { ...init.alternate } } : {}) }
  }

  /** Binds the sockets. Port 0 picks free ports: the primary and alternate port are chosen on the primary IP. */
  async start(): Promise<void> {
    const { primary, alternate } = this.#addrs
    const s0 = await NodeDatagramSocket.bind(primary.port, primary.host)
    this.#sockets[0] = s0
    primary.port = s0.address().port
    if (alternate) {
      const s1 = await NodeDatagramSocket.bind(alternate.port, primary.host)
      this.#sockets[1] = s1
      alternate.port = s1.address().port
      this.#sockets[2] = await NodeDatagramSocket.bind(primary.port, alternate.host)
      this.#sockets[3] = await NodeDatagramSocket.bind(alternate.port, alternate.host)
    }
    const sink = this.#init.onError
    if (sink) for (const s of this.#sockets) (s as NodeDatagramSocket).errorSink = sink
    this.#sockets.forEach((s, i) => s.onMessage((buf, from) => this.#onMessage(buf, from, i as SocketIndex)))
    if (this.#stopped) await this.stop()
  }

  get addrs(): StunServerAddrs { return this.#addrs }

  /** Actual bound addresses (port 0 in the init resolves here). */
  addresses(): Rinfo[] { return this.#sockets.map((s) => s.address()) }

  #onMessage(buf: Uint8Array, from: Rinfo, on: SocketIndex): void {
    const now = Date.now()
    if (now - this.#windowStart >= 1000) { this.#windowStart = now; this.#windowCount = 0 }
    if (++this.#windowCount > (this.#init.maxRepliesPerSecond ?? 2000)) return
    const r = answerBinding(buf, from, on, this.#addrs)
    if (!r) return
    const s = this.#sockets[r.via] ?? this.#sockets[on]!
    s.send(r.reply, from.port, from.host)
  }

  async stop(): Promise<void> {
    this.#stopped = true
    const s = this.#sockets
    this.#sockets = []
    await Promise.all(s.map((x) => x.close()))
  }
}
