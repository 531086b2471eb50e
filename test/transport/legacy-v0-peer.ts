/**
 * A v0 (Python ZEONE) peer for tests, written independently of src/wire/legacy*: it frames JSON with a 4-byte
 * length, signs Python's `json.dumps(sort_keys=True, separators=(',', ':'))` of {type, payload, sender_id,
 * timestamp, nonce} and sends the message dict compactly in insertion order. Numbers it parses keep their text.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import sodium from 'sodium-native'

const NUM = '\u0000N'
/** A number written with this exact text. */
export const num = (text: string): string => `${NUM}${text}`
/** Python's repr of a time.time()-like float. */
export const pyTime = (ms: number): string => { const s = ms / 1000; return num(Number.isInteger(s) ? `${s}.0` : String(s)) }

function dumps(v: unknown, sort: boolean): string {
  if (v === null) return 'null'
  if (typeof v === 'boolean') return String(v)
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v)
  if (typeof v === 'string') {
    if (v.startsWith(NUM)) return v.slice(NUM.length)
    return '"' + v.replace(/[\\"]|[^\x20-\x7e]/g, (c) => (c === '\\' || c === '"' ? `\\${c}` : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)) + '"'
  }
  if (Array.isArray(v)) return `[${v.map((x) => dumps(x, sort)).join(',')}]`
  const o = v as Record<string, unknown>
  const keys = Object.keys(o)
  if (sort) keys.sort()
  return `{${keys.map((k) => `${dumps(k, sort)}:${dumps(o[k], sort)}`).join(',')}}`
}

/** JSON.parse, but every number becomes a `num(text)` marker string. */
export function parseKeepNumbers(text: string): Record<string, unknown> {
  const marked = text.replace(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g, (m) => (m.startsWith('"') ? m : `"\\u0000N${m}"`))
  return JSON.parse(marked) as Record<string, unknown>
}

export interface V0Msg { type: string; payload: Record<string, unknown>; sender_id: string; timestamp: string; signature: string; nonce: string; verified: boolean; bytes?: number }

export class V0Keys {
  readonly pk = Buffer.alloc(32)
  readonly sk = Buffer.alloc(64)
  constructor(seed?: Buffer) {
    if (seed) sodium.crypto_sign_seed_keypair(this.pk, this.sk, seed)
    else sodium.crypto_sign_keypair(this.pk, this.sk)
  }
  get id(): string { return this.pk.toString('base64') }
}

export interface SendOpts { timestampMs?: number; timestamp?: string; nonce?: string; keys?: V0Keys; senderId?: string; corruptSignature?: boolean }

export class V0Peer {
  readonly keys: V0Keys
  socket: Socket | undefined
  readonly inbox: V0Msg[] = []
  #waiters: Array<() => void> = []
  #buf = Buffer.alloc(0)
  closed = false
  /** Bytes of JSON (frame bodies) received and sent, as a v1.2.4 node meters them for BALANCE_CLAIM. */
  bytesIn = 0
  bytesOut = 0
  /** When set, messages go here instead of the inbox (an event-driven v0 node). */
  onMessage: ((m: V0Msg, bodyBytes: number) => void) | undefined

  constructor(keys = new V0Keys()) { this.keys = keys }

  attach(socket: Socket): void {
    this.socket = socket
    socket.on('data', (c: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, c])
      while (this.#buf.length >= 4) {
        const len = this.#buf.readUInt32BE(0)
        if (this.#buf.length < 4 + len) break
        const text = this.#buf.subarray(4, 4 + len).toString('utf8')
        this.#buf = this.#buf.subarray(4 + len)
        this.#receive(text, len)
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => { this.closed = true; this.#wake() })
  }

  static async connect(port: number, keys?: V0Keys): Promise<V0Peer> {
    const p = new V0Peer(keys)
    const s = connect({ host: '127.0.0.1', port })
    await new Promise<void>((res, rej) => { s.once('connect', res); s.once('error', rej) })
    p.attach(s)
    return p
  }

  #receive(text: string, len: number): void {
    const o = parseKeepNumbers(text) as unknown as V0Msg
    const signed = dumps({ type: o.type, payload: o.payload, sender_id: o.sender_id, timestamp: o.timestamp, nonce: o.nonce }, true)
    o.verified = sodium.crypto_sign_verify_detached(Buffer.from(o.signature, 'base64'), Buffer.from(signed), Buffer.from(o.sender_id, 'base64'))
    o.bytes = len
    if (o.verified) this.bytesIn += len
    if (this.onMessage) { if (o.verified) this.onMessage(o, len); return }
    this.inbox.push(o)
    this.#wake()
  }

  #wake(): void { for (const w of this.#waiters.splice(0)) w() }

  /** Builds the frame a Python node would send. */
  frame(type: string, payload: Record<string, unknown>, o: SendOpts = {}): Buffer {
    const keys = o.keys ?? this.keys
    const nonce = o.nonce ?? randomNonce().toString('base64')
    const timestamp = o.timestamp ?? pyTime(o.timestampMs ?? Date.now())
    const senderId = o.senderId ?? keys.id
    const signed = dumps({ type, payload, sender_id: senderId, timestamp, nonce }, true)
    const sig = Buffer.alloc(64)
    sodium.crypto_sign_detached(sig, Buffer.from(signed), keys.sk)
    if (o.corruptSignature) sig[0]! ^= 1
    const body = Buffer.from(dumps({ type, payload, sender_id: senderId, timestamp, signature: sig.toString('base64'), nonce }, false))
    const head = Buffer.alloc(4)
    head.writeUInt32BE(body.length)
    return Buffer.concat([head, body])
  }

  send(type: string, payload: Record<string, unknown>, o: SendOpts = {}): string {
    const f = this.frame(type, payload, o)
    this.bytesOut += f.length - 4
    this.socket!.write(f)
    return (parseKeepNumbers(f.subarray(4).toString()) as { nonce: string }).nonce
  }

  /** Waits for the next message of `type` (removing it from the inbox). */
  async next(type: string, timeoutMs = 5000): Promise<V0Msg> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type)
      if (i >= 0) return this.inbox.splice(i, 1)[0]!
      if (this.closed) throw new Error(`connection closed while waiting for ${type}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out waiting for ${type}`)
      await new Promise<void>((res) => { const t = setTimeout(res, left); this.#waiters.push(() => { clearTimeout(t); res() }) })
    }
  }

  /** Resolves when the other side closes the connection. */
  async whenClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.closed) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error('connection still open')
      await new Promise<void>((res) => { const t = setTimeout(res, left); this.#waiters.push(() => { clearTimeout(t); res() }) })
    }
  }

  /** The v0 dialer's handshake: PING, then the PONG. */
  async handshake(): Promise<V0Msg> {
    const nonce = this.send('PING', {})
    const pong = await this.next('PONG')
    if (pong.payload.original_nonce !== nonce) throw new Error('PONG for another nonce')
    return pong
  }

  close(): void { this.socket?.destroy() }
}

function randomNonce(): Buffer { const b = Buffer.alloc(16); sodium.randombytes_buf(b); return b }

/** A listening v0 node: answers PING with PONG, BALANCE_CLAIM with BALANCE_ACK, echo SERVICE_REQUESTs, DISCOVER. */
export class V0Server {
  server: Server
  readonly peers: V0Peer[] = []
  readonly keys = new V0Keys()
  constructor() {
    this.server = createServer((s) => {
      const p = new V0Peer(this.keys)
      p.attach(s)
      this.peers.push(p)
      s.on('data', () => setImmediate(() => this.#serve(p)))
    })
  }
  #serve(p: V0Peer): void {
    for (const m of p.inbox.splice(0)) {
      if (!m.verified) continue
      if (m.type === 'PING') p.send('PONG', { original_nonce: m.nonce, ping_timestamp: m.timestamp })
      else if (m.type === 'BALANCE_CLAIM') p.send('BALANCE_ACK', { acknowledged: true, our_balance: num('0.0'), peer_claimed: m.payload.claimed_balance, status: 'ok' })
      else if (m.type === 'SERVICE_REQUEST') {
        p.send('SERVICE_RESPONSE', { success: m.payload.service_name === 'echo', result: m.payload.payload, cost: num('0.0'),
          execution_time: num('0.001'), request_id: m.payload.request_id, error: null, provider_id: this.keys.id })
      } else if (m.type === 'DISCOVER') p.send('PEER_LIST', { peers: [{ node_id: new V0Keys().id, host: '127.0.0.1', port: 9, trust_score: num('0.5'), last_seen: pyTime(Date.now()) }], total_known: 1 })
      else if (m.type === 'DATA' && (m.payload as { dht?: boolean }).dht === true && m.payload.dht_request) {
        const req = m.payload.dht_request as { type: string; target_id?: string }
        p.send('DATA', { dht: true, dht_response: { type: `${req.type}_RESPONSE`, nodes: [{ node_id: req.target_id ?? '', host: '127.0.0.1', port: num('8468'), last_seen: pyTime(Date.now()) }] }, nonce: m.payload.nonce }, { nonce: m.payload.nonce as string })
      } else p.inbox.push(m)
    }
  }
  async listen(): Promise<number> {
    await new Promise<void>((res) => this.server.listen(0, '127.0.0.1', res))
    return (this.server.address() as { port: number }).port
  }
  async close(): Promise<void> {
    for (const p of this.peers) p.close()
    await new Promise<void>((res) => this.server.close(() => res()))
  }
}
