/**
 * TURN client (RFC 8656) over a DatagramSocket: Allocate with long-term credentials (401 -> REALM/NONCE, 438 stale
 * nonce retried), Refresh, CreatePermission, ChannelBind, Send/Data indications and ChannelData. Keeps the
 * allocation, permissions and channels alive with refresh timers until `close()` (Refresh LIFETIME 0).
 */
import { randomBytes } from 'node:crypto'
import { systemClock, type Clock } from '../../interfaces/clock.js'
import { NatError, StunResponseError } from '../errors.js'
import type { DatagramSocket, Rinfo } from '../socket.js'
import { StunClient, type StunReply } from '../stun/client.js'
import {
  Attr, decodeAddress, decodeErrorCode, decodeStun, encodeAddress, encodeStun, getAttr, isStun, longTermKey, readU32,
  StunClass, StunMethod, u32, utf8, verifyIntegrity, type StunAttribute,
} from '../stun/codec.js'

export interface TurnClientInit {
  socket: DatagramSocket
  server: Rinfo
  username: string
  password: string
  clock?: Clock
  /** Requested allocation lifetime, seconds. @default 600 */
  lifetime?: number
}

export interface Allocation { relayed: Rinfo; mapped: Rinfo; lifetime: number }

const PERMISSION_REFRESH_MS = 240_000 // permissions last 300 s
const CHANNEL_REFRESH_MS = 480_000 // channel bindings last 600 s
const MAX_PEERS = 256
const fam = (h: string): 4 | 6 => (h.includes(':') ? 6 : 4)
const key = (r: Rinfo): string => `${r.host}|${r.port}`

export class TurnClient {
  readonly #init: TurnClientInit
  readonly #clock: Clock
  readonly #stun: StunClient
  #realm = ''
  #nonce = ''
  #key: Uint8Array | undefined
  #allocation: Allocation | undefined
  readonly #channels = new Map<string, number>()
  readonly #byChannel = new Map<number, Rinfo>()
  readonly #permissions = new Set<string>()
  #nextChannel = 0x4000
  readonly #timers = new Set<{ cancel(): void }>()
  readonly #listeners = new Set<(data: Uint8Array, peer: Rinfo) => void>()
  readonly #unsub: () => void
  #closed = false

  constructor(init: TurnClientInit) {
    this.#init = init
    this.#clock = init.clock ?? systemClock
    this.#stun = new StunClient({ socket: init.socket, clock: this.#clock, rtoMs: 200, maxTransmits: 5 })
    this.#unsub = init.socket.onMessage((buf, from) => this.#onMessage(buf, from))
  }

  get allocation(): Allocation | undefined { return this.#allocation }

  /** Data relayed from peers (Data indications and ChannelData). */
  onData(cb: (data: Uint8Array, peer: Rinfo) => void): () => void {
    this.#listeners.add(cb)
    return () => { this.#listeners.delete(cb) }
  }

  /** Sends an authenticated request, handling 401 (learn realm/nonce) and 438 (stale nonce) once each. */
  async #request(method: number, attrs: StunAttribute[], signal?: AbortSignal): Promise<StunReply> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const auth: StunAttribute[] = this.#key
        ? [{ type: Attr.USERNAME, value: utf8(this.#init.username) }, { type: Attr.REALM, value: utf8(this.#realm) }, { type: Attr.NONCE, value: utf8(this.#nonce) }]
        : []
      const r = await this.#stun.request(this.#init.server, { method, attrs: [...attrs, ...auth], ...(this.#key ? { integrityKey: this.#key } : {}) }, signal ? { signal } : {})
      if (r.msg.cls === StunClass.success) {
        if (this.#key && r.msg.integrityOffset >= 0 && !verifyIntegrity(r.msg, this.#key)) throw new NatError('turn_integrity', 'TURN response failed MESSAGE-INTEGRITY')
        return r
      }
      const e = getAttr(r.msg, Attr.ERROR_CODE)
      const { code, reason } = e ? decodeErrorCode(e) : { code: 500, reason: 'no ERROR-CODE' }
      const realm = getAttr(r.msg, Attr.REALM)
      const nonce = getAttr(r.msg, Attr.NONCE)
      if ((code === 401 && !this.#key) || code === 438) {
        if (!nonce || (!realm && !this.#realm)) throw new StunResponseError(code, reason)
        if (realm) this.#realm = new TextDecoder().decode(realm)
        this.#nonce = new TextDecoder().decode(nonce)
        this.#key = longTermKey(this.#init.username, this.#realm, this.#init.password)
        continue
      }
      throw new StunResponseError(code, reason)
    }
    throw new NatError('turn_auth', 'TURN authentication did not converge')
  }

  /** `signal` aborts the allocation's requests (the caller's, combined with its service's shutdown). */
  async allocate(signal?: AbortSignal): Promise<Allocation> {
    if (this.#closed) throw new NatError('turn_closed', 'TURN client closed')
    const r = await this.#request(StunMethod.allocate, [
      { type: Attr.REQUESTED_TRANSPORT, value: new Uint8Array([17, 0, 0, 0]) },
      { type: Attr.LIFETIME, value: u32(this.#init.lifetime ?? 600) },
    ], signal)
    const relayed = getAttr(r.msg, Attr.XOR_RELAYED_ADDRESS)
    const mapped = getAttr(r.msg, Attr.XOR_MAPPED_ADDRESS)
    const life = getAttr(r.msg, Attr.LIFETIME)
    if (!relayed || !mapped) throw new NatError('turn_allocate', 'Allocate response without relayed/mapped address')
    const ra = decodeAddress(relayed, true, r.msg.txId)
    const ma = decodeAddress(mapped, true, r.msg.txId)
    const lifetime = life ? readU32(life) : 600
    this.#allocation = { relayed: { host: ra.host, port: ra.port }, mapped: { host: ma.host, port: ma.port }, lifetime }
    this.#every(Math.max(30, lifetime - 60) * 1000, () => this.refresh(lifetime))
    return this.#allocation
  }

  async refresh(lifetime: number): Promise<number> {
    const r = await this.#request(StunMethod.refresh, [{ type: Attr.LIFETIME, value: u32(lifetime) }])
    const life = getAttr(r.msg, Attr.LIFETIME)
    return life ? readU32(life) : lifetime
  }

  /** Installs a permission for the peer's IP (the port is not part of a permission). */
  async createPermission(peer: Rinfo): Promise<void> {
    const first = !this.#permissions.has(peer.host)
    if (first && this.#permissions.size >= MAX_PEERS) throw new NatError('turn_limit', 'too many TURN permissions')
    await this.#request(StunMethod.createPermission, [{ type: Attr.XOR_PEER_ADDRESS, value: this.#peerAttr(peer) }])
    if (first) {
      this.#permissions.add(peer.host)
      this.#every(PERMISSION_REFRESH_MS, () => this.createPermission(peer))
    }
  }

  /** Binds a channel to the peer (also installs the permission); later sends use 4-byte ChannelData headers. */
  async channelBind(peer: Rinfo): Promise<number> {
    const existing = this.#channels.get(key(peer))
    const ch = existing ?? this.#nextChannel
    if (existing === undefined) {
      if (ch > 0x4fff || this.#channels.size >= MAX_PEERS) throw new NatError('turn_limit', 'no TURN channel numbers left')
      this.#nextChannel++
    }
    await this.#request(StunMethod.channelBind, [
      { type: Attr.CHANNEL_NUMBER, value: u32(ch << 16) },
      { type: Attr.XOR_PEER_ADDRESS, value: this.#peerAttr(peer) },
    ])
    if (existing === undefined) {
      this.#channels.set(key(peer), ch)
      this.#byChannel.set(ch, peer)
      this.#permissions.add(peer.host)
      this.#every(CHANNEL_REFRESH_MS, () => this.channelBind(peer))
    }
    return ch
  }

  /** Relays `data` to `peer`: ChannelData if a channel is bound, else a Send indication. */
  send(peer: Rinfo, data: Uint8Array): void {
    if (this.#closed) return
    const ch = this.#channels.get(key(peer))
    const { server, socket } = this.#init
    if (ch !== undefined) {
      const out = new Uint8Array(4 + ((data.length + 3) & ~3))
      const dv = new DataView(out.buffer)
      dv.setUint16(0, ch); dv.setUint16(2, data.length)
      out.set(data, 4)
      socket.send(out, server.port, server.host)
      return
    }
    const msg = encodeStun({
      method: StunMethod.send, cls: StunClass.indication, txId: new Uint8Array(randomBytes(12)),
      attrs: [{ type: Attr.XOR_PEER_ADDRESS, value: this.#peerAttr(peer) }, { type: Attr.DATA, value: data }],
    })
    socket.send(msg, server.port, server.host)
  }

  #peerAttr(peer: Rinfo): Uint8Array { return encodeAddress({ family: fam(peer.host), ...peer }, true, new Uint8Array(12)) }

  #onMessage(buf: Uint8Array, from: Rinfo): void {
    const s = this.#init.server
    if (from.host !== s.host || from.port !== s.port || buf.length < 4) return
    const first = buf[0]!
    if (first >= 0x40 && first <= 0x4f) { // ChannelData (RFC 8656 §12.4)
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
      const peer = this.#byChannel.get(dv.getUint16(0))
      const len = dv.getUint16(2)
      if (!peer || 4 + len > buf.length) return
      this.#emit(buf.subarray(4, 4 + len), peer)
      return
    }
    if (!isStun(buf)) return
    let msg
    try { msg = decodeStun(buf) } catch { return }
    if (msg.method !== StunMethod.data || msg.cls !== StunClass.indication) return
    const p = getAttr(msg, Attr.XOR_PEER_ADDRESS)
    const d = getAttr(msg, Attr.DATA)
    if (!p || !d) return
    try {
      const a = decodeAddress(p, true, msg.txId)
      this.#emit(d, { host: a.host, port: a.port })
    } catch { /* malformed peer address */ }
  }

  #emit(data: Uint8Array, peer: Rinfo): void { for (const l of this.#listeners) l(data, peer) }

  #every(ms: number, fn: () => Promise<unknown>): void {
    const tick = (): void => {
      const t = this.#clock.setTimeout(() => {
        this.#timers.delete(t)
        if (this.#closed) return
        fn().catch(() => {}).finally(() => { if (!this.#closed) tick() })
      }, ms)
      this.#timers.add(t)
    }
    tick()
  }

  /** Releases the allocation (Refresh with LIFETIME 0) and stops all timers. */
  async close(): Promise<void> {
    if (this.#closed) return
    for (const t of this.#timers) t.cancel()
    this.#timers.clear()
    if (this.#allocation) await this.refresh(0).catch(() => {})
    this.#closed = true
    this.#unsub()
    this.#stun.destroy()
  }
}
