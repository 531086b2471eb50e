/**
 * Issue 24 item 1: one link compliance suite over every stream kind a link runs on (TCP, UDX, relay circuit, UDX
 * through a TURN allocation): bulk data with bytes checked in order, a stalled reader (the sender is held back or the
 * bytes wait at the reader; nothing is lost and the link resumes), and close/errors reaching both links.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { spawn, execFileSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { test } from 'node:test'
import type { Link } from '../../src/interfaces/link.js'
import { natConfigSchema } from '../../src/nat/config.js'
import { RelayService } from '../../src/nat/relay/relay.js'
import { SwitchableStream } from '../../src/nat/relay/switchable.js'
import type { CircuitStream } from '../../src/nat/relay/circuit-stream.js'
import { getUdx, UdxDatagramSocket } from '../../src/nat/socket.js'
import { TurnBridge } from '../../src/nat/turn/bridge.js'
import { TurnClient } from '../../src/nat/turn/client.js'
import { adaptStream, tagTurn, type StreamKind } from '../../src/transport/stream-adapter.js'
import { MessageType } from '../../src/wire/message-types.js'
import { addr, startNode, waitFor, type TestNode } from './helpers.js'

type T = Parameters<typeof startNode>[0]
/** Two raw stream ends; `out` starts the handshake. */
interface Ends { out: Duplex; in: Duplex; kind: StreamKind }
/** `over`: config for both nodes (a small high-water mark so the sender really meets backpressure). */
const HWM = { sendHighWaterMark: 64 * 1024 }

const hasCoturn = (): boolean => { try { execFileSync('sh', ['-c', 'command -v turnserver'], { stdio: 'ignore' }); return true } catch { return false } }

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4')
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r))
  const p = s.address().port
  await new Promise<void>((r) => s.close(() => r()))
  return p
}

const kinds: Array<[StreamKind, (t: T) => Promise<Ends>, string | false]> = [
  ['tcp', async (t) => {
    const server = createServer()
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    t.after(() => new Promise<void>((r) => server.close(() => r())))
    const accepted = new Promise<Socket>((r) => server.once('connection', r))
    const out = netConnect({ host: '127.0.0.1', port: (server.address() as { port: number }).port })
    await new Promise((r) => out.once('connect', r))
    return { out, in: await accepted, kind: 'tcp' }
  }, false],
  ['udx', async (t) => {
    const udx = getUdx()
    const sa = udx.createSocket(), sb = udx.createSocket()
    sa.bind(0, '127.0.0.1'); sb.bind(0, '127.0.0.1')
    const a = udx.createStream(1), b = udx.createStream(2)
    t.after(async () => { a.destroy(); b.destroy(); await sa.close(); await sb.close() })
    a.connect(sa, 2, sb.address()!.port, '127.0.0.1')
    b.connect(sb, 1, sa.address()!.port, '127.0.0.1')
    return { out: a, in: b, kind: 'udx' }
  }, false],
  ['switchable', async (t) => {
    // a relay node R between A and B (real links over TCP); the circuit ends are what NatService adopts
    const cfg = natConfigSchema.parse({ relay: { enabled: true, allowPrivatePeers: true } }).relay
    const r = await startNode(t)
    const ends: TestNode[] = [await startNode(t), await startNode(t)]
    const services = [r, ...ends].map((n) => new RelayService({ config: cfg, router: n.router, links: n.cm }))
    const accepted = new Promise<CircuitStream>((res) => {
      const svc = new RelayService({ config: cfg, router: ends[1]!.router, links: ends[1]!.cm, accept: (_f, s) => { res(s); return true } })
      services[2] = svc
    })
    for (const s of services) s.start()
    t.after(() => { for (const s of services) s.stop() })
    const ar = await ends[0]!.cm.dial(addr(r))
    await ends[1]!.cm.dial(addr(r))
    await waitFor(() => r.cm.links().length === 2, 'both ends linked to the relay')
    const out = new SwitchableStream(await services[1]!.open(ar, ends[1]!.identity.publicKey))
    return { out, in: new SwitchableStream(await accepted), kind: 'switchable' }
  }, false],
  ['turn', async (t) => {
    const port = await freeUdpPort()
    const dir = mkdtempSync(join(tmpdir(), 'zeone-turn-'))
    const coturn = spawn('turnserver', ['-n', '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${port}`,
      '--allow-loopback-peers', '--lt-cred-mech', '--user=k:k', '--realm=kinds.test', '--fingerprint', '--no-tls', '--no-dtls',
      '--no-cli', `--userdb=${dir}/db`, `--pidfile=${dir}/pid`, '--log-file=stdout', '--simple-log'], { stdio: 'ignore' })
    t.after(() => { coturn.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }) })
    const sa = UdxDatagramSocket.bind(0, '127.0.0.1'), sb = UdxDatagramSocket.bind(0, '127.0.0.1')
    const turn = new TurnClient({ socket: sa, server: { host: '127.0.0.1', port }, username: 'k', password: 'k' })
    let alloc: Awaited<ReturnType<TurnClient['allocate']>> | undefined
    for (let i = 0; i < 40 && !alloc; i++) { // coturn may still be starting
      alloc = await turn.allocate().catch(() => undefined)
      if (!alloc) await new Promise((r) => setTimeout(r, 250))
    }
    assert.ok(alloc, 'coturn allocated')
    const bridge = new TurnBridge(turn, '127.0.0.1')
    const proxy = await bridge.start({ host: '127.0.0.1', port: sa.address().port })
    const udx = getUdx()
    const a = udx.createStream(11), b = udx.createStream(22)
    t.after(async () => { a.destroy(); b.destroy(); await bridge.close(); await turn.close(); await sa.close(); await sb.close() })
    a.connect(sa.raw, 22, proxy.port, proxy.host)
    b.connect(sb.raw, 11, alloc.relayed.port, alloc.relayed.host)
    // B talks to the relayed address first (the bridge learns B's port from its first datagram): B starts
    return { out: b, in: tagTurn(a, { host: '127.0.0.1', port }), kind: 'udx' }
  }, !hasCoturn() && 'needs coturn (turnserver)'],
]

async function linkUp(t: T, make: (t: T) => Promise<Ends>): Promise<{ a: Link; b: Link; nb: TestNode; ends: Ends }> {
  const na = await startNode(t, HWM)
  const nb = await startNode(t, HWM)
  const ends = await make(t)
  const inbound = nb.cm.adoptStream(ends.in, { outbound: false, remoteAddr: { host: '127.0.0.1', port: 1 } })
  const a = await na.cm.adoptStream(ends.out, { outbound: true, remoteAddr: { host: '127.0.0.1', port: 2 } })
  return { a, b: await inbound, nb, ends }
}

/** Message `i` of a transfer: its size alternates (large and small writes) and its bytes depend on `i`. */
const message = (i: number): Uint8Array => new Uint8Array(i % 3 === 2 ? 700 : 48 * 1024).fill((i * 37 + 11) & 0xff)

/** Receives until `total` bytes arrived; hashes them in arrival order. */
function receiver(nb: TestNode): { got: () => number; digest: () => string } {
  const h = createHash('sha256')
  let got = 0
  nb.router.handle(MessageType.VPN_DATA, (m) => { h.update(m.body); got += m.body.length })
  return { got: () => got, digest: () => h.copy().digest('hex') }
}

/** Sends messages until `total` bytes, honouring backpressure; returns their hash and how often it had to wait. */
async function send(link: Link, total: number, onWait?: () => void): Promise<{ digest: string; waits: number; sent: number }> {
  const h = createHash('sha256')
  let sent = 0
  let waits = 0
  for (let i = 0; sent < total; i++) {
    const m = message(i)
    h.update(m)
    sent += m.length
    if (!link.send(MessageType.VPN_DATA, m)) { waits++; onWait?.(); await link.whenWritable() }
  }
  return { digest: h.digest('hex'), waits, sent }
}

const unread = (s: Duplex): number => {
  const st = (s as Duplex & { _readableState?: { buffered?: number; length?: number } })._readableState
  return s.readableLength ?? st?.buffered ?? st?.length ?? 0
}

for (const [name, make, skip] of kinds) {
  test(`stream kind ${name}: bulk data arrives whole and in order; the adapter knows the kind`, { skip, timeout: 120_000 }, async (t) => {
    const { a, nb, ends } = await linkUp(t, make)
    assert.equal(adaptStream(ends.in).kind, name)
    const rx = receiver(nb)
    const total = 8 * 1024 * 1024
    const s = await send(a, total)
    await waitFor(() => rx.got() >= s.sent, `all ${s.sent} bytes (got ${rx.got()})`, 100_000)
    assert.equal(rx.got(), s.sent)
    assert.equal(rx.digest(), s.digest)
    assert.ok(s.waits > 0, 'the sender was held back at least once')
  })

  test(`stream kind ${name}: a stalled reader holds the sender back or keeps the bytes; nothing is lost once it reads again`, { skip, timeout: 120_000 }, async (t) => {
    const { a, nb, ends } = await linkUp(t, make)
    const rx = receiver(nb)
    const total = 6 * 1024 * 1024
    const senderAdapter = adaptStream(ends.out)
    let maxQueued = 0
    let blocked = false
    ends.in.pause() // the reader stops reading
    const sending = send(a, total, () => { blocked = true; maxQueued = Math.max(maxQueued, senderAdapter.queued) })
    // either the sender is held back (TCP, circuit: the stream pushes back) or the bytes sit unread at the reader
    // (a udx stream acknowledges what its reader has not read yet)
    let done = false
    void sending.then(() => { done = true })
    await waitFor(() => (blocked && senderAdapter.mustDrain) || unread(ends.in) >= 2 * 1024 * 1024 || done, 'the stall to show', 100_000)
    const gotWhileStalled = rx.got()
    ends.in.resume()
    const s = await sending
    await waitFor(() => rx.got() >= s.sent, `all ${s.sent} bytes after the stall (got ${rx.got()})`, 100_000)
    assert.equal(rx.got(), s.sent)
    assert.equal(rx.digest(), s.digest, 'every byte, in order, exactly once')
    assert.ok(gotWhileStalled < total, 'the reader really stalled before the end of the transfer')
    // the sender never queues without bound (its high-water mark plus what one write may hand the stream)
    assert.ok(maxQueued <= 64 * 1024 + 2 * 1024 * 1024, `sender queue ${maxQueued}`)
  })

  test(`stream kind ${name}: a stream that dies with an error closes both links and wakes a waiting sender`, { skip, timeout: 120_000 }, async (t) => {
    const { a, b, nb, ends } = await linkUp(t, make)
    receiver(nb)
    const aClosed = new Promise<string>((r) => a.onClose(r))
    const bClosed = new Promise<string>((r) => b.onClose(r))
    ends.in.pause()
    // a sender left waiting for a drain when the stream dies must be woken
    const sending = send(a, 64 * 1024 * 1024)
    await waitFor(() => adaptStream(ends.out).mustDrain || unread(ends.in) > 1024 * 1024, 'the sender to wait', 100_000)
    ends.in.destroy(new Error('broken on purpose'))
    assert.match(await bClosed, /broken on purpose/)
    await aClosed
    await sending
    assert.equal(a.closed, true)
    assert.equal(a.send(MessageType.VPN_DATA, new Uint8Array(1)), false)
  })
}
