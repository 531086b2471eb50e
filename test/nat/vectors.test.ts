import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Identity } from '../../src/crypto/identity.js'
import { toHex, fromHex } from '../../src/util/bytes.js'
import { decodeProbe, encodeProbe, ProbeKind } from '../../src/nat/punch/probe.js'
import { decodeCandidateSet, encodeCandidateSet } from '../../src/nat/punch/candidates.js'
import { decodeRelayCtl, decodeRelayData, decodeSignal, encodeAnswer, encodeRelayCtl, encodeRelayData, encodeSignal } from '../../src/nat/messages.js'

const a = Identity.fromSeed(new Uint8Array(32).fill(1))
const b = Identity.fromSeed(new Uint8Array(32).fill(2))
const key = new Uint8Array(32).fill(0x11)
const sid = new Uint8Array(16).fill(0x22)

const V = {
  check: '5a4e50310122222222222222222222222222222222000000010000000090b8916f15261611cdc45d3e4714e44d',
  ack: '5a4e503102222222222222222222222222222222220000000700000001c6e1ddcc6d9f8316de9c05f547fd3d33',
  set: 'a26373657458f3aa61760162746f58208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3946274731b0000018bcfe568006365706858203333333333333333333333333333333333333333333333333333333333333333636d617074656e64706f696e742d696e646570656e64656e746373696450222222222222222222222222222222226466696c7476616464726573732d706f72742d646570656e64656e746466726f6d58208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c6563616e64738184016c3139382e31382e302e313031199c401a64ffffff6673747265616d182a6373696758403d2e88064af75e6104dd1552a60a31541f7469d7a6ba05ec5b9ab3a41faf55acff1e4165ca254f02d5c103c2a6d817503d7adff4910e6501576649dcf3618600',
  signal: 'a361760162746f58208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394656f6666657243010203',
  answer: 'a2617601656572726f726c72617465206c696d69746564',
  open: 'a261760162746f58208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394',
  opened: 'a2616307617601',
  data: 'a2616307616442dead',
}

test('protocol vectors: probes, signed candidate set, signalling and relay messages', () => {
  assert.equal(toHex(encodeProbe(key, sid, 0, { kind: ProbeKind.check, seq: 1, echo: 0 })), V.check)
  assert.equal(toHex(encodeProbe(key, sid, 1, { kind: ProbeKind.ack, seq: 7, echo: 1 })), V.ack)
  assert.deepEqual(decodeProbe(fromHex(V.ack), key, sid, 1), { kind: ProbeKind.ack, seq: 7, echo: 1 })
  const set = {
    from: a.publicKey, to: b.publicKey, sid, eph: new Uint8Array(32).fill(0x33), streamId: 42,
    mapping: 'endpoint-independent', filtering: 'address-port-dependent',
    candidates: [{ kind: 'srflx' as const, host: '198.18.0.101', port: 40000, priority: 1694498815 }], ts: 1700000000000,
  }
  assert.equal(toHex(encodeCandidateSet(set, a)), V.set)
  assert.deepEqual(decodeCandidateSet(fromHex(V.set), a.publicKey, b.publicKey, 1700000000000 + 1000), set)
  assert.equal(toHex(encodeSignal({ v: 1, to: b.publicKey, offer: new Uint8Array([1, 2, 3]) })), V.signal)
  assert.deepEqual(decodeSignal(fromHex(V.signal)).offer, new Uint8Array([1, 2, 3]))
  assert.equal(toHex(encodeAnswer({ v: 1, error: 'rate limited' })), V.answer)
  assert.equal(toHex(encodeRelayCtl({ v: 1, to: b.publicKey })), V.open)
  assert.equal(toHex(encodeRelayCtl({ v: 1, c: 7 })), V.opened)
  assert.equal(decodeRelayCtl(fromHex(V.opened)).c, 7)
  assert.equal(toHex(encodeRelayData(7, new Uint8Array([0xde, 0xad]))), V.data)
  assert.deepEqual(decodeRelayData(fromHex(V.data)), { c: 7, d: new Uint8Array([0xde, 0xad]) })
})

test('docs/protocol/nat.md carries the same vectors', () => {
  // repo root: the nearest ancestor with package.json (works from test/ and from dist/test/)
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json')) || dir.endsWith('/dist')) dir = dirname(dir)
  const doc = readFileSync(join(dir, 'docs/protocol/nat.md'), 'utf8')
  for (const [name, hex] of Object.entries(V)) assert.ok(doc.includes(hex), `vector ${name} missing from the spec`)
})

test('hostile signalling/relay payloads are refused with typed errors', () => {
  const bad = [new Uint8Array(0), fromHex('a0'), fromHex('a2617602656f6666657243010203'), new Uint8Array(9000)]
  for (const x of bad) assert.throws(() => decodeSignal(x))
  assert.throws(() => decodeRelayCtl(fromHex('a2616320617601')), /circuit|bad/) // negative circuit id
  assert.throws(() => decodeRelayData(new Uint8Array(40_000)))
  assert.throws(() => encodeRelayData(1, new Uint8Array(40_000)))
  assert.throws(() => decodeSignal(encodeSignal({ v: 1, to: new Uint8Array(31), offer: new Uint8Array(1) })), /to/)
})
