/**
 * The exit against a hand-driven client over the in-memory transport, with real TCP destinations on loopback:
 * DNS rebinding, own addresses, stream limits, debt limit, flow-control violations, idle timeout.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Identity } from '../../../src/crypto/identity.js'
import { MemoryNetwork, type MemoryNode } from '../../../src/transport/memory.js'
import type { Link } from '../../../src/interfaces/link.js'
import { VpnExit, type ExitLimits } from '../../../src/services/vpn/exit.js'
import { ExitPolicy } from '../../../src/services/vpn/policy.js'
import { decodeClose, decodeConnectResult, decodeData, encodeConnect, encodeData, Role, type VpnClose, type VpnData } from '../../../src/services/vpn/messages.js'
import { MessageType } from '../../../src/wire/message-types.js'
import { ZeoneError } from '../../../src/util/errors.js'
import type { UsageMeter } from '../../../src/interfaces/services.js'
import { httpServer, pattern, until } from './helpers.js'

const LIMITS: ExitLimits = { maxStreams: 8, maxStreamsPerClient: 2, bytesPerSec: 0, bytesPerSecPerClient: 0, connectTimeoutMs: 5000, idleTimeoutMs: 60_000, window: 65536 }
const seed = (b: number): Uint8Array => new Uint8Array(32).fill(b)

function setup(o: { policy: string[]; resolve?: (h: string) => Promise<string[]>; limits?: Partial<ExitLimits>; self?: string[]; usage?: UsageMeter; seeLink?: (l: Link) => void }) {
  const net = new MemoryNetwork()
  const a: MemoryNode = net.createNode(Identity.fromSeed(seed(1)), { host: 'a', port: 1 })
  const b: MemoryNode = net.createNode(Identity.fromSeed(seed(2)), { host: 'b', port: 1 })
  const exit = new VpnExit({
    policy: new ExitPolicy(o.policy), limits: { ...LIMITS, ...o.limits }, ...(o.resolve ? { resolve: o.resolve } : {}),
    selfAddresses: () => o.self ?? [], ...(o.usage ? { usage: () => o.usage } : {}),
  })
  b.router.handle(MessageType.VPN_CONNECT, (m) => { o.seeLink?.(m.link); return exit.handleConnect(m) })
  b.router.handle(MessageType.VPN_DATA, (m) => exit.onData(m.link, decodeData(m.body)))
  b.router.handle(MessageType.VPN_CLOSE, (m) => exit.onClose(m.link, decodeClose(m.body)))
  const data: VpnData[] = []
  const closes: VpnClose[] = []
  a.router.handle(MessageType.VPN_DATA, (m) => { data.push(decodeData(m.body)) })
  a.router.handle(MessageType.VPN_CLOSE, (m) => { closes.push(decodeClose(m.body)) })
  return { a, b, exit, data, closes, stop: () => { exit.stop(); a.stop(); b.stop() } }
}

async function connect(link: Link, stream: number, host: string, port: number, window = 65536) {
  const r = await link.request(MessageType.VPN_CONNECT, encodeConnect({ stream, host, port, window }))
  return decodeConnectResult(r.body)
}

describe('VPN exit', () => {
  let http: Awaited<ReturnType<typeof httpServer>>
  let keep: NodeJS.Timeout
  before(async () => { http = await httpServer(pattern(256 * 1024)); keep = setInterval(() => {}, 1000) })
  after(async () => { clearInterval(keep); await http.close() })

  it('checks the resolved address on every connect: a name that rebinds to another loopback address is refused', async () => {
    let calls = 0
    const t = setup({ policy: [`accept 127.0.0.1:${http.port}`], resolve: async () => (++calls === 1 ? ['127.0.0.1'] : ['127.0.0.2']) })
    try {
      const link = await t.a.dial(t.b.addr)
      assert.equal((await connect(link, 1, 'rebind.example', http.port)).rep, 0)
      const second = await connect(link, 2, 'rebind.example', http.port)
      assert.equal(second.rep, 2)
      assert.match(second.reason!, /127\.0\.0\.2.*loopback/)
      assert.equal(calls, 2)
      // a name resolving to a mix connects only to the allowed address; all-private is refused with every reason
      const mixed = setup({ policy: [], resolve: async () => ['10.0.0.1', '169.254.169.254', '::1', 'not-an-ip'] })
      const l2 = await mixed.a.dial(mixed.b.addr)
      const r = await connect(l2, 1, 'evil.example', 80)
      assert.equal(r.rep, 2)
      assert.match(r.reason!, /10\.0\.0\.1.*private.*169\.254\.169\.254.*metadata/)
      mixed.stop()
    } finally { t.stop() }
  })

  it('keeps one close listener per link however often its streams all close and new ones open', async () => {
    let listeners = 0
    const counted = new WeakSet<Link>()
    // count the exit's registrations on the link it serves (the link a handler sees)
    const t = setup({
      policy: [`accept 127.0.0.1:${http.port}`],
      seeLink: (l) => {
        if (counted.has(l)) return
        counted.add(l)
        const on = l.onClose.bind(l)
        l.onClose = (cb) => { listeners++; return on(cb) }
      },
    })
    try {
      const link = await t.a.dial(t.b.addr)
      const { encodeClose } = await import('../../../src/services/vpn/messages.js')
      for (let i = 1; i <= 5; i++) {
        assert.equal((await connect(link, i, '127.0.0.1', http.port)).rep, 0)
        link.send(MessageType.VPN_CLOSE, encodeClose({ role: Role.client, stream: i, kind: 'reset' }))
        await until(() => t.exit.streams === 0, `stream ${i} closed`)
      }
      assert.equal(listeners, 1)
    } finally { t.stop() }
  })

  it("refuses the node's own public addresses, DNS failures as host unreachable, closed ports as refused", async () => {
    const t = setup({ policy: [`accept 127.0.0.1:${http.port}`], self: ['203.0.114.7'], resolve: async (h) => { if (h === 'self.example') return ['203.0.114.7']; throw new Error('ENOTFOUND') } })
    try {
      const link = await t.a.dial(t.b.addr)
      const own = await connect(link, 1, '203.0.114.7', 443)
      assert.equal(own.rep, 2)
      assert.match(own.reason!, /own address/)
      assert.equal((await connect(link, 2, 'self.example', 443)).rep, 2)
      assert.equal((await connect(link, 3, 'nx.example', 443)).rep, 4)
      const closed = setup({ policy: ['accept 127.0.0.1:1'] })
      const l2 = await closed.a.dial(closed.b.addr)
      assert.equal((await connect(l2, 1, '127.0.0.1', 1)).rep, 5)
      closed.stop()
    } finally { t.stop() }
  })

  it('enforces per-client stream limits, stream-id reuse and the debt limit', async () => {
    let broke = false
    const usage: UsageMeter = {
      authorize() { if (broke) throw new ZeoneError('debt_limit', 'peer owes too much') },
      record: () => 0n,
    }
    const t = setup({ policy: [`accept 127.0.0.1:${http.port}`], usage })
    try {
      const link = await t.a.dial(t.b.addr)
      assert.equal((await connect(link, 1, '127.0.0.1', http.port)).rep, 0)
      assert.equal((await connect(link, 1, '127.0.0.1', http.port)).reason?.split(':')[0], 'stream_in_use')
      assert.equal((await connect(link, 2, '127.0.0.1', http.port)).rep, 0)
      const third = await connect(link, 3, '127.0.0.1', http.port)
      assert.equal(third.rep, 1)
      assert.match(third.reason!, /^client_streams/)
      assert.equal(t.exit.streams, 2)
      link.send(MessageType.VPN_CLOSE, (await import('../../../src/services/vpn/messages.js')).encodeClose({ role: Role.client, stream: 1, kind: 'reset' }))
      await until(() => t.exit.streams === 1, 'stream 1 closed')
      assert.equal((await connect(link, 3, '127.0.0.1', http.port)).rep, 0)
      broke = true
      const owing = await connect(link, 4, '127.0.0.1', http.port)
      assert.equal(owing.rep, 2)
      assert.match(owing.reason!, /^debt_limit/)
    } finally { t.stop() }
  })

  it('resets a stream whose client sends beyond the granted window, and only that stream', async () => {
    const t = setup({ policy: [`accept 127.0.0.1:${http.port}`], limits: { window: 1000 } })
    try {
      const link = await t.a.dial(t.b.addr)
      const ok = await connect(link, 1, '127.0.0.1', http.port)
      assert.equal(ok.window, 1000)
      assert.equal((await connect(link, 2, '127.0.0.1', http.port)).rep, 0)
      // 1000 is the whole window; 1001 bytes are a violation
      link.send(MessageType.VPN_DATA, encodeData({ role: Role.client, stream: 1, data: new Uint8Array(1001).fill(32) }))
      await until(() => t.closes.some((c) => c.stream === 1 && c.kind === 'reset'), 'reset of stream 1')
      assert.match(t.closes.find((c) => c.stream === 1)!.reason!, /flow_violation/)
      assert.equal(t.exit.streams, 1)
      // stream 2 still carries an HTTP exchange
      link.send(MessageType.VPN_DATA, encodeData({ role: Role.client, stream: 2, data: Buffer.from('GET /bytes/1000 HTTP/1.0\r\n\r\n') }))
      await until(() => t.data.filter((d) => d.stream === 2 && d.data).reduce((n, d) => n + d.data!.length, 0) > 1000, 'stream 2 response')
      // credit beyond the 16 MiB window cap is a violation too
      link.send(MessageType.VPN_DATA, encodeData({ role: Role.client, stream: 2, credit: 16 * 1024 * 1024 }))
      await until(() => t.closes.some((c) => c.stream === 2 && c.kind === 'reset'), 'reset of stream 2')
    } finally { t.stop() }
  })

  it('never sends beyond the window the client granted (a client that stops granting stalls its stream)', async () => {
    const t = setup({ policy: [`accept 127.0.0.1:${http.port}`] })
    try {
      const link = await t.a.dial(t.b.addr)
      assert.equal((await connect(link, 1, '127.0.0.1', http.port, 10_000)).rep, 0)
      link.send(MessageType.VPN_DATA, encodeData({ role: Role.client, stream: 1, data: Buffer.from('GET /bytes/200000 HTTP/1.0\r\n\r\n') }))
      const got = (): number => t.data.filter((d) => d.stream === 1 && d.data).reduce((n, d) => n + d.data!.length, 0)
      await until(() => got() === 10_000, 'the first window')
      // the exit's socket reading resumes only on credit: grant 5000 and exactly 5000 more arrive
      link.send(MessageType.VPN_DATA, encodeData({ role: Role.client, stream: 1, credit: 5000 }))
      await until(() => got() === 15_000, 'the credit')
      await new Promise((r) => setTimeout(r, 50))
      assert.equal(got(), 15_000)
    } finally { t.stop() }
  })

  it('closes idle streams', async () => {
    const t = setup({ policy: [`accept 127.0.0.1:${http.port}`], limits: { idleTimeoutMs: 30 } })
    try {
      const link = await t.a.dial(t.b.addr)
      assert.equal((await connect(link, 1, '127.0.0.1', http.port)).rep, 0)
      await until(() => t.closes.some((c) => c.stream === 1 && c.reason === 'idle_timeout'), 'idle reset')
      assert.equal(t.exit.streams, 0)
    } finally { t.stop() }
  })
})
