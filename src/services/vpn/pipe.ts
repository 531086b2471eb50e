/**
 * One VPN stream: a local TCP socket (the SOCKS client's on the client node, the destination's on the exit) bridged
 * to VPN_DATA / VPN_CLOSE on a link, with per-stream credit windows (docs/protocol/vpn.md §Flow control): a side
 * sends at most what the other side granted, and grants more only once its socket accepted the bytes, so a stalled
 * stream stops only itself. Data beyond the granted window is a protocol violation that resets the stream.
 */
import { Socket } from 'node:net'
import { slabReadsFor, type SlabReader } from '../../transport/slab-reader.js'
import type { SlabPool } from '../../transport/slab-pool.js'
import type { Link } from '../../interfaces/link.js'
import { MessageType } from '../../wire/message-types.js'
import { encodeClose, encodeData, encodeDataParts, MAX_DATA, MAX_WINDOW, type RoleValue, type VpnClose, type VpnData } from './messages.js'

export interface PipeInit {
  link: Link
  /** Our role on this stream (stamped on what we send). */
  role: RoleValue
  stream: number
  socket: Socket
  /** Bytes the peer granted us at open. */
  sendWindow: number
  /** Bytes we granted the peer at open (and top up to). */
  recvWindow: number
  /**
   * Largest window we grow to (receiver-side autotuning: each time the peer came within 1/8 window of running out, or
   * our socket took two windows since the last growth, the window doubles). @default recvWindow (no growth)
   */
  maxRecvWindow?: number
  /** Shared bound on the growth of all streams' windows (bytes). */
  budget?: WindowBudget
  /** Closed after this long without data either way. */
  idleMs: number
  /** Called with each data byte count carried (sent or received) for metering. */
  onBytes?: (n: number) => void
  /** Rate limit hook: ms to wait before carrying `n` more bytes (0 = now). */
  throttle?: (n: number) => number
  /** Runs `fn` after `ms` (the rate limit's waits). @default setTimeout, unref'd */
  setTimer?: SetTimer
  /** Called once when the stream is gone, with why. */
  onDone: (reason: string) => void
  /**
   * Where the socket's read slabs come from (the service's pool): every byte read is copied into a frame when sent,
   * so once nothing is pending the slabs are reused, and a bulk stream allocates nothing per read.
   */
  readPool?: SlabPool
}

/** Free read slabs a VPN service keeps for its pipes (each bulk stream cycles one to three of up to 1 MiB). */
export const READ_POOL_BYTES = 16 * 1024 * 1024

export type SetTimer = (fn: () => void, ms: number) => { cancel(): void }
const defaultTimer: SetTimer = (fn, ms) => { const t = setTimeout(fn, ms); t.unref(); return { cancel: () => clearTimeout(t) } }

/** Bytes of window growth that all streams of one side may hold together. */
export class WindowBudget {
  used = 0
  constructor(readonly max: number) {}
  take(n: number): boolean { if (this.used + n > this.max) return false; this.used += n; return true }
  give(n: number): void { this.used = Math.max(0, this.used - n) }
}

export class Pipe {
  readonly init: PipeInit
  #sendWindow: number
  /** Bytes the peer may still send us (granted, not yet received). */
  #recvOutstanding: number
  /** Bytes our socket accepted that we have not yet granted back. */
  #ungranted = 0
  /** Our current receive window (grows from recvWindow up to maxRecvWindow). */
  #window: number
  /** The peer came within an eighth of a window of running out of credit since the last grant. */
  #starved = false
  /** Bytes our socket accepted since the window last grew. */
  #sinceGrowth = 0
  /** Socket bytes not yet sent (chunks as read: joined only by the link's copy into the frame). */
  #pending: Buffer[] = []
  #pendingBytes = 0
  #flushQueued = false
  #localEnded = false
  #remoteEnded = false
  #finSent = false
  #done = false
  #waitingLink = false
  #throttled: { cancel(): void } | undefined
  #reader: SlabReader | null = null
  bytesOut = 0
  bytesIn = 0

  constructor(init: PipeInit) {
    this.init = init
    this.#sendWindow = init.sendWindow
    this.#recvOutstanding = init.recvWindow
    this.#window = init.recvWindow
    const s = init.socket
    s.setNoDelay(true)
    s.setTimeout(init.idleMs, () => this.reset('idle_timeout', true))
    s.on('data', (b: Buffer) => this.#onLocal(b))
    // later reads land in large slabs (views, one allocation per ~MiB) instead of a fresh 64 KiB buffer per read;
    // anything read before the switch still comes as 'data'
    if (s instanceof Socket) this.#reader = slabReadsFor(s, (b) => this.#onLocal(b), undefined, init.readPool)
    s.on('end', () => { this.#localEnded = true; this.#flushPending() })
    s.on('error', () => {})
    s.on('close', () => { if (!this.#done) this.reset(this.#localEnded && this.#remoteEnded ? 'closed' : 'local_closed', true) })
    if (this.#sendWindow === 0) s.pause()
  }

  get done(): boolean { return this.#done }

  /**
   * Socket bytes: sent at once when they fill a VPN_DATA, else after the reads of this event-loop turn (setImmediate
   * runs after the poll phase, in which the socket's reads of this turn all arrived), so a bulk stream sends large
   * frames and an interactive one waits no timer.
   */
  #onLocal(b: Buffer): void {
    if (this.#done) return
    this.#pending.push(b)
    this.#pendingBytes += b.length
    if (this.#pendingBytes >= MAX_DATA) { this.#flushPending(); return }
    if (this.#flushQueued) return
    this.#flushQueued = true
    setImmediate(() => { this.#flushQueued = false; this.#flushPending() })
  }

  /** Takes the first `n` pending bytes as a list of views. */
  #take(n: number): Buffer[] {
    const out: Buffer[] = []
    let left = n
    while (left > 0) {
      const c = this.#pending[0]!
      if (c.length <= left) { out.push(c); this.#pending.shift(); left -= c.length }
      else { out.push(c.subarray(0, left)); this.#pending[0] = c.subarray(left); left = 0 }
    }
    this.#pendingBytes -= n
    return out
  }

  /** Sends what the window, the link and the rate limit allow; pauses the socket for the rest. */
  #flushPending(): void {
    const s = this.init.socket
    while (!this.#done && this.#pendingBytes > 0) {
      if (this.#sendWindow <= 0 || this.#waitingLink || this.#throttled) { s.pause(); return }
      const n = Math.min(this.#pendingBytes, this.#sendWindow, MAX_DATA)
      const wait = this.init.throttle?.(n) ?? 0
      const parts = encodeDataParts(this.init.role, this.init.stream, this.#take(n), n)
      this.#sendWindow -= n
      this.bytesOut += n
      this.init.onBytes?.(n)
      const ok = this.#sendParts(MessageType.VPN_DATA, parts)
      if (wait > 0) {
        this.#throttled = (this.init.setTimer ?? defaultTimer)(() => { this.#throttled = undefined; this.#flushPending() }, wait)
      }
      if (!ok && !this.init.link.closed) {
        this.#waitingLink = true
        void this.init.link.whenWritable().then(() => { this.#waitingLink = false; this.#flushPending() }, () => {})
      }
    }
    if (this.#done) return
    // every byte read so far was copied into a frame (Link.sendParts copies before it returns): the slabs are free
    if (this.#pendingBytes === 0) this.#reader?.reuse()
    if (this.#pendingBytes === 0 && this.#localEnded) {
      if (!this.#finSent) { this.#finSent = true; this.#send(MessageType.VPN_CLOSE, encodeClose({ role: this.init.role, stream: this.init.stream, kind: 'fin' })) }
      this.#maybeDone()
      return
    }
    if (this.#sendWindow > 0 && !this.#waitingLink && !this.#throttled) s.resume()
  }

  #sendParts(type: number, parts: Uint8Array[]): boolean {
    const l = this.init.link
    if (l.closed) { this.reset('link_closed', false); return false }
    try { return l.sendParts ? l.sendParts(type, parts) : l.send(type, Buffer.concat(parts)) } catch { this.reset('send_failed', false); return false }
  }

  #send(type: number, body: Uint8Array): boolean {
    if (this.init.link.closed) { this.reset('link_closed', false); return false }
    try { return this.init.link.send(type, body) } catch { this.reset('send_failed', false); return false }
  }

  /**
   * A VPN_DATA from the peer for this stream. `release` (the frame's pooled buffer, Message.release) is called once
   * the socket took the bytes, or at once when they are not written.
   */
  onData(m: VpnData, release?: () => void): void {
    if (this.#done) { release?.(); return }
    if (m.credit !== undefined) {
      if (this.#sendWindow + m.credit > MAX_WINDOW) { this.reset('flow_violation: credit over the window limit', true); return }
      this.#sendWindow += m.credit
      this.#flushPending()
    }
    const d = m.data
    if (!d || this.#done) { release?.(); return }
    if (this.#remoteEnded) { release?.(); this.reset('flow_violation: data after fin', true); return }
    if (d.length > this.#recvOutstanding) { release?.(); this.reset('flow_violation: data beyond the granted window', true); return }
    this.#recvOutstanding -= d.length
    // growing only once the peer ran fully dry left bulk streams at small windows for most of a transfer (the
    // quarter-window grants usually arrive just before it runs out), at ~1.5x the CPU per GiB of a full window
    if (this.#recvOutstanding <= this.#window >> 3) this.#starved = true
    this.bytesIn += d.length
    this.init.onBytes?.(d.length)
    this.init.socket.write(d, (err) => { release?.(); if (!err) this.#accepted(d.length) })
  }

  /**
   * Our socket took `n` bytes: grant them back to the peer in batches of a quarter window. When the peer had run
   * out of credit, or our socket took two windows since the last growth, the window doubles (bounded per stream and
   * by the shared budget), so a fast stream is not held to one window per round trip while a stalled one (whose
   * socket takes nothing) never grows.
   */
  #accepted(n: number): void {
    if (this.#done || this.#remoteEnded) return
    this.#ungranted += n
    this.#sinceGrowth += n
    if (this.#ungranted < Math.max(1, this.#window >> 2)) return
    let grant = this.#ungranted
    this.#ungranted = 0
    const max = this.init.maxRecvWindow ?? this.init.recvWindow
    // a bulk stream (two windows taken by our socket since the last growth) grows too: a peer held to a small
    // window sends frames cut at each grant, and 128-512 KiB VPN_DATA cost both nodes up to 2x the CPU per byte of
    // 1 MiB ones, while waiting to nearly run dry kept bulk downloads at <= 2 MiB windows for their first ~120 MB
    // (vpn bench, 512 MiB: 3.83-4.02 s CPU per GiB against 4.20-4.28 s, interleaved)
    if ((this.#starved || this.#sinceGrowth >= 2 * this.#window) && this.#window < max) {
      const extra = Math.min(this.#window, max - this.#window)
      if (!this.init.budget || this.init.budget.take(extra)) { this.#window += extra; grant += extra; this.#sinceGrowth = 0 }
    }
    this.#starved = false
    const send = (): void => {
      if (this.#done) return
      this.#recvOutstanding += grant
      this.#send(MessageType.VPN_DATA, encodeData({ role: this.init.role, stream: this.init.stream, credit: grant }))
    }
    const wait = this.init.throttle?.(0) ?? 0
    if (wait > 0) (this.init.setTimer ?? defaultTimer)(send, wait)
    else send()
  }

  /** A VPN_CLOSE from the peer for this stream. */
  onClose(m: VpnClose): void {
    if (this.#done) return
    if (m.kind === 'reset') { this.reset(`peer_reset${m.reason ? `: ${m.reason}` : ''}`, false); return }
    this.#remoteEnded = true
    this.init.socket.end()
    this.#maybeDone()
  }

  #maybeDone(): void {
    if (this.#finSent && this.#remoteEnded) this.#finish('closed')
  }

  /** Ends the stream both ways; tells the peer unless it told us. */
  reset(reason: string, tellPeer: boolean): void {
    if (this.#done) return
    if (tellPeer && !this.init.link.closed) {
      try { this.init.link.send(MessageType.VPN_CLOSE, encodeClose({ role: this.init.role, stream: this.init.stream, kind: 'reset', reason })) } catch { /* link gone */ }
    }
    this.init.socket.destroy()
    this.#finish(reason)
  }

  #finish(reason: string): void {
    if (this.#done) return
    this.#done = true
    this.#throttled?.cancel()
    this.#pending = []
    this.#pendingBytes = 0
    // the socket is destroyed or read to its end (#finish comes after both fins or a reset): no read comes any more
    this.#reader?.dispose()
    this.#reader = null
    this.init.budget?.give(this.#window - this.init.recvWindow)
    this.init.onDone(reason)
  }
}
