/**
 * The controlled side's part in the birthday approach (punch.inboundBirthday) must outlive the inbound idle cutoff:
 * behind an address-dependent NAT nothing reaches it until one of the caller's random-port probes hits one of its
 * fresh sockets' mappings, which takes seconds at the polite rates, far longer than `inboundIdleMs`. Real udx sockets
 * on loopback; the caller's port-restricted NAT filter is a wrapper (an injected fault: loopback does not filter), and
 * both sides run on one manual clock, so "the hit comes after the idle cutoff" is exact, not a race with real time.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from '../../src/crypto/sign.js'
import { punch, type PunchResult } from '../../src/nat/punch/puncher.js'
import { NodeDatagramSocket, UdxDatagramSocket, type DatagramSocket, type Rinfo } from '../../src/nat/socket.js'
import { PunchSession } from '../../src/nat/punch/session.js'
import { Identity } from '../../src/crypto/identity.js'
import { natConfigSchema } from '../../src/nat/config.js'
import type { Clock } from '../../src/interfaces/clock.js'

/** A clock the test advances; timers fire in due order. */
function manualClock(): Clock & { advance(ms: number): void } {
  let now = 0
  let timers: { at: number; cb: () => void; live: boolean }[] = []
  return {
    now: () => now,
    setTimeout(cb, ms) {
      const t = { at: now + ms, cb, live: true }
      timers.push(t)
      return { cancel: () => { t.live = false } }
    },
    advance(ms) {
      const end = now + ms
      for (;;) {
        const due = timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0]
        if (!due) break
        now = due.at
        due.live = false
        due.cb()
      }
      timers = timers.filter((t) => t.live)
      now = end
    },
  }
}

/** A port-restricted cone in front of `inner`: datagrams only from addresses `inner` has sent to get through. */
function restrictedFilter(inner: DatagramSocket): DatagramSocket {
  const sentTo = new Set<string>()
  return {
    send(b, port, host) { sentTo.add(`${host}:${port}`); inner.send(b, port, host) },
    onMessage: (cb) => inner.onMessage((buf, from: Rinfo) => { if (sentTo.has(`${from.host}:${from.port}`)) cb(buf, from) }),
    address: () => inner.address(),
    close: async () => {},
  }
}

const holdLoop = (): (() => void) => { const t = setInterval(() => {}, 1000); return () => clearInterval(t) }
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 3))

test('controlled side in a birthday role keeps waiting past inboundIdleMs until the caller\'s spray hits (then both sides punch)', async () => {
  const clock = manualClock()
  const key = randomBytes(32)
  const sid = randomBytes(16)
  const aSock = UdxDatagramSocket.bind(0, '127.0.0.1')
  const bSock = UdxDatagramSocket.bind(0, '127.0.0.1')
  // B's advertised srflx is a mapping the caller cannot reach directly (B's NAT maps per destination)
  const deadEnd = await NodeDatagramSocket.bind(0, '127.0.0.1')
  const bExtra: UdxDatagramSocket[] = []
  const release = holdLoop()
  const IDLE = 300
  const HIT_AT = 1200
  try {
    const bPunch = punch({
      role: 1, key, sid, primary: bSock, selfMapping: 'address-port-dependent', clock,
      remote: { mapping: 'none', candidates: [{ kind: 'srflx', host: '127.0.0.1', port: aSock.address().port, priority: 1 }] },
      birthday: true, birthdaySockets: 4, unsolicitedChecks: 50, idleMs: IDLE, timeoutMs: 8000,
      openSocket: async () => { const s = UdxDatagramSocket.bind(0, '127.0.0.1'); bExtra.push(s); return s },
    })
    // the caller's random-port probes miss B's sockets until HIT_AT (clock), then aim at B's first birthday socket
    const random = (): number => {
      const target = clock.now() >= HIT_AT && bExtra[0] ? bExtra[0].address().port : deadEnd.address().port
      return (target - 1024 + 0.5) / (65536 - 1024)
    }
    const aPunch = punch({
      role: 0, key, sid, primary: restrictedFilter(aSock), selfMapping: 'none', clock, random,
      remote: { mapping: 'address-port-dependent', candidates: [{ kind: 'srflx', host: '127.0.0.1', port: deadEnd.address().port, priority: 1 }] },
      birthday: true, timeoutMs: 8000, openSocket: async () => { throw new Error('the easy side opens no sockets') },
    })
    const settled: { a?: PunchResult | Error; b?: PunchResult | Error } = {}
    void aPunch.then((r) => { settled.a = r }, (e: Error) => { settled.a = e })
    void bPunch.then((r) => { settled.b = r }, (e: Error) => { settled.b = e })
    let bAtIdle: PunchResult | Error | undefined | 'pending' = 'pending'
    for (let t = 0; t < 9000 && (!settled.a || !settled.b); t += 10) {
      clock.advance(10)
      await tick()
      if (clock.now() === IDLE + 100) bAtIdle = settled.b
    }
    assert.equal(bAtIdle, undefined, 'B was still punching after its idle cutoff (it had heard nothing yet)')
    assert.ok(!(settled.b instanceof Error), `B: ${(settled.b as Error | undefined)?.message}`)
    assert.ok(!(settled.a instanceof Error), `A: ${(settled.a as Error | undefined)?.message}`)
    const a = settled.a as PunchResult
    const b = settled.b as PunchResult
    assert.equal(a.method, 'birthday')
    assert.equal(a.remote.port, bExtra[0]!.address().port, 'the path ends at B\'s birthday socket')
    assert.ok(clock.now() >= HIT_AT, 'the path formed only after the hit')
    assert.ok(bExtra.length <= 4)
    a.dispose(); b.dispose()
  } finally {
    release()
    await Promise.all([aSock.close(), bSock.close(), deadEnd.close(), ...bExtra.map((s) => s.close())])
  }
})

test('a controlled side that heard nothing and runs no birthday role still stops at inboundIdleMs', async () => {
  const clock = manualClock()
  const bSock = UdxDatagramSocket.bind(0, '127.0.0.1')
  const sink = await NodeDatagramSocket.bind(0, '127.0.0.1')
  const release = holdLoop()
  try {
    let err: Error | undefined
    const p = punch({
      role: 1, key: randomBytes(32), sid: randomBytes(16), primary: bSock, selfMapping: 'none', clock,
      remote: { mapping: 'none', candidates: [{ kind: 'srflx', host: '127.0.0.1', port: sink.address().port, priority: 1 }] },
      birthday: false, idleMs: 300, timeoutMs: 8000, openSocket: async () => { throw new Error('none') },
    }).catch((e: Error) => { err = e })
    for (let t = 0; t < 400 && !err; t += 10) { clock.advance(10); await tick() }
    await p
    assert.match(err?.message ?? '', /sent no check/)
    assert.ok(clock.now() <= 400)
  } finally {
    release()
    await Promise.all([bSock.close(), sink.close()])
  }
})

test('defaults: a node takes part in the birthday approach for a caller; a relay candidate counts only at our own TURN servers', async () => {
  assert.equal(natConfigSchema.parse({}).punch.inboundBirthday, true)
  const a = Identity.fromSeed(randomBytes(32))
  const b = Identity.fromSeed(randomBytes(32))
  const sock = UdxDatagramSocket.bind(0, '127.0.0.1')
  const nat = { mapping: 'address-port-dependent' as const, filtering: 'address-port-dependent' as const, publicAddr: { host: '198.51.100.9', port: 1 } }
  const A = new PunchSession({ identity: a, remoteId: b.publicKey, socket: sock, nat, hostCandidates: false,
    candidates: [
      { kind: 'relay', host: '192.0.2.20', port: 50000, priority: 3 }, // at a TURN server B knows
      { kind: 'relay', host: '192.0.2.66', port: 50001, priority: 2 }, // anywhere else
    ] })
  const B = new PunchSession({ identity: b, remoteId: a.publicKey, socket: sock, nat, hostCandidates: false,
    provenHosts: ['203.0.113.5'], trustedRelayHosts: ['192.0.2.20'] })
  B.answer(A.offer())
  assert.deepEqual(B.targets().map((c) => `${c.kind} ${c.host}`), ['relay 192.0.2.20'])
  await sock.close()
})

test('NAT_RELAY_INCOMING `obs`: an IP literal round trips; anything else is refused', async () => {
  const { decodeRelayCtl, encodeRelayCtl } = await import('../../src/nat/messages.js')
  const { encode } = await import('../../src/wire/cbor.js')
  const from = randomBytes(32)
  assert.equal(decodeRelayCtl(encodeRelayCtl({ v: 1, from, c: 7, obs: '198.51.100.7' })).obs, '198.51.100.7')
  assert.equal(decodeRelayCtl(encodeRelayCtl({ v: 1, from, c: 7 })).obs, undefined)
  for (const obs of ['relay.example', '', '0.0.0.0', '::ffff:1.2.3.4', 'fe80::1%eth0', 7]) {
    assert.throws(() => decodeRelayCtl(encode({ v: 1, from, c: 7, obs })), /\.obs: expected/, `obs ${JSON.stringify(obs)} refused`)
  }
})
