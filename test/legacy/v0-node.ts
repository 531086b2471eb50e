/**
 * A whole v0 (Python ZEONE v1.2.4) node for tests, written from /work/shared/legacy-protocol.md and independent of
 * src/: it listens, dials its bootstrap twice (node start, then Kademlia bootstrap with FIND_NODE of itself), sends
 * DISCOVER on every link at connect and every `discoverIntervalMs`, dials the PEER_LIST entries it does not know,
 * lists peers by the address their connection came from (inbound: the ephemeral source port), reads sender_host /
 * sender_port from every DHT request (a request without them gets no answer, like the Python KeyError), claims its
 * real byte totals and answers 'agreed' or logs a dispute, and echoes with request_id/requester_id added to dicts.
 * It reproduces the v1.2.4 duplicate bug: when one of two connections of a peer closes, the peer is removed and
 * never pinged or DISCOVERed again although the other connection stays open.
 */
import { createHash } from 'node:crypto'
import { connect, createServer, type Server } from 'node:net'
import sodium from 'sodium-native'
import { num, pyTime, V0Keys, V0Peer, type V0Msg } from '../transport/legacy-v0-peer.js'

export interface V0NodeOptions {
  /** @default 300 */
  discoverIntervalMs?: number
  /** BALANCE_CLAIM on every link this often (besides the one after each handshake). @default 0 (never) */
  claimIntervalMs?: number
  /** Bytes by which claimed and metered totals may differ before a dispute is logged. @default 8192 */
  claimToleranceBytes?: number
}

interface Conn { peer: V0Peer; outbound: boolean; host: string; port: number; id?: string }
interface Dispute { peer: string; claimedSent: number; metered: number; claimedReceived: number; sent: number }

const sha1hex = (b: Buffer): string => createHash('sha1').update(b).digest('hex')
const str = (v: unknown): number => Number(typeof v === 'string' && v.startsWith('\u0000N') ? v.slice(2) : v)
const floatText = (x: number): string => num(Number.isInteger(x) ? `${x}.0` : String(x))

export class V0Node {
  readonly keys = new V0Keys()
  readonly dhtId = sha1hex(this.keys.pk)
  readonly host = '127.0.0.1'
  port = 0
  readonly conns = new Set<Conn>()
  /** The peer table: node id -> its connections. Removed peers are gone from here. */
  readonly peers = new Map<string, Conn[]>()
  /** Peers removed because one of their connections closed. */
  readonly removed = new Set<string>()
  /** DHT routing learned from sender fields: dht id -> listening address. */
  readonly routing = new Map<string, { host: string; port: number }>()
  readonly store = new Map<string, string>()
  readonly disputes: Dispute[] = []
  readonly agreedAcks: string[] = []
  /** DHT requests that failed like the Python handler (missing sender_host). */
  dhtKeyErrors = 0
  discoversSent = 0
  #opts: Required<V0NodeOptions>
  #server: Server | undefined
  #timers: NodeJS.Timeout[] = []
  #dialed = new Set<string>()
  #pending = new Map<string, (p: Record<string, unknown>) => void>()

  constructor(opts: V0NodeOptions = {}) {
    this.#opts = { discoverIntervalMs: opts.discoverIntervalMs ?? 300, claimIntervalMs: opts.claimIntervalMs ?? 0, claimToleranceBytes: opts.claimToleranceBytes ?? 8192 }
  }

  get nodeId(): string { return this.keys.id }

  async start(bootstrap?: { host: string; port: number }): Promise<void> {
    this.#server = createServer((s) => this.#adopt(new V0Peer(this.keys), false, s.remoteAddress ?? '?', s.remotePort ?? 0, s))
    await new Promise<void>((res) => this.#server!.listen(0, this.host, res))
    this.port = (this.#server.address() as { port: number }).port
    this.#timers.push(setInterval(() => this.#discoverAll(), this.#opts.discoverIntervalMs))
    if (this.#opts.claimIntervalMs > 0) this.#timers.push(setInterval(() => this.#claimAll(), this.#opts.claimIntervalMs))
    if (bootstrap) {
      await this.dial(bootstrap) // node start
      const kad = await this.dial(bootstrap) // Kademlia bootstrap: the same peer again
      this.#dhtRequest(kad, { type: 'FIND_NODE', target_id: this.dhtId }).catch(() => {})
    }
  }

  async dial(addr: { host: string; port: number }): Promise<Conn> {
    const s = connect({ host: addr.host, port: addr.port })
    await new Promise<void>((res, rej) => { s.once('connect', res); s.once('error', rej) })
    const peer = new V0Peer(this.keys)
    const c = this.#adopt(peer, true, addr.host, addr.port, s)
    const nonce = peer.send('PING', {})
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error('v0 handshake timed out')), 5000)
      this.#pending.set(`pong:${nonce}`, () => { clearTimeout(t); res() })
    })
    return c
  }

  #adopt(peer: V0Peer, outbound: boolean, host: string, port: number, s: import('node:net').Socket): Conn {
    const c: Conn = { peer, outbound, host, port }
    peer.attach(s)
    this.conns.add(c)
    peer.onMessage = (m, len) => { try { this.#on(c, m, len) } catch { /* a Python handler exception: no answer */ } }
    s.on('close', () => this.#closed(c))
    return c
  }

  #closed(c: Conn): void {
    this.conns.delete(c)
    if (c.id) this.#gone.set(c.id, [...(this.#gone.get(c.id) ?? []), { out: c.peer.bytesOut, in: c.peer.bytesIn }])
    if (c.id && this.peers.has(c.id)) { this.peers.delete(c.id); this.removed.add(c.id) } // the v1.2.4 bug
  }

  #bind(c: Conn, id: string): void {
    c.id = id
    if (this.removed.has(id)) return
    const list = this.peers.get(id) ?? []
    list.push(c)
    this.peers.set(id, list)
    this.#claim(c)
    this.#discover(c)
  }

  #live(c: Conn): boolean { return c.id !== undefined && (this.peers.get(c.id)?.includes(c) ?? false) && !c.peer.closed }

  #discover(c: Conn): void { if (this.#live(c)) { c.peer.send('DISCOVER', { max_peers: 20 }); this.discoversSent++ } }
  #discoverAll(): void { for (const c of this.conns) this.#discover(c) }

  #totals(id: string): { sent: number; recv: number } {
    let sent = 0, recv = 0
    for (const c of this.conns) if (c.id === id) { sent += c.peer.bytesOut; recv += c.peer.bytesIn }
    for (const c of this.#gone.get(id) ?? []) { sent += c.out; recv += c.in }
    return { sent, recv }
  }
  #gone = new Map<string, Array<{ out: number; in: number }>>()

  #claim(c: Conn): void {
    if (!this.#live(c)) return
    const t = this.#totals(c.id!)
    c.peer.send('BALANCE_CLAIM', { claimed_balance: floatText(t.sent - t.recv), total_sent: floatText(t.sent), total_received: floatText(t.recv), timestamp: pyTime(Date.now()) })
  }
  #claimAll(): void { const seen = new Set<string>(); for (const c of this.conns) if (c.id && !seen.has(c.id) && this.#live(c)) { seen.add(c.id); this.#claim(c) } }

  #on(c: Conn, m: V0Msg, len: number): void {
    if (!c.id) {
      if (!c.outbound && m.type === 'PING') {
        c.peer.send('PONG', { original_nonce: m.nonce, ping_timestamp: m.timestamp })
        this.#bind(c, m.sender_id)
      } else if (c.outbound && m.type === 'PONG') {
        const done = this.#pending.get(`pong:${String(m.payload.original_nonce)}`)
        if (!done) return
        this.#pending.delete(`pong:${String(m.payload.original_nonce)}`)
        this.#bind(c, m.sender_id)
        done({})
      }
      return
    }
    if (m.sender_id !== c.id) return
    const p = m.payload
    switch (m.type) {
      case 'PING': c.peer.send('PONG', { original_nonce: m.nonce, ping_timestamp: m.timestamp }); return
      case 'BALANCE_CLAIM': {
        // the claim's own frame is not part of what the peer had sent when it wrote the claim
        const t = this.#totals(c.id)
        const metered = t.recv - len
        const tol = this.#opts.claimToleranceBytes
        const agreed = Math.abs(str(p.total_sent) - metered) <= tol && Math.abs(str(p.total_received) - t.sent) <= tol
        if (!agreed) this.disputes.push({ peer: c.id, claimedSent: str(p.total_sent), metered, claimedReceived: str(p.total_received), sent: t.sent })
        else this.agreedAcks.push(c.id)
        c.peer.send('BALANCE_ACK', { acknowledged: true, our_balance: floatText(t.sent - metered), peer_claimed: p.claimed_balance, status: agreed ? 'agreed' : 'disputed' })
        return
      }
      case 'DISCOVER': {
        if (!this.#live(c)) return
        const list = [...this.peers.entries()].filter(([id]) => id !== c.id).map(([id, cs]) => {
          const via = cs[0]!
          return { node_id: id, host: via.host, port: via.port, trust_score: num('0.5'), last_seen: pyTime(Date.now()) }
        })
        c.peer.send('PEER_LIST', { peers: list, total_known: list.length })
        return
      }
      case 'PEER_LIST':
        for (const e of (p.peers as Array<Record<string, unknown>>) ?? []) {
          const id = String(e.node_id)
          const addr = { host: String(e.host), port: str(e.port) }
          const key = `${addr.host}:${addr.port}`
          if (id === this.nodeId || this.peers.has(id) || this.#dialed.has(key)) continue
          this.#dialed.add(key)
          this.dial(addr).catch(() => {})
        }
        return
      case 'DATA':
        if (p.dht === true && p.dht_request) { this.#serveDht(c, p.dht_request as Record<string, unknown>, String(p.nonce)); return }
        if (p.dht === true && p.dht_response) { this.#pending.get(`dht:${String(p.nonce)}`)?.(p.dht_response as Record<string, unknown>); return }
        return
      case 'SERVICE_REQUEST': {
        let result = p.payload
        if (result && typeof result === 'object' && !Array.isArray(result)) result = { ...result as object, request_id: p.request_id, requester_id: c.id }
        const ok = p.service_name === 'echo'
        c.peer.send('SERVICE_RESPONSE', { success: ok, result: ok ? result : null, cost: num('0.0'), execution_time: num('0.001'),
          request_id: p.request_id, error: ok ? null : `Service ${String(p.service_name)} not found`, provider_id: this.nodeId })
        return
      }
      case 'SERVICE_RESPONSE': this.#pending.get(`svc:${String(p.request_id)}`)?.(p); return
      default:
    }
  }

  #serveDht(c: Conn, req: Record<string, unknown>, nonce: string): void {
    if (!('sender_host' in req) || !('sender_port' in req)) { this.dhtKeyErrors++; throw new Error("KeyError('sender_host')") }
    this.routing.set(String(req.sender_id), { host: String(req.sender_host), port: str(req.sender_port) })
    const nodes = [...this.routing.entries()].slice(0, 20).map(([id, a]) => ({ node_id: id, host: a.host, port: a.port, last_seen: pyTime(Date.now()) }))
    let resp: Record<string, unknown>
    if (req.type === 'FIND_NODE') resp = { type: 'FIND_NODE_RESPONSE', nodes }
    else if (req.type === 'FIND_VALUE') {
      const v = this.store.get(String(req.key))
      resp = v !== undefined ? { type: 'FIND_VALUE_RESPONSE', value: v } : { type: 'FIND_VALUE_RESPONSE', nodes }
    } else if (req.type === 'STORE') { this.store.set(String(req.key), String(req.value)); resp = { type: 'STORE_RESPONSE', success: true } }
    else return
    c.peer.send('DATA', { dht: true, dht_response: resp, nonce }, { nonce })
  }

  #dhtRequest(c: Conn, req: Record<string, unknown>): Promise<Record<string, unknown>> {
    const b = Buffer.alloc(12); sodium.randombytes_buf(b)
    const nonce = b.toString('base64')
    return new Promise((res, rej) => {
      const t = setTimeout(() => { this.#pending.delete(`dht:${nonce}`); rej(new Error('v0 dht request timed out')) }, 3000)
      this.#pending.set(`dht:${nonce}`, (r) => { clearTimeout(t); this.#pending.delete(`dht:${nonce}`); res(r) })
      c.peer.send('DATA', { dht: true, dht_request: { ...req, sender_id: this.dhtId, sender_host: this.host, sender_port: this.port }, nonce }, { nonce })
    })
  }

  /** One live connection per known peer. */
  #links(): Conn[] { return [...this.peers.values()].map((cs) => cs.find((c) => !c.peer.closed)).filter((c): c is Conn => c !== undefined) }

  /** Kademlia put in a small network: the value on every known peer and here. */
  async put(keyHex: string, valueHex: string): Promise<number> {
    this.store.set(keyHex, valueHex)
    const r = await Promise.allSettled(this.#links().map((c) => this.#dhtRequest(c, { type: 'STORE', key: keyHex, value: valueHex, ttl: 3600 })))
    return r.filter((x) => x.status === 'fulfilled' && x.value.success === true).length
  }

  async get(keyHex: string): Promise<string | undefined> {
    const local = this.store.get(keyHex)
    if (local !== undefined) return local
    const r = await Promise.allSettled(this.#links().map((c) => this.#dhtRequest(c, { type: 'FIND_VALUE', key: keyHex })))
    for (const x of r) if (x.status === 'fulfilled' && typeof x.value.value === 'string') return x.value.value
    return undefined
  }

  async echo(peerId: string, payload: unknown, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const c = this.peers.get(peerId)?.find((x) => !x.peer.closed)
    if (!c) throw new Error(`no link to ${peerId}`)
    const b = Buffer.alloc(8); sodium.randombytes_buf(b)
    const requestId = b.toString('hex')
    return new Promise((res, rej) => {
      const t = setTimeout(() => { this.#pending.delete(`svc:${requestId}`); rej(new Error('v0 echo timed out')) }, timeoutMs)
      this.#pending.set(`svc:${requestId}`, (r) => { clearTimeout(t); this.#pending.delete(`svc:${requestId}`); res(r) })
      c.peer.send('SERVICE_REQUEST', { service_name: 'echo', payload, budget: num('1.0'), request_id: requestId })
    })
  }

  /** Sends a BALANCE_CLAIM on one link of every peer now. */
  claimNow(): void { this.#claimAll() }

  async stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t)
    for (const c of this.conns) c.peer.close()
    await new Promise<void>((res) => (this.#server ? this.#server.close(() => res()) : res()))
  }
}
