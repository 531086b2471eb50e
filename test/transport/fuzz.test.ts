/**
 * Property test against a LIVE node over TCP: random, truncated, oversized, mis-signed, wrong-version and replayed
 * frames. The node must never crash, must keep serving an honest peer, and every connection it refuses must be
 * counted under a reason label.
 */
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { test } from 'node:test'
import fc from 'fast-check'
import { AeadKey } from '../../src/crypto/aead.js'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { encodeHandshakeFrame, FrameReader } from '../../src/wire/frame.js'
import { V1Sealer } from '../../src/wire/frame-v1.js'
import { V2Sealer } from '../../src/wire/frame-v2.js'
import { HandshakeInitiator } from '../../src/wire/handshake.js'
import { MessageType } from '../../src/wire/message-types.js'
import { addr, startNode, type TestNode } from './helpers.js'

const PING_ENV = (): Uint8Array => new Uint8Array([0, 0xa1, 0x69, ...new TextEncoder().encode('timestamp'), 0x1b, ...bigBytes(Date.now())])
function bigBytes(n: number): number[] { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return [...b] }

function initiator(version: 1 | 2, identity = Identity.fromSeed(randomBytes(32))): HandshakeInitiator {
  return new HandshakeInitiator({ identity, versions: [version], preferredVersion: version, capabilities: [], suites: ['chacha20-poly1305'], listenPort: 0, maxFrame: 1 << 20, now: () => Date.now() })
}

interface Attack { sock: Socket; closed: Promise<boolean> }

function open(port: number): Promise<Attack> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port })
    const closed = new Promise<boolean>((r) => { sock.on('close', () => r(true)); sock.on('error', () => r(true)) })
    sock.once('connect', () => resolve({ sock, closed }))
    sock.once('error', reject)
  })
}

/** Completes a real handshake as an attacker; returns a sealer for the negotiated version. */
async function session(port: number, version: 1 | 2): Promise<Attack & { seal(t: number, pt: Uint8Array): Buffer; key: Uint8Array }> {
  const identity = Identity.fromSeed(randomBytes(32))
  const ini = initiator(version, identity)
  const a = await open(port)
  a.sock.write(encodeHandshakeFrame(MessageType.HELLO, ini.hello()))
  const keys = await new Promise<{ sendKey: Uint8Array }>((resolve, reject) => {
    const r = new FrameReader({ versions: new Set([0]), maxBody: 4096, onFrame: (f) => {
      const { verify, session: s } = ini.onHelloAck(f.frame.subarray(f.headerLength))
      a.sock.write(encodeHandshakeFrame(MessageType.VERIFY, verify))
      r.stop()
      resolve(s)
    } })
    a.sock.on('data', (d) => { try { r.push(d) } catch (e) { reject(e) } })
    a.closed.then(() => reject(new Error('closed during handshake')))
  })
  if (version === 2) {
    const s = new V2Sealer(new AeadKey('chacha20-poly1305', keys.sendKey))
    return { ...a, key: keys.sendKey, seal: (t, pt) => s.seal(t, pt) }
  }
  const s = new V1Sealer({ key: keys.sendKey, identity })
  return { ...a, key: keys.sendKey, seal: (t, pt) => s.seal(t, pt) }
}

type Case =
  | { kind: 'random'; bytes: Uint8Array; magic: boolean }
  | { kind: 'truncated_hello'; cut: number }
  | { kind: 'oversize'; version: number; length: number }
  | { kind: 'wrong_version'; version: number }
  | { kind: 'tampered'; version: 1 | 2; pos: number }
  | { kind: 'replayed_frame'; version: 1 | 2 }
  | { kind: 'cross_version'; version: 1 | 2 }
  | { kind: 'mis_signed_v1' }
  | { kind: 'replayed_hello' }
  | { kind: 'garbage_in_session'; version: 1 | 2; bytes: Uint8Array }
  | { kind: 'random_batch'; version: 1 | 2; bytes: Uint8Array }

const ver = fc.constantFrom<1 | 2>(1, 2)
const caseArb: fc.Arbitrary<Case> = fc.oneof(
  fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 300 }), magic: fc.boolean() }),
  fc.record({ kind: fc.constant('truncated_hello' as const), cut: fc.integer({ min: 1, max: 250 }) }),
  fc.record({ kind: fc.constant('oversize' as const), version: fc.constantFrom(0, 1, 2), length: fc.integer({ min: (1 << 20) + 1, max: 0xffffffff }) }),
  fc.record({ kind: fc.constant('wrong_version' as const), version: fc.integer({ min: 3, max: 255 }) }),
  fc.record({ kind: fc.constant('tampered' as const), version: ver, pos: fc.nat() }),
  fc.record({ kind: fc.constant('replayed_frame' as const), version: ver }),
  fc.record({ kind: fc.constant('cross_version' as const), version: ver }),
  fc.record({ kind: fc.constant('mis_signed_v1' as const) }),
  fc.record({ kind: fc.constant('replayed_hello' as const) }),
  fc.record({ kind: fc.constant('garbage_in_session' as const), version: ver, bytes: fc.uint8Array({ minLength: 8, maxLength: 200 }) }),
  fc.record({ kind: fc.constant('random_batch' as const), version: ver, bytes: fc.uint8Array({ minLength: 1, maxLength: 300 }) }),
)

/**
 * What the node must do with each case (measured once per kind, then fixed here so a regression fails): close the
 * connection and count one of `reasons`, or keep the session and count one of them (none for a partial frame, which
 * the node holds until more bytes come).
 */
function expected(c: Case): { close: boolean; reasons: string[] } {
  switch (c.kind) {
    case 'random': return { close: true, reasons: ['bad_magic', 'bad_version', 'handshake_timeout', 'oversize', 'bad_handshake', 'bad_frame'] }
    case 'truncated_hello': return { close: true, reasons: ['handshake_timeout'] }
    case 'oversize': return { close: true, reasons: c.version === 0 ? ['oversize'] : ['bad_version'] }
    case 'wrong_version': return { close: true, reasons: ['bad_version'] }
    case 'tampered': return { close: true, reasons: c.version === 1 ? ['bad_signature', 'bad_mac'] : ['bad_mac'] }
    case 'replayed_frame': return { close: true, reasons: ['replayed_seq'] }
    case 'cross_version': return { close: true, reasons: ['bad_version'] }
    case 'mis_signed_v1': return { close: true, reasons: ['bad_signature'] }
    // a HELLO replayed after the freshness window is stale rather than replayed
    case 'replayed_hello': return { close: true, reasons: ['replayed_hello', 'stale_timestamp'] }
    case 'garbage_in_session': return { close: false, reasons: [] }
    case 'random_batch': return { close: false, reasons: ['bad_batch'] }
  }
}

async function labels(n: TestNode): Promise<Map<string, number>> {
  const m = await n.cm.metrics.refusals.get()
  return new Map(m.values.map((v) => [String(v.labels.reason), v.value]))
}

const counted = (before: Map<string, number>, now: Map<string, number>, reasons: string[]): boolean =>
  reasons.some((r) => (now.get(r) ?? 0) > (before.get(r) ?? 0))

/** Resolves with `p`, or fails after a generous bound (a hang is a failure, not a wait for the suite timeout). */
function within<T>(p: Promise<T>, what: string, ms = 30_000): Promise<T> {
  let t: NodeJS.Timeout | undefined
  return Promise.race([p, new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`timed out waiting: ${what}`)), ms) })]).finally(() => clearTimeout(t))
}

async function waitForAsync(cond: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

async function refusalTotal(n: TestNode): Promise<number> {
  const m = await n.cm.metrics.refusals.get()
  for (const v of m.values) assert.match(String(v.labels.reason), /^[a-z_]+$/, 'every refusal has a reason label')
  return m.values.reduce((s, v) => s + v.value, 0)
}

const hellos: Buffer[] = []

async function run(port: number, c: Case): Promise<Attack> {
  switch (c.kind) {
    case 'random': {
      const a = await open(port)
      a.sock.write(c.magic ? Buffer.concat([Buffer.from([0x5a, 0x45]), c.bytes]) : Buffer.from(c.bytes[0] === 0x5a ? [0x00, ...c.bytes] : c.bytes))
      return a
    }
    case 'truncated_hello': {
      const a = await open(port)
      const h = encodeHandshakeFrame(MessageType.HELLO, initiator(2).hello())
      a.sock.write(h.subarray(0, Math.min(c.cut, h.length - 1)))
      return a
    }
    case 'oversize': case 'wrong_version': {
      const a = await open(port)
      const p = Buffer.from([0x5a, 0x45, c.version, 1, 0, 0, 0, 0])
      p.writeUInt32BE(c.kind === 'oversize' ? c.length : 4, 4)
      a.sock.write(p)
      return a
    }
    case 'tampered': {
      const s = await session(port, c.version)
      const f = s.seal(MessageType.PING, PING_ENV())
      f[8 + (c.pos % (f.length - 8))]! ^= 0x01
      s.sock.write(f)
      return s
    }
    case 'replayed_frame': {
      const s = await session(port, c.version)
      const f = s.seal(MessageType.PING, PING_ENV())
      s.sock.write(f)
      s.sock.write(f)
      return s
    }
    case 'cross_version': {
      const s = await session(port, c.version)
      const other = c.version === 2 ? new V1Sealer({ key: s.key, identity: Identity.fromSeed(randomBytes(32)) }).seal(1, PING_ENV()) : new V2Sealer(new AeadKey('chacha20-poly1305', s.key)).seal(1, PING_ENV())
      s.sock.write(other)
      return s
    }
    case 'mis_signed_v1': {
      const s = await session(port, 1)
      s.sock.write(new V1Sealer({ key: s.key, identity: Identity.fromSeed(randomBytes(32)) }).seal(1, PING_ENV()))
      return s
    }
    case 'replayed_hello': {
      if (hellos.length === 0) {
        const h = encodeHandshakeFrame(MessageType.HELLO, initiator(2).hello())
        hellos.push(h)
        const first = await open(port)
        first.sock.write(h)
        await new Promise((r) => setTimeout(r, 20))
        first.sock.destroy()
      }
      const a = await open(port)
      a.sock.write(hellos[0]!)
      return a
    }
    case 'random_batch': {
      const s = await session(port, c.version)
      s.sock.write(s.seal(0x0d, c.bytes))
      return s
    }
    case 'garbage_in_session': {
      const s = await session(port, c.version)
      s.sock.write(Buffer.concat([Buffer.from([0x5a, 0x45, c.version, 1, 0, 0, 0, 40]), c.bytes]))
      return s
    }
  }
}

async function honestStillServed(honest: TestNode, target: TestNode): Promise<void> {
  const link = honest.cm.get(target.identity.publicKey)
  assert.ok(link && !link.closed, 'honest link still open')
  assert.ok((await honest.cm.ping(link)) >= 0)
  const r = await link.request(MessageType.SERVICE_REQUEST, new Uint8Array([1, 2, 3]))
  assert.deepEqual([...r.body], [1, 2, 3])
}

/**
 * Links an honest peer to the target. The target's handshake timeout is short (250 ms, so truncated HELLOs close
 * quickly), and on a loaded machine the honest handshake can miss it too: try again until both sides hold the link.
 */
async function honestPeer(t: Parameters<typeof startNode>[0], target: TestNode): Promise<TestNode> {
  const honest = await startNode(t)
  for (let attempt = 1; ; attempt++) {
    const sock = connect({ host: '127.0.0.1', port: addr(target).port, localAddress: '127.0.0.2' })
    t.after(() => { sock.destroy() })
    await new Promise((r) => sock.once('connect', r))
    const link = await honest.cm.adoptStream(sock, { outbound: true, remoteAddr: addr(target) }).catch(() => undefined)
    // the target's side is done once it lists the link; until then its handshake timer may still fire
    await waitForAsync(async () => !link || link.closed || target.cm.get(honest.identity.publicKey)?.closed === false, 'the target to finish the honest handshake')
    if (link && !link.closed && target.cm.get(honest.identity.publicKey)?.closed === false) return honest
    sock.destroy()
    assert.ok(attempt < 100, 'the honest peer could not finish a handshake in 100 tries')
  }
}

test('fuzz: a live node survives hostile frames, refuses each with a reason, and keeps serving an honest peer', async (t) => {
  const target = await startNode(t, { handshakeTimeoutMs: 250, limits: { strikes: 1_000_000, connectsPerSecPerIp: 1e6, connectBurstPerIp: 1e6 } })
  target.router.handle(MessageType.SERVICE_REQUEST, (m) => { m.reply?.(MessageType.SERVICE_RESPONSE, m.body) })
  const honest = await honestPeer(t, target)
  let n = 0
  await fc.assert(fc.asyncProperty(caseArb, async (c) => {
    await refusalTotal(target) // every label so far is well-formed
    const want = expected(c)
    const inSession = 'version' in c && c.kind !== 'oversize' && c.kind !== 'wrong_version'
    for (let attempt = 1; ; attempt++) {
      const before = await labels(target)
      const a = await run(addr(target).port, c)
      // on a loaded machine the attacker's own handshake can miss the 250 ms timeout, and then the attack never ran:
      // that attempt is repeated (a handshake_timeout is never what a case in a session expects)
      const timedOut = async (): Promise<boolean> => inSession && counted(before, await labels(target), ['handshake_timeout'])
      // wait on the event itself (the node's close, or the refusal being counted), never on a fixed delay
      if (want.close) await within(a.closed, `the node closes a ${c.kind} connection`)
      if (want.reasons.length > 0) await waitForAsync(async () => counted(before, await labels(target), want.reasons) || await timedOut(), `a ${want.reasons.join('|')} refusal for ${c.kind}`)
      if (!want.close) await honestStillServed(honest, target)
      if (await timedOut() && !(want.reasons.length > 0 && counted(before, await labels(target), want.reasons))) {
        a.sock.destroy()
        assert.ok(attempt < 50, `the attacker's handshake for ${c.kind} timed out 50 times`)
        continue
      }
      if (!want.close) assert.equal(a.sock.destroyed || a.sock.readableEnded, false, `the node kept a ${c.kind} session open`)
      a.sock.destroy()
      break
    }
    if (++n % 10 === 0) await honestStillServed(honest, target)
  }), { numRuns: 60 })
  await honestStillServed(honest, target)
})

test('fuzz with bans on: the attacking address gets banned, the honest peer is unaffected', async (t) => {
  const target = await startNode(t, { handshakeTimeoutMs: 250, limits: { strikes: 3 } })
  target.router.handle(MessageType.SERVICE_REQUEST, (m) => { m.reply?.(MessageType.SERVICE_RESPONSE, m.body) })
  const honest = await honestPeer(t, target)
  await fc.assert(fc.asyncProperty(caseArb.filter((c) => !('version' in c) || c.kind === 'oversize' || c.kind === 'wrong_version'), async (c) => {
    const a = await run(addr(target).port, c).catch(() => undefined)
    if (a) { await Promise.race([a.closed, new Promise((r) => setTimeout(r, 300))]); a.sock.destroy() }
  }), { numRuns: 12 })
  const m = await target.cm.metrics.refusals.get()
  assert.ok(m.values.some((v) => v.labels.reason === 'banned' && v.value > 0))
  await honestStillServed(honest, target)
})
