import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { PunchSession } from '../../src/nat/punch/session.js'
import { decodeCandidateSet, encodeCandidateSet, ephemeralKey, deriveProbeKey } from '../../src/nat/punch/candidates.js'
import { decodeProbe, encodeProbe, ProbeKind } from '../../src/nat/punch/probe.js'
import { UdxDatagramSocket, NodeDatagramSocket } from '../../src/nat/socket.js'
import type { NatBehavior } from '../../src/nat/discovery.js'

const ident = (): Identity => Identity.fromSeed(randomBytes(32))
const natOf = (s: UdxDatagramSocket): NatBehavior => ({ mapping: 'none', filtering: 'endpoint-independent', publicAddr: { host: '127.0.0.1', port: s.address().port } })

test('punch over loopback and carry bytes on the udx stream', async () => {
  const a = ident(), b = ident()
  const sa = UdxDatagramSocket.bind(0, '127.0.0.1'), sb = UdxDatagramSocket.bind(0, '127.0.0.1')
  // a third party keeps sending forged ACK/NOMINATE probes with a wrong key at both sockets
  const evil = await NodeDatagramSocket.bind(0, '127.0.0.1')
  try {
    const A = new PunchSession({ identity: a, remoteId: b.publicKey, socket: sa, nat: natOf(sa), hostCandidates: false })
    const B = new PunchSession({ identity: b, remoteId: a.publicKey, socket: sb, nat: natOf(sb), hostCandidates: false })
    const offer = A.offer()
    const answer = B.answer(offer)
    A.acceptAnswer(answer)
    const sid = B.remote!.sid
    const forged = setInterval(() => {
      for (const kind of [ProbeKind.ack, ProbeKind.nominate, ProbeKind.nominateAck]) {
        for (const role of [0, 1] as const) {
          const p = encodeProbe(new Uint8Array(32).fill(9), sid, role, { kind, seq: 1, echo: 1 })
          evil.send(p, sa.address().port, '127.0.0.1'); evil.send(p, sb.address().port, '127.0.0.1')
        }
      }
    }, 2)
    const [pa, pb] = await Promise.all([A.connect(), B.connect()])
    clearInterval(forged)
    assert.equal(pa.remote.port, sb.address().port, 'path must not be hijacked by the forger')
    assert.equal(pb.remote.port, sa.address().port)
    assert.equal(pa.method, 'direct')
    const got: Buffer[] = []
    const done = new Promise<void>((resolve) => pb.stream.on('data', (d: Buffer) => { got.push(d); if (Buffer.concat(got).length >= 100_000) resolve() }))
    pa.stream.write(Buffer.alloc(100_000, 7))
    await done
    assert.ok(Buffer.concat(got).equals(Buffer.alloc(100_000, 7)))
    pa.dispose(); pb.dispose()
    pa.stream.destroy(); pb.stream.destroy()
  } finally {
    await Promise.all([sa.close(), sb.close(), evil.close()])
  }
})

test('candidate sets: forged, redirected, stale and tampered sets are refused', () => {
  const a = ident(), b = ident(), c = ident()
  const base = {
    from: a.publicKey, to: b.publicKey, sid: randomBytes(16), eph: ephemeralKey().publicKey, streamId: 5,
    mapping: 'endpoint-independent', filtering: 'address-port-dependent',
    candidates: [{ kind: 'srflx' as const, host: '198.18.0.101', port: 40000, priority: 100 }], ts: 1_000_000,
  }
  const ok = encodeCandidateSet(base, a)
  assert.equal(decodeCandidateSet(ok, a.publicKey, b.publicKey, 1_000_500).candidates[0]!.port, 40000)
  // a rendezvous (c) re-signs a set claiming to be a: refused
  assert.throws(() => decodeCandidateSet(encodeCandidateSet(base, c), a.publicKey, b.publicKey, 1_000_500), /signature/)
  // a set a made for b, replayed to c: refused
  assert.throws(() => decodeCandidateSet(ok, a.publicKey, c.publicKey, 1_000_500), /another node/)
  assert.throws(() => decodeCandidateSet(ok, a.publicKey, b.publicKey, 1_000_000 + 31_000), /stale/)
  const t = ok.slice(); t[t.length - 80]! ^= 1
  assert.throws(() => decodeCandidateSet(t, a.publicKey, b.publicKey, 1_000_500))
  assert.throws(() => decodeCandidateSet(new Uint8Array(5000), a.publicKey, b.publicKey, 0))
  assert.throws(() => encodeCandidateSet({ ...base, candidates: Array(17).fill(base.candidates[0]) }, a))
})

test('probe MAC: role-bound, key-bound, session-bound', () => {
  const ka = ephemeralKey(), kb = ephemeralKey()
  const sid = randomBytes(16)
  const k1 = deriveProbeKey(ka, kb.publicKey, sid, ka.publicKey, kb.publicKey)
  const k2 = deriveProbeKey(kb, ka.publicKey, sid, ka.publicKey, kb.publicKey)
  assert.deepEqual(k1, k2)
  const p = encodeProbe(k1, sid, 0, { kind: ProbeKind.check, seq: 7, echo: 0 })
  assert.deepEqual(decodeProbe(p, k2, sid, 0), { kind: ProbeKind.check, seq: 7, echo: 0 })
  assert.equal(decodeProbe(p, k2, sid, 1), undefined, 'a reflected probe is not accepted as the other role')
  assert.equal(decodeProbe(p, new Uint8Array(32), sid, 0), undefined)
  assert.equal(decodeProbe(p, k2, randomBytes(16), 0), undefined)
  const t = p.slice(); t[22]! ^= 1
  assert.equal(decodeProbe(t, k2, sid, 0), undefined)
})
