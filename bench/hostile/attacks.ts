/**
 * The attacks of the hostile-peers issue as bounded, repeatable generators for the soak benchmark
 * (bench/hostile-soak.ts). Each attack runs from its own loopback source address (127.0.0.2 and up) so a per-IP
 * defence can tell it from the honest peer on 127.0.0.1, counts what it sent and what the victim gave back, and
 * never throws: a failure is a count, the attacker keeps going.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { mkdtempSync, rmSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import type { Link } from '../../src/interfaces/link.js'
import { transportConfigSchema } from '../../src/transport/config.js'
import { ConnectionManager } from '../../src/transport/connection-manager.js'
import { Router } from '../../src/transport/router.js'
import { encodeHandshakeFrame } from '../../src/wire/frame.js'
import { HandshakeInitiator } from '../../src/wire/handshake.js'
import { MessageType } from '../../src/wire/message-types.js'
import { NatMessageType, encodeSignal } from '../../src/nat/messages.js'
import { encodeCandidateSet, ephemeralKey, type Candidate } from '../../src/nat/punch/candidates.js'
import { encodeMessage } from '../../src/dht/messages.js'
import { signRecord, signProvider } from '../../src/dht/record.js'
import { solveDynamicPuzzle } from '../../src/dht/puzzle.js'
import { dhtIdOf } from '../../src/crypto/identity.js'
import { encodeCheque, signCheque } from '../../src/economy/cheque.js'
import { encodeClaim } from '../../src/economy/messages.js'
import { encodeServiceRequest } from '../../src/services/messages.js'

export interface Victim {
  host: string
  port: number
  nodeId: Uint8Array
  httpPort: number
  /** A DHT key the victim stored under its own identity. */
  dhtKey: Uint8Array
  /** A key the victim announced itself as a provider of. */
  providerKey: Uint8Array
}

/** What each attack did: counts by outcome label. */
export type Tally = Record<string, number>

export interface Attack {
  name: string
  /** One round of the attack; resolves when the round is over. */
  round(): Promise<void>
  /** Milliseconds between rounds. */
  everyMs: number
  tally: Tally
  close(): Promise<void>
}

const bump = (t: Tally, k: string, n = 1): void => { t[k] = (t[k] ?? 0) + n }
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** A throwaway attacker endpoint: fresh identity, its own connection manager, links from a chosen source IP. */
class Attacker {
  readonly identity = Identity.fromSeed(randomBytes(32))
  readonly router = new Router()
  readonly dir = mkdtempSync(join(tmpdir(), 'zeone-soak-atk-'))
  readonly cm: ConnectionManager
  constructor(readonly source: string) {
    const config = transportConfigSchema.parse({
      port: 0, host: '127.0.0.1', legacy: false, discover: false, replayFilterBits: 64, replayFilterSaveMs: 3_600_000,
      privateAddresses: 'allow',
      limits: { messagesPerSec: 1e9, messageBurst: 1e9, bytesPerSec: 1e12, byteBurst: 1e12, connectsPerSecPerIp: 1e6, connectBurstPerIp: 1e6, maxConnections: 10_000 },
    })
    this.cm = new ConnectionManager({ identity: this.identity, config, dataDir: this.dir, router: this.router })
  }

  /** TCP from `source` plus the secure handshake; resolves with the link and its raw socket. */
  async link(v: Victim, timeoutMs = 10_000): Promise<{ link: Link; socket: Socket }> {
    const socket = await rawSocket(v, this.source)
    const timer = setTimeout(() => socket.destroy(), timeoutMs)
    try {
      const link = await this.cm.adoptStream(socket, { outbound: true, remoteAddr: { host: v.host, port: v.port }, expectNodeId: v.nodeId })
      return { link, socket }
    } finally { clearTimeout(timer) }
  }

  async close(): Promise<void> {
    await this.cm.stop().catch(() => {})
    rmSync(this.dir, { recursive: true, force: true })
  }
}

function rawSocket(v: Victim, source: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: v.host, port: v.port, localAddress: source, noDelay: true })
    s.once('connect', () => { s.removeListener('error', reject); resolve(s) })
    s.once('error', reject)
  })
}

/** Writes and waits until the victim closes the socket or `ms` pass; resolves true when the victim closed it. */
function sendAndWatch(v: Victim, source: string, chunks: Uint8Array[], ms: number): Promise<{ closed: boolean; received: number }> {
  return new Promise((resolve) => {
    let received = 0
    let closed = false
    const s = connect({ host: v.host, port: v.port, localAddress: source })
    const done = () => { clearTimeout(t); s.destroy(); resolve({ closed, received }) }
    const t = setTimeout(done, ms)
    s.on('connect', () => { for (const c of chunks) s.write(c) })
    s.on('data', (d) => { received += d.length })
    s.on('error', () => {})
    s.on('close', () => { closed = true; done() })
  })
}

function helloFrame(): Buffer {
  const ini = new HandshakeInitiator({
    identity: Identity.fromSeed(randomBytes(32)), versions: [2, 1], preferredVersion: 2, capabilities: [], suites: ['chacha20-poly1305'],
    listenPort: 0, maxFrame: 1 << 20, now: () => Date.now(),
  })
  return encodeHandshakeFrame(MessageType.HELLO, ini.hello())
}

/** 14.3: many completed handshakes from one IP with fresh identities, kept alive. */
export function slotHold(v: Victim, source: string, target = 260): Attack {
  const held: Attacker[] = []
  const tally: Tally = {}
  return {
    name: 'slot_hold', everyMs: 5000, tally,
    async round() {
      for (let i = held.length - 1; i >= 0; i--) {
        if (held[i]!.cm.links().length === 0) { void held[i]!.close(); held.splice(i, 1); bump(tally, 'dropped_by_victim') }
      }
      const want = Math.min(50, target - held.length)
      await Promise.all(Array.from({ length: want }, async () => {
        const a = new Attacker(source)
        try { await a.link(v); held.push(a); bump(tally, 'held') } catch { bump(tally, 'refused'); await a.close() }
      }))
      tally.holding = held.length
    },
    async close() { await Promise.all(held.map((a) => a.close())) },
  }
}

/** 14.4: sessions that each send a maximum-size frame minus its last byte, and hold it. */
export function unfinishedFrames(v: Victim, source: string, sessions = 64, frameBytes = 16 * 1024 * 1024 - 64): Attack {
  const tally: Tally = {}
  const filler = Buffer.alloc(1 << 20, 0x41)
  let live: Attacker[] = []
  return {
    name: 'unfinished_frames', everyMs: 60_000, tally,
    async round() {
      await Promise.all(live.map((a) => a.close()))
      live = []
      await Promise.all(Array.from({ length: sessions }, async () => {
        const a = new Attacker(source)
        live.push(a)
        try {
          const { socket } = await a.link(v)
          // a v2 frame prefix claiming frameBytes, then all but the last byte of it
          const head = Buffer.alloc(16)
          head.writeUInt16BE(0x5a45, 0); head[2] = 2; head[3] = MessageType.PING; head.writeUInt32BE(frameBytes, 4)
          head.writeUInt32BE(0x1000, 8)
          socket.write(head)
          let left = frameBytes - 1
          while (left > 0 && !socket.destroyed) {
            const n = Math.min(left, filler.length)
            if (!socket.write(n === filler.length ? filler : filler.subarray(0, n))) {
              await new Promise<void>((r) => { socket.once('drain', r); socket.once('close', r) })
            }
            left -= n
          }
          bump(tally, socket.destroyed ? 'closed_by_victim' : 'holding_partial_frame')
        } catch { bump(tally, 'refused') }
      }))
    },
    async close() { await Promise.all(live.map((a) => a.close())) },
  }
}

/** 14.9: pre-handshake garbage from one IP (should ban that IP briefly, never identities behind it). */
export function garbage(v: Victim, source: string): Attack {
  const tally: Tally = {}
  return {
    name: 'garbage', everyMs: 1000, tally,
    async round() {
      const r = await sendAndWatch(v, source, [randomBytes(64)], 3000).catch(() => ({ closed: true, received: 0 }))
      bump(tally, r.closed ? 'closed' : 'kept_open')
    },
    async close() {},
  }
}

/** 14.9: one captured HELLO replayed (the first gets an ACK, every later one must not). */
export function replayedHello(v: Victim, source: string): Attack {
  const tally: Tally = {}
  const hello = helloFrame()
  return {
    name: 'replayed_hello', everyMs: 1000, tally,
    async round() {
      const r = await sendAndWatch(v, source, [hello], 1500).catch(() => ({ closed: true, received: 0 }))
      bump(tally, r.received > 8 ? 'answered' : 'refused')
    },
    async close() {},
  }
}

function offer(a: Attacker, to: Uint8Array, candidates: Candidate[]): Uint8Array {
  return encodeCandidateSet({
    from: a.identity.publicKey, to, sid: randomBytes(16), eph: ephemeralKey().publicKey, streamId: 1 + Math.floor(Math.random() * 1e6),
    mapping: 'endpoint-independent', filtering: 'endpoint-independent', candidates, ts: Date.now(),
  }, a.identity)
}

/**
 * 14.1 and 14.2: signed NAT offers whose candidates are not IPs, or name a third party (a UDP and a TCP sink this
 * attack runs on 127.0.0.9, standing for the victim of a reflection attack). Counts what the node sends there.
 */
export function natOffers(v: Victim, source: string, targetHost = '127.0.0.9'): Attack & { start(): Promise<void> } {
  const tally: Tally = { reflected_udp_packets: 0, reflected_udp_bytes: 0, reflected_tcp_connects: 0 }
  let udp: UdpSocket | undefined
  let tcp: Server | undefined
  let a: Attacker | undefined
  let link: Link | undefined
  const ports = { udp: 0, tcp: 0 }
  return {
    name: 'nat_offers', everyMs: 15_000, tally,
    async start() {
      udp = createSocket('udp4')
      udp.on('message', (m) => { tally.reflected_udp_packets!++; tally.reflected_udp_bytes! += m.length })
      await new Promise<void>((r) => udp!.bind(0, targetHost, () => r()))
      ports.udp = udp.address().port
      tcp = createServer((s) => { tally.reflected_tcp_connects!++; s.destroy() })
      await new Promise<void>((r) => tcp!.listen(0, targetHost, () => r()))
      ports.tcp = (tcp.address() as { port: number }).port
    },
    async round() {
      try {
        if (!a || !link || link.closed) { await a?.close(); a = new Attacker(source); link = (await a.link(v)).link }
        const me = a
        const sent: Array<Promise<unknown>> = []
        // 14.1: a second candidate whose host is not an IP literal
        const poison = offer(me, v.nodeId, [
          { kind: 'host', host: '127.0.0.9', port: ports.udp, priority: 1 },
          { kind: 'host', host: 'not-an-ip.invalid', port: 9, priority: 2 },
        ])
        sent.push(link.request(NatMessageType.NAT_SIGNAL_DELIVER, encodeSignal({ v: 1, offer: poison }), { timeoutMs: 5000 }))
        // 14.2: four offers naming the third party (srflx + tcp candidates), about 2.8 KB in all
        for (let i = 0; i < 4; i++) {
          const cands: Candidate[] = []
          for (let j = 0; j < 8; j++) cands.push({ kind: 'srflx', host: targetHost, port: ports.udp, priority: 100 - j })
          cands.push({ kind: 'tcp', host: targetHost, port: ports.tcp, priority: 1 })
          sent.push(link.request(NatMessageType.NAT_SIGNAL_DELIVER, encodeSignal({ v: 1, offer: offer(me, v.nodeId, cands) }), { timeoutMs: 5000 }))
        }
        const r = await Promise.allSettled(sent)
        for (const x of r) bump(tally, x.status === 'fulfilled' ? 'answered' : 'no_answer')
        bump(tally, 'offer_bytes', poison.length * 5)
      } catch { bump(tally, 'link_failed'); link = undefined }
    },
    async close() { udp?.close(); tcp?.close(); await a?.close() },
  }
}

/** 14.6: records and provider records for the victim's own keys, each from a fresh throwaway identity. */
export function dhtSybil(v: Victim, source: string): Attack {
  const tally: Tally = {}
  return {
    name: 'dht_sybil', everyMs: 2000, tally,
    async round() {
      const batch = Array.from({ length: 8 }, async () => {
        const a = new Attacker(source)
        try {
          const { link } = await a.link(v)
          const x = solveDynamicPuzzle(dhtIdOf(a.identity.publicKey), 8)
          const expires = Math.floor(Date.now() / 1000) + 3600
          const rec = signRecord(a.identity, v.dhtKey, randomBytes(64), 1, expires)
          const st = encodeMessage({ t: 'store', x, record: rec })
          const prov = signProvider(a.identity, v.providerKey, [{ host: '127.0.0.2', port: 9 }], undefined, expires)
          const ap = encodeMessage({ t: 'add_provider', x, provider: prov })
          const r = await Promise.allSettled([link.request(st.type, st.body, { timeoutMs: 5000 }), link.request(ap.type, ap.body, { timeoutMs: 5000 })])
          for (const y of r) bump(tally, y.status === 'fulfilled' ? 'answered' : 'no_answer')
        } catch { bump(tally, 'link_failed') } finally { await a.close() }
      })
      await Promise.all(batch)
    },
    async close() {},
  }
}

/** 14.5: answers the victim's DHT lookups with contacts at loopback (its HTTP port), metadata and private addresses. */
export function dhtPoisonContacts(v: Victim, source: string): Attack {
  const tally: Tally = {}
  let a: Attacker | undefined
  let link: Link | undefined
  return {
    name: 'dht_private_contacts', everyMs: 5000, tally,
    async round() {
      try {
        if (!link || link.closed) {
          await a?.close()
          a = new Attacker(source)
          const x = solveDynamicPuzzle(dhtIdOf(a.identity.publicKey), 8)
          const poison = [
            { nodeId: randomBytes(32), addr: { host: '127.0.0.1', port: v.httpPort } },
            { nodeId: randomBytes(32), addr: { host: '169.254.169.254', port: 80 } },
            { nodeId: randomBytes(32), addr: { host: '10.0.0.1', port: 8468 } },
          ]
          const answer = (type: number) => (m: { reply?: (t: number, b: Uint8Array) => boolean }) => {
            bump(tally, 'queries_answered')
            const e = encodeMessage({ t: 'nodes', x, nodes: poison, ...(type === 0x12 ? { records: [] } : {}) })
            m.reply?.(e.type, e.body)
          }
          a.router.handle(0x10, answer(0x10))
          a.router.handle(0x12, answer(0x12))
          link = (await a.link(v)).link
          // introduce ourselves: a FIND_NODE makes the victim observe us as a contact
          const fn = encodeMessage({ t: 'find_node', x, target: randomBytes(20) })
          await link.request(fn.type, fn.body, { timeoutMs: 5000 }).then(() => bump(tally, 'introduced'), () => bump(tally, 'no_answer'))
        }
      } catch { bump(tally, 'link_failed'); link = undefined }
    },
    async close() { await a?.close() },
  }
}

/** 13.A/B: self-signed cheques and claims for huge amounts, then metered echo calls; sums cheques the victim signs us. */
export function moneyForgery(v: Victim, source: string): Attack {
  const tally: Tally = { cheques_from_victim: 0, cheque_credit_from_victim: 0 }
  let a: Attacker | undefined
  let link: Link | undefined
  let serial = 1n
  return {
    name: 'money_forgery', everyMs: 3000, tally,
    async round() {
      try {
        if (!link || link.closed) {
          await a?.close()
          a = new Attacker(source)
          a.router.handle(MessageType.IOU, (m) => {
            tally.cheques_from_victim!++
            bump(tally, 'cheque_bytes_from_victim', m.body.length)
          })
          link = (await a.link(v)).link
        }
        const expires = BigInt(Math.floor(Date.now() / 1000) + 3600)
        for (const amount of [10n ** 12n, 1n << 63n, (1n << 64n) - 1n]) {
          const c = signCheque(a!.identity, { creditor: v.nodeId, amount, serial: serial++, expires })
          link.send(MessageType.IOU, encodeCheque(c))
          bump(tally, 'forged_cheques')
        }
        const claim = encodeClaim(a!.identity, { to: v.nodeId, seq: serial, served: 10n ** 12n, consumed: 0n, paidOut: 0n, ts: BigInt(Date.now()), charged: 10n ** 12n })
        await link.request(MessageType.BALANCE_CLAIM, claim, { timeoutMs: 5000 }).then(() => bump(tally, 'claims_answered'), () => bump(tally, 'claims_refused'))
        for (let i = 0; i < 4; i++) {
          const req = encodeServiceRequest({ serviceName: 'echo', payload: randomBytes(512), budget: 10n ** 6n, requestId: `soak-${serial}-${i}` })
          await link.request(MessageType.SERVICE_REQUEST, req, { timeoutMs: 5000 }).then(() => bump(tally, 'echo_answered'), () => bump(tally, 'echo_refused'))
        }
      } catch { bump(tally, 'link_failed'); link = undefined }
    },
    async close() { await a?.close() },
  }
}

/** 14.8: DNS-rebinding and CSRF shapes against the local HTTP API (the chat API spends credits). */
export function httpForeign(v: Victim): Attack {
  const tally: Tally = {}
  const call = (opts: { method: string; path: string; headers: Record<string, string>; body?: string }): Promise<number> =>
    new Promise((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: v.httpPort, method: opts.method, path: opts.path, headers: opts.headers, timeout: 3000 }, (res) => {
        res.resume(); resolve(res.statusCode ?? 0)
      })
      req.on('upgrade', (_res, sock) => { sock.destroy(); resolve(101) })
      req.on('error', () => resolve(0))
      req.on('timeout', () => { req.destroy(); resolve(0) })
      req.end(opts.body)
    })
  return {
    name: 'http_foreign_origin', everyMs: 1000, tally,
    async round() {
      const body = JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'hi' }] })
      const post = await call({ method: 'POST', path: '/v1/chat/completions', headers: { host: 'evil.example', 'content-type': 'text/plain', origin: 'http://evil.example' }, body })
      bump(tally, post >= 200 && post < 300 ? 'post_accepted' : `post_${post}`)
      const ws = await call({
        method: 'GET', path: '/v1/chat/completions/ws',
        headers: { host: `127.0.0.1:${v.httpPort}`, origin: 'http://evil.example', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString() },
      })
      bump(tally, ws === 101 ? 'ws_accepted' : `ws_${ws}`)
    },
    async close() {},
  }
}

/** Runs every attack on its own cadence until `signal` aborts; each round is awaited before the next of its kind. */
export async function runAttacks(attacks: Attack[], signal: AbortSignal): Promise<void> {
  await Promise.all(attacks.map(async (atk) => {
    while (!signal.aborted) {
      const t0 = Date.now()
      try { await atk.round() } catch { bump(atk.tally, 'round_error') }
      const wait = atk.everyMs - (Date.now() - t0)
      if (wait > 0 && !signal.aborted) await Promise.race([sleep(wait), new Promise((r) => signal.addEventListener('abort', r, { once: true }))])
    }
  }))
}
