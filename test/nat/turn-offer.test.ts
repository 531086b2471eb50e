/**
 * Issue 23 item 1 (TURN in the first offer), codec level: the relayed transport address travels in the signed
 * candidate set as a `relay` entry (kind 2) of `cands`, so the set schema stays strict and an older peer decodes it.
 * What round-trips, how big the largest offer gets, and what is refused.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { encode, type CborValue } from '../../src/wire/cbor.js'
import { candidatePriority, decodeCandidateSet, MAX_CANDIDATES, type Candidate } from '../../src/nat/punch/candidates.js'
import { PunchSession } from '../../src/nat/punch/session.js'
import { decodeSignal, encodeSignal, MAX_SIGNAL_BYTES } from '../../src/nat/messages.js'
import { UdxDatagramSocket } from '../../src/nat/socket.js'
import { systemClock } from '../../src/interfaces/clock.js'

const DOMAIN = new TextEncoder().encode('zeone-nat-candidates-v1')
const a = Identity.fromSeed(randomBytes(32))
const b = Identity.fromSeed(randomBytes(32))
const SYM = { mapping: 'address-port-dependent', filtering: 'address-port-dependent', publicAddr: { host: '198.18.0.101', port: 40001 } } as const
const relay: Candidate = { kind: 'relay', host: '198.18.0.20', port: 50123, priority: candidatePriority('relay') }
const clock = { ...systemClock, now: () => 1_000_000 }

const withSocket = async (fn: (s: UdxDatagramSocket) => void | Promise<void>): Promise<void> => {
  const s = UdxDatagramSocket.bind(0, '127.0.0.1')
  try { await fn(s) } finally { await s.close() }
}

test('the first offer carries the relayed address; the addressee decodes it (and an offer without one) through the same strict schema', async () => {
  await withSocket((socket) => {
    const offerer = new PunchSession({ identity: a, remoteId: b.publicKey, socket, nat: SYM, clock, candidates: [relay] })
    const offer = offerer.offer()
    const addressee = new PunchSession({ identity: b, remoteId: a.publicKey, socket, nat: SYM, clock })
    addressee.answer(offer)
    assert.deepEqual(addressee.remote!.candidates.filter((c) => c.kind === 'relay'), [relay], 'relay candidate round-trips exactly')
    // and it is one of the addressee's check targets when the TURN server is one it knows (turn.servers)
    const trusting = new PunchSession({ identity: b, remoteId: a.publicKey, socket, nat: SYM, clock, provenHosts: ['198.18.0.101'], trustedRelayHosts: ['198.18.0.20'] })
    trusting.answer(offer)
    assert.ok(trusting.targets().some((c) => c.kind === 'relay' && c.host === relay.host && c.port === relay.port))
    const wary = new PunchSession({ identity: b, remoteId: a.publicKey, socket, nat: SYM, clock, provenHosts: ['198.18.0.101'] })
    wary.answer(offer)
    assert.ok(!wary.targets().some((c) => c.kind === 'relay'), 'a relay at a TURN server the addressee does not know is only answered')
    // an offer without the relay entry (an older peer, or no TURN configured) decodes as before
    const plain = new PunchSession({ identity: a, remoteId: b.publicKey, socket, nat: SYM, clock })
    const r = new PunchSession({ identity: b, remoteId: a.publicKey, socket, nat: SYM, clock })
    r.answer(plain.offer())
    assert.equal(r.remote!.candidates.some((c) => c.kind === 'relay'), false)
  })
})

test('the relay candidate is never cut by the 16-candidate bound, and the largest offer fits one NAT_SIGNAL', async () => {
  await withSocket((socket) => {
    // 15 more candidates with the longest host spelling (IPv6, 39 chars) and largest numbers: the worst case
    const v6 = (i: number): string => `2001:0db8:ffff:ffff:ffff:ffff:ffff:${(0xff00 + i).toString(16)}`
    const filler: Candidate[] = Array.from({ length: 20 }, (_, i) => ({ kind: 'host', host: v6(i), port: 65535, priority: 0xffffffff }))
    const s = new PunchSession({ identity: a, remoteId: b.publicKey, socket, nat: SYM, clock, candidates: [relay, ...filler] })
    const local = s.localCandidates()
    assert.equal(local.length, MAX_CANDIDATES)
    assert.deepEqual(local[0], relay, 'the relayed address is kept first')
    const offer = s.offer()
    const set = decodeCandidateSet(offer, a.publicKey, b.publicKey, clock.now())
    assert.deepEqual(set.candidates[0], relay)
    const signal = encodeSignal({ v: 1, to: b.publicKey, offer })
    assert.ok(signal.length <= MAX_SIGNAL_BYTES, `largest offer ${signal.length} bytes <= ${MAX_SIGNAL_BYTES}`)
    assert.deepEqual(decodeSignal(signal).offer, offer)
  })
})

/** Signs an arbitrary set body (a peer may sign whatever it likes). */
const signed = (cands: CborValue[], extra: Record<string, CborValue> = {}): Uint8Array => {
  const set = encode({
    v: 1, from: a.publicKey, to: b.publicKey, sid: randomBytes(16), eph: randomBytes(32), stream: 5,
    map: 'address-port-dependent', filt: 'address-port-dependent', cands, ts: clock.now(), ...extra,
  })
  return encode({ set, sig: a.sign(DOMAIN, set) })
}
const decodes = (bytes: Uint8Array): Candidate[] => decodeCandidateSet(bytes, a.publicKey, b.publicKey, clock.now()).candidates

test('a malformed relay entry, or the relayed address under a key of its own, is refused', () => {
  assert.deepEqual(decodes(signed([[2, '198.18.0.20', 50123, 5]])), [{ kind: 'relay', host: '198.18.0.20', port: 50123, priority: 5 }])
  const refused: Array<[CborValue[], string]> = [
    [[[2, 'turn.example.org', 50123, 5]], 'hostname'],
    [[[2, '198.18.0.20', 0, 5]], 'port 0'],
    [[[2, '198.18.0.20', 65536, 5]], 'port > 65535'],
    [[[2, '0.0.0.0', 50123, 5]], 'unspecified address'],
    [[[2, '[::1]', 50123, 5]], 'bracketed host'],
    [[[2, '198.18.0.20', 50123]], 'three fields'],
    [[[2, '198.18.0.20', 50123, 5, 1]], 'five fields'],
    [[[4, '198.18.0.20', 50123, 5]], 'unknown kind'],
    [[[2, '198.18.0.20', 50123, -1]], 'negative priority'],
    [[[2, new Uint8Array([198, 18, 0, 20]), 50123, 5]], 'host as bytes'],
  ]
  for (const [cands, why] of refused) assert.throws(() => decodes(signed(cands)), /invalid candidate set/, why)
  assert.throws(() => decodes(signed([], { turn: ['198.18.0.20', 50123] })), /invalid candidate set/, 'no `turn` key: the relay travels in cands')
})
