/**
 * The exit's bandwidth limits (per client and in total) hold a bulk stream to its rate. Driven by an injected clock
 * and timer: the test sees each wait the pacer asks for and lets the clock run only as far as that wait, so the
 * rate is checked against the clock, never against how fast this machine happens to be. A pacer that is bypassed
 * (no wait asked) lets the whole download through before the first wait, which the test refuses.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { Identity } from '../../../src/crypto/identity.js'
import { MemoryNetwork } from '../../../src/transport/memory.js'
import { VpnExit, type ExitLimits } from '../../../src/services/vpn/exit.js'
import { ExitPolicy } from '../../../src/services/vpn/policy.js'
import { decodeClose, decodeConnectResult, decodeData, encodeConnect, MAX_DATA } from '../../../src/services/vpn/messages.js'
import { MessageType } from '../../../src/wire/message-types.js'
import { until } from './helpers.js'

const TOTAL = 8 * 1024 * 1024
const RATE = 1024 * 1024
const seed = (b: number): Uint8Array => new Uint8Array(32).fill(b)

async function paced(limits: Partial<ExitLimits>): Promise<void> {
  const src = createServer((s) => { s.on('error', () => {}); s.end(Buffer.alloc(TOTAL, 0x5a)) })
  await new Promise<void>((r) => src.listen(0, '127.0.0.1', () => r()))
  const port = (src.address() as { port: number }).port
  let clock = 0
  const timers: Array<{ fn: () => void; ms: number; cancelled: boolean }> = []
  const net = new MemoryNetwork()
  const a = net.createNode(Identity.fromSeed(seed(1)), { host: 'a', port: 1 })
  const b = net.createNode(Identity.fromSeed(seed(2)), { host: 'b', port: 1 })
  const exit = new VpnExit({
    policy: new ExitPolicy([`accept 127.0.0.1:${port}`]),
    limits: { maxStreams: 8, maxStreamsPerClient: 8, bytesPerSec: 0, bytesPerSecPerClient: 0, connectTimeoutMs: 5000, idleTimeoutMs: 600_000, window: 16 << 20, ...limits },
    now: () => clock,
    setTimer: (fn, ms) => { const t = { fn, ms, cancelled: false }; timers.push(t); return { cancel: () => { t.cancelled = true } } },
  })
  b.router.handle(MessageType.VPN_CONNECT, exit.handleConnect)
  b.router.handle(MessageType.VPN_DATA, (m) => exit.onData(m.link, decodeData(m.body)))
  b.router.handle(MessageType.VPN_CLOSE, (m) => exit.onClose(m.link, decodeClose(m.body)))
  let got = 0
  a.router.handle(MessageType.VPN_DATA, (m) => { got += decodeData(m.body).data?.length ?? 0 })
  try {
    const link = await a.dial(b.addr)
    // the client grants the whole download at once: only the pacer can hold the stream back
    const r = decodeConnectResult((await link.request(MessageType.VPN_CONNECT, encodeConnect({ stream: 1, host: '127.0.0.1', port, window: 16 << 20 }))).body)
    assert.equal(r.rep, 0)
    await until(() => timers.length > 0 || got >= TOTAL, 'a pacer wait or the whole download')
    assert.ok(timers.length > 0, `the pacer asked for no wait: all ${got} bytes went through unpaced`)
    // before the first wait: at most the burst (the rate, >= 256 KiB) plus the chunk that went into debt
    assert.ok(got <= Math.max(RATE, 256 * 1024) + MAX_DATA, `${got} bytes before the first wait`)
    // run the clock exactly as far as each wait asks, firing it, until everything arrived
    while (got < TOTAL) {
      const t = timers.shift()
      if (!t) { await new Promise((r2) => setImmediate(r2)); continue }
      if (t.cancelled) continue
      clock += t.ms
      t.fn()
      await new Promise((r2) => setImmediate(r2))
    }
    assert.equal(got, TOTAL)
    // the clock had to run for the bytes beyond the burst at the configured rate
    const minMs = ((TOTAL - Math.max(RATE, 256 * 1024) - MAX_DATA) / RATE) * 1000
    assert.ok(clock >= minMs, `${TOTAL} bytes took ${clock} ms of the injected clock; the rate allows no less than ${minMs}`)
  } finally {
    exit.stop(); a.stop(); b.stop()
    await new Promise<void>((r) => src.close(() => r()))
  }
}

test('the per-client bandwidth limit paces a bulk stream to its rate (injected clock)', () => paced({ bytesPerSecPerClient: RATE }))
test('the total bandwidth limit paces a bulk stream to its rate (injected clock)', () => paced({ bytesPerSec: RATE }))
