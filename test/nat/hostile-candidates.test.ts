/**
 * Issue 14 part 1 at the unit level: what a peer signs in a candidate set is checked in full at decode, and a throw
 * inside a punch timer or a datagram callback ends that operation, never the process.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { encode, type CborValue } from '../../src/wire/cbor.js'
import { decodeCandidateSet, encodeCandidateSet, ephemeralKey, type Candidate } from '../../src/nat/punch/candidates.js'
import { punch } from '../../src/nat/punch/puncher.js'
import { UdxDatagramSocket, type DatagramSocket, type Rinfo } from '../../src/nat/socket.js'

const DOMAIN = new TextEncoder().encode('zeone-nat-candidates-v1')
/** The NAT code's timers and udx sockets are unref'd: hold the event loop open while a test waits on them. */
const holdLoop = (): (() => void) => { const t = setInterval(() => {}, 1000); return () => clearInterval(t) }
const a = Identity.fromSeed(randomBytes(32))
const b = Identity.fromSeed(randomBytes(32))
const NOW = 1_000_000

const setWith = (candidates: Candidate[]): Uint8Array => encodeCandidateSet({
  from: a.publicKey, to: b.publicKey, sid: randomBytes(16), eph: ephemeralKey().publicKey, streamId: 5,
  mapping: 'endpoint-independent', filtering: 'endpoint-independent', candidates, ts: NOW,
}, a)
const decodes = (bytes: Uint8Array): Candidate[] => decodeCandidateSet(bytes, a.publicKey, b.publicKey, NOW).candidates
const one = (host: string, port = 40000): Uint8Array => setWith([{ kind: 'srflx', host, port, priority: 1 }])

/** Signs an arbitrary set body (a peer is free to sign whatever it likes). */
const signed = (body: Record<string, CborValue>, outerExtra: Record<string, CborValue> = {}): Uint8Array => {
  const set = encode(body)
  return encode({ set, sig: a.sign(DOMAIN, set), ...outerExtra })
}
const body = (over: Record<string, CborValue> = {}): Record<string, CborValue> => ({
  v: 1, from: a.publicKey, to: b.publicKey, sid: randomBytes(16), eph: randomBytes(32), stream: 5,
  map: 'none', filt: 'endpoint-independent', cands: [[1, '198.18.0.1', 40000, 1]], ts: NOW, ...over,
})

test('candidate hosts must be IP literals a datagram can go to; ports 1..65535', () => {
  assert.equal(decodes(one('198.18.0.1'))[0]!.host, '198.18.0.1')
  assert.equal(decodes(one('2001:db8::1'))[0]!.host, '2001:db8::1')
  for (const host of ['not-an-ip.invalid', 'localhost', '', ' 1.2.3.4', '01.2.3.4', '1.2.3', '[::1]', 'fe80::1%eth0',
    '::ffff:127.0.0.1', '0.0.0.0', '::', '224.0.0.1', 'ff02::1', '1.2.3.4:5', 'x'.repeat(60)]) {
    assert.throws(() => decodes(one(host)), /nat_bad_candidates|invalid candidate set/, `host ${JSON.stringify(host)} refused`)
  }
  for (const port of [0, 65536, -1, 1.5]) assert.throws(() => decodes(signed(body({ cands: [[1, '198.18.0.1', port, 1]] }))), /invalid candidate set/)
  assert.throws(() => decodes(signed(body({ cands: [[9, '198.18.0.1', 1, 1]] }))), /invalid candidate set/, 'unknown kind')
  assert.throws(() => decodes(signed(body({ cands: [[1, 7, 1, 1]] }))), /invalid candidate set/, 'host not a string')
})

test('a set with unknown keys, unknown NAT types or too many candidates is refused', () => {
  assert.equal(decodes(signed(body())).length, 1)
  assert.throws(() => decodes(signed(body({ extra: 1 }))), /invalid candidate set/, 'unknown key in the set')
  assert.throws(() => decodes(signed(body(), { x: 1 })), /invalid candidate set/, 'unknown key in the envelope')
  assert.throws(() => decodes(signed(body({ map: 'whatever' }))), /invalid candidate set/)
  assert.throws(() => decodes(signed(body({ filt: 'none' }))), /invalid candidate set/, "'none' is a mapping, not a filtering")
  const many = Array.from({ length: 17 }, (_, i) => [1, '198.18.0.1', 1000 + i, 1] as CborValue)
  assert.throws(() => decodes(signed(body({ cands: many }))))
})

/** A datagram socket that records sends; a send to `poison` throws like udx-native does for a non-IP host. */
function fakeSocket(poison: string): DatagramSocket & { sent: Rinfo[] } {
  const sent: Rinfo[] = []
  return {
    sent,
    send(_b, port, host) { if (host === poison) throw new Error(`${host} is not a valid IP address`); sent.push({ host, port }) },
    onMessage: () => () => {},
    address: () => ({ host: '127.0.0.1', port: 1 }),
    close: async () => {},
  }
}

test('a send that throws inside the punch timer ends that attempt (rejected, reported), not the process', async () => {
  const s = fakeSocket('boom')
  const reported: string[] = []
  const release = holdLoop()
  const r = punch({
    role: 0, key: randomBytes(32), sid: randomBytes(16), primary: s, selfMapping: 'none', birthday: false, timeoutMs: 5000,
    // the first check goes to the good candidate synchronously, the throwing one ~20 ms later from a timer
    remote: { mapping: 'none', candidates: [{ kind: 'host', host: '127.0.0.1', port: 9, priority: 2 }, { kind: 'srflx', host: 'boom', port: 9, priority: 1 }] },
    openSocket: async () => { throw new Error('no sockets here') },
    onError: (op) => reported.push(op),
  } as Parameters<typeof punch>[0])
  try {
    await assert.rejects(r, /not a valid IP address/)
  } finally { release() }
  assert.ok(reported.includes('punch.timer'), `reported: ${reported.join(',')}`)
})

test('a throw inside a datagram callback is contained and reported; the socket keeps delivering', async () => {
  const s = UdxDatagramSocket.bind(0, '127.0.0.1')
  const tx = createSocket('udp4')
  const reported: string[] = []
  ;(s as unknown as { errorSink: (op: string) => void }).errorSink = (op) => reported.push(op)
  const release = holdLoop()
  try {
    let n = 0
    const second = new Promise<void>((resolve) => s.onMessage(() => { n++; if (n === 1) throw new Error('handler bug'); resolve() }))
    for (let i = 0; i < 2; i++) await new Promise<void>((r) => tx.send(Buffer.from([0x5a, i]), s.address().port, '127.0.0.1', () => r()))
    await second
    assert.deepEqual(reported, ['socket.message'])
  } finally {
    tx.close()
    await s.close()
    release()
  }
})

test('controlled side with punch.inboundBirthday off: unprompted checks only to the observed IP, within the budget, no birthday sockets; policy applies', async () => {
  const { PunchSession } = await import('../../src/nat/punch/session.js')
  const { AddressPolicy } = await import('../../src/util/address-class.js')
  const sock = UdxDatagramSocket.bind(0, '127.0.0.1')
  const release = holdLoop()
  try {
    const nat = { mapping: 'none' as const, filtering: 'endpoint-independent' as const, publicAddr: { host: '127.0.0.1', port: sock.address().port } }
    const offer = setWith([
      { kind: 'srflx', host: '127.0.0.1', port: 9, priority: 5 }, // at the observed IP: proven
      { kind: 'host', host: '127.0.0.2', port: 9, priority: 4 }, // a third party's address
      { kind: 'host', host: '2001:db8::1', port: 9, priority: 3 }, // other family than our socket
      { kind: 'tcp', host: '127.0.0.2', port: 9, priority: 2 },
    ])
    let sent = 0
    let sockets = 0
    const responder = (policy: InstanceType<typeof AddressPolicy>): InstanceType<typeof PunchSession> => {
      const s = new PunchSession({
        identity: b, remoteId: a.publicKey, socket: sock, nat, hostCandidates: false, clock: { now: () => NOW, setTimeout: (cb, ms) => { const t = setTimeout(cb, ms); return { cancel: () => clearTimeout(t) } } },
        punch: { birthday: true, escalateAfterMs: 10, paceMs: 5, timeoutMs: 5000 }, provenHosts: ['127.0.0.1'],
        allowTarget: (h) => policy.allows(h), unsolicitedChecks: 5, idleMs: 400, tcpPort: 1, inboundBirthday: false,
        onSent: () => { sent++ }, onSocket: () => { sockets++ },
      })
      s.answer(offer)
      return s
    }
    const allowing = responder(new AddressPolicy('auto', ['127.0.0.1']))
    assert.deepEqual(allowing.targets().map((c) => `${c.kind} ${c.host}`), ['srflx 127.0.0.1'])
    await assert.rejects(allowing.connect(), /sent no check/)
    assert.ok(sent > 0 && sent <= 5, `unprompted checks within the budget (${sent})`)
    assert.equal(sockets, 0, 'no birthday socket for a peer that called us when inboundBirthday is off')
    await assert.rejects(allowing.tcpOpen({ timeoutMs: 200 }), /no TCP candidate/, 'the tcp candidate is at an unproven address')
    assert.deepEqual(responder(new AddressPolicy('deny')).targets(), [], "'deny': not even the observed loopback address")
  } finally {
    await sock.close()
    release()
  }
})

test('controlled side with punch.inboundBirthday: at most 64 sockets, probing only the proven IP', async () => {
  const { PunchSession } = await import('../../src/nat/punch/session.js')
  const sock = UdxDatagramSocket.bind(0, '127.0.0.1')
  const release = holdLoop()
  try {
    const nat = { mapping: 'address-port-dependent' as const, filtering: 'address-port-dependent' as const, publicAddr: { host: '127.0.0.1', port: sock.address().port } }
    const offer = setWith([
      { kind: 'srflx', host: '127.0.0.1', port: 9, priority: 5 },
      { kind: 'srflx', host: '127.0.0.2', port: 9, priority: 4 },
    ])
    let sockets = 0
    const s = new PunchSession({
      identity: b, remoteId: a.publicKey, socket: sock, nat, hostCandidates: false,
      clock: { now: () => NOW, setTimeout: (cb, ms) => { const t = setTimeout(cb, ms); return { cancel: () => clearTimeout(t) } } },
      punch: { birthday: true, birthdaySockets: 300, timeoutMs: 5000 }, provenHosts: ['127.0.0.1'], inboundBirthday: true,
      idleMs: 1500, onSocket: () => { sockets++ },
    })
    s.answer(offer)
    assert.deepEqual(s.targets().map((c) => c.host), ['127.0.0.1'], 'birthday sockets aim only at the proven IP')
    await assert.rejects(s.connect(), /sent no check/)
    assert.ok(sockets > 0 && sockets <= 64, `bounded birthday sockets (${sockets})`)
  } finally {
    await sock.close()
    release()
  }
})

test('NAT control messages decode strictly: a key the spec does not define is refused in every message', async () => {
  const { decodeAnswer, decodeRelayCtl, decodeRelayData, decodeSignal } = await import('../../src/nat/messages.js')
  const { encode } = await import('../../src/wire/cbor.js')
  const id = new Uint8Array(32).fill(3)
  assert.throws(() => decodeSignal(encode({ v: 1, offer: new Uint8Array(4), x: 1 })), /unknown field 'x'/)
  assert.throws(() => decodeAnswer(encode({ v: 1, answer: new Uint8Array(4), x: 1 })), /unknown field 'x'/)
  assert.throws(() => decodeRelayCtl(encode({ v: 1, to: id, x: 1 })), /unknown field 'x'/)
  // a struct's key count is also its CBOR item limit: a key past it is refused by the decoder itself
  assert.throws(() => decodeRelayData(encode({ c: 1, d: new Uint8Array(2), x: 1 })), /unknown field|exceeds limit/)
  // (shared schema module) missing keys, wrong types and a hostname where an IP literal belongs name the field
  assert.throws(() => decodeSignal(encode({ v: 1 })), (e: Error & { code?: string }) => e.code === 'nat_bad_signal' && /NAT_SIGNAL\.offer: missing/.test(e.message))
  assert.throws(() => decodeSignal(encode({ v: 2, offer: new Uint8Array(1) })), /NAT_SIGNAL\.v/)
  assert.throws(() => decodeRelayCtl(encode({ v: 1, obs: 'evil.example' })), (e: Error & { code?: string }) => e.code === 'nat_bad_relay' && /obs: expected an IP literal/.test(e.message))
  assert.throws(() => decodeRelayData(encode({ c: -1, d: new Uint8Array(2) })), /NAT_RELAY_DATA\.c/)
  // the defined keys still decode
  assert.equal(decodeAnswer(encode({ v: 1, error: 'nat_busy' })).error, 'nat_busy')
  assert.equal(decodeRelayCtl(encode({ v: 1, to: id, c: 2 })).c, 2)
})

test('two nodes behind one NAT: the caller checks towards a few private host candidates of a peer at its own public IP, never otherwise', async () => {
  const { PunchSession, SAME_NAT_HOST_CANDIDATES } = await import('../../src/nat/punch/session.js')
  const { AddressPolicy } = await import('../../src/util/address-class.js')
  const sock = UdxDatagramSocket.bind(0, '127.0.0.1')
  try {
    const clock = { now: () => NOW, setTimeout: (cb: () => void, ms: number) => { const t = setTimeout(cb, ms); return { cancel: () => clearTimeout(t) } } }
    const publicOnly = new AddressPolicy('deny')
    const ourPublic = '93.184.216.34'
    const lan: Candidate[] = ['10.3.0.2', '192.168.7.9', '172.16.0.3', '169.254.1.1', '127.0.0.5'].map((host, i) => ({ kind: 'host', host, port: 4000 + i, priority: 10 - i }))
    /** A's view of B's answer when B's NAT shows `peerPublic` (a cone NAT on both sides). */
    const callerTargets = (peerPublic: string, selfMapping: 'endpoint-independent' | 'none' = 'endpoint-independent'): string[] => {
      const nat = (host: string, mapping: 'endpoint-independent' | 'none') => ({ mapping, filtering: 'endpoint-independent' as const, publicAddr: { host, port: 5000 } })
      const A = new PunchSession({ identity: a, remoteId: b.publicKey, socket: sock, nat: nat(ourPublic, selfMapping), hostCandidates: false, clock, allowTarget: (h) => publicOnly.allows(h) })
      const B = new PunchSession({ identity: b, remoteId: a.publicKey, socket: sock, nat: nat(peerPublic, 'endpoint-independent'), hostCandidates: false, clock, candidates: lan, provenHosts: [ourPublic] })
      A.acceptAnswer(B.answer(A.offer()))
      return A.targets().map((c) => `${c.kind} ${c.host}`)
    }
    // same public IP: the first SAME_NAT_HOST_CANDIDATES private (RFC 1918) hosts join the public srflx; link-local and
    // loopback stay refused, as the address policy says
    assert.equal(SAME_NAT_HOST_CANDIDATES, 2)
    assert.deepEqual(callerTargets(ourPublic).sort(), ['host 10.3.0.2', 'host 192.168.7.9', `srflx ${ourPublic}`].sort())
    // a peer behind another NAT: none of its private addresses is probed
    assert.deepEqual(callerTargets('93.184.216.35'), ['srflx 93.184.216.35'])
    // we have no NAT: a peer "at our public IP" is not behind our NAT
    assert.deepEqual(callerTargets(ourPublic, 'none'), [`srflx ${ourPublic}`])
  } finally {
    await sock.close()
  }
})
