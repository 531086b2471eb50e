// Network parameters (docs/protocol/params.md): the record codec and the follower's agreement rule against hostile
// publishers. Real Ed25519 signatures and the real codec; no chain needed here (the e2e test runs the real EVM).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Identity } from '../../src/crypto/identity.js'
import { signRecord, type SignedRecord } from '../../src/dht/record.js'
import type { GovernedParams } from '../../src/economy/chain/param-names.js'
import { ParamsAgreement } from '../../src/economy/chain/params-agree.js'
import {
  decodeParamsRecord, encodeParamsRecord, MAX_PARAMS_RECORD_BYTES, paramsKey, snapshotDigest, type ParamsRecord, type ParamsSnapshot,
} from '../../src/economy/chain/params-record.js'
import { encode } from '../../src/wire/cbor.js'
import { toHex } from '../../src/util/bytes.js'

const CHAIN = 31337
const key = paramsKey(CHAIN)
const values: GovernedParams = {
  fee_vpn: 1000n, fee_cdn: 200n, fee_ai: 50n, debt_limit: 10_000_000n, min_trust_score: 10n ** 17n, slashing_rate: 1000n,
  slash_invalid_bps: 1000n, slash_unavailable_bps: 100n, slash_censorship_bps: 5000n, fraud_reward_bps: 1000n,
}
const ids = Array.from({ length: 8 }, (_, i) => Identity.fromSeed(new Uint8Array(32).fill(i + 1)))
const NOW = 1_800_000_000
const snap = (blockNumber: number, over: Partial<GovernedParams> = {}, hashByte = blockNumber & 255): ParamsSnapshot => ({
  chainId: CHAIN, params: new Uint8Array(20).fill(0xaa), blockNumber, blockHash: new Uint8Array(32).fill(hashByte),
  blockTime: NOW - 100, values: { ...values, ...over }, models: [new Uint8Array(32).fill(7)],
})
const stake = (wei: bigint) => ({ evm: new Uint8Array(20).fill(1), stakeWei: wei })
let seq = 1
const rec = (who: Identity, s: ParamsSnapshot, claim = stake(10n ** 21n)): SignedRecord =>
  signRecord(who, key, encodeParamsRecord({ snapshot: s, claim }), seq++, Date.now() + 3_600_000)

/** Open-mode-like policy: a record counts when it claims stake >= 1 ZEO; every publisher is its own group. */
const staked = (_p: Uint8Array, r: ParamsRecord): string | undefined => (r.claim && r.claim.stakeWei >= 10n ** 18n ? toHex(_p) : undefined)
const agreement = (quorum = 3, eligible = staked) => new ParamsAgreement({ quorum, chainId: CHAIN, eligible, nowSec: () => NOW })

test('params record: round trip, canonical, digest ignores who published it', () => {
  const s = snap(100)
  const r: ParamsRecord = { snapshot: s, claim: stake(5n) }
  const bytes = encodeParamsRecord(r)
  const back = decodeParamsRecord(bytes)
  assert.deepEqual(back.snapshot.values, values)
  assert.equal(back.claim?.stakeWei, 5n)
  assert.equal(snapshotDigest(back.snapshot), snapshotDigest(s))
  assert.equal(snapshotDigest({ ...s, blockNumber: 101 }) === snapshotDigest(s), false)
  assert.equal(snapshotDigest({ ...s, values: { ...values, fee_ai: 51n } }) === snapshotDigest(s), false)
})

test('params record: malformed and oversized values are refused with a clear error', () => {
  const good = encodeParamsRecord({ snapshot: snap(1) })
  assert.throws(() => decodeParamsRecord(new Uint8Array(MAX_PARAMS_RECORD_BYTES + 1)), /exceeds/)
  assert.throws(() => decodeParamsRecord(good.subarray(0, good.length - 3)), /params record/)
  assert.throws(() => decodeParamsRecord(new Uint8Array([0xff])), /params record/)
  const raw = (o: Record<string, unknown>) => encode({ v: 1, c: CHAIN, a: new Uint8Array(20), n: 1, h: new Uint8Array(32), t: 1, p: Array(10).fill(new Uint8Array(0)), m: [], ...o } as never)
  assert.doesNotThrow(() => decodeParamsRecord(raw({})))
  assert.throws(() => decodeParamsRecord(raw({ x: 1 })), /unknown field x/)
  assert.throws(() => decodeParamsRecord(raw({ v: 2 })), /version/)
  assert.throws(() => decodeParamsRecord(raw({ p: Array(9).fill(new Uint8Array(0)) })), /exactly 10 values/)
  assert.throws(() => decodeParamsRecord(raw({ p: [new Uint8Array(27), ...Array(9).fill(new Uint8Array(0))] })), /value fee_vpn/)
  // a second encoding of the same number (leading zero) would let a publisher dodge agreement
  assert.throws(() => decodeParamsRecord(raw({ p: [Uint8Array.of(0, 1), ...Array(9).fill(new Uint8Array(0))] })), /leading zero/)
  assert.throws(() => decodeParamsRecord(raw({ m: [new Uint8Array(32).fill(2), new Uint8Array(32).fill(1)] })), /sorted/)
  assert.throws(() => decodeParamsRecord(raw({ m: Array(65).fill(new Uint8Array(32)) })), /params record/)
  assert.throws(() => decodeParamsRecord(raw({ n: -1 })), /block number/)
  assert.throws(() => decodeParamsRecord(raw({ h: new Uint8Array(31) })), /block hash/)
})

test('agreement: a quorum of staked publishers on one snapshot is accepted; fewer is not', () => {
  const a = agreement(3)
  const s = snap(100, { fee_ai: 77n })
  assert.equal(a.consider([rec(ids[0]!, s), rec(ids[1]!, s)], key).accepted, undefined)
  const d = a.consider([rec(ids[0]!, s), rec(ids[1]!, s), rec(ids[2]!, s)], key)
  assert.equal(d.accepted?.snapshot.values.fee_ai, 77n)
  assert.equal(d.accepted?.supporters.length, 3)
})

test('hostile: a lone unstaked publisher offering fee 0 is never followed', () => {
  const a = agreement(1) // even with quorum 1 the stake rule holds
  const d = a.consider([rec(ids[5]!, snap(500, { fee_ai: 0n, fee_cdn: 0n }), stake(0n))], key)
  assert.equal(d.accepted, undefined)
  assert.equal(d.refused.get(toHex(ids[5]!.publicKey)), 'not_eligible')
  // and with quorum 3 a lone staked one is not enough either
  const b = agreement(3)
  assert.equal(b.consider([rec(ids[5]!, snap(500, { fee_ai: 0n }))], key).accepted, undefined)
})

test('hostile: a staked minority with a fake newer block loses to the quorum on the real one', () => {
  const a = agreement(3)
  const real = snap(100, { fee_ai: 60n })
  const fake = snap(900, { fee_ai: 0n }, 0xee)
  const d = a.consider([rec(ids[0]!, real), rec(ids[1]!, real), rec(ids[2]!, real), rec(ids[3]!, fake), rec(ids[4]!, fake)], key)
  assert.equal(d.accepted?.snapshot.blockNumber, 100)
  assert.equal(d.votes.get(snapshotDigest(fake)), 2)
})

test('hostile: a replay of an older block, even by a quorum, never rolls back', () => {
  const a = agreement(3)
  const old = snap(100, { fee_ai: 50n })
  const cur = snap(200, { fee_ai: 90n })
  assert.equal(a.consider([0, 1, 2].map((i) => rec(ids[i]!, cur)), key).accepted?.snapshot.blockNumber, 200)
  const d = a.consider([3, 4, 5, 6].map((i) => rec(ids[i]!, old)), key)
  assert.equal(d.accepted, undefined)
  assert.equal(a.accepted?.snapshot.values.fee_ai, 90n)
  assert.equal(d.refused.get(toHex(ids[3]!.publicKey)), 'rollback')
  // a restarted follower restored at block 200 refuses the same replay
  const b = new ParamsAgreement({ quorum: 3, chainId: CHAIN, eligible: staked, nowSec: () => NOW, accepted: a.accepted! })
  assert.equal(b.consider([3, 4, 5, 6].map((i) => rec(ids[i]!, old)), key).accepted, undefined)
  // the same block with other values does not replace what was accepted first
  const other = snap(200, { fee_ai: 1n }, 0x42)
  assert.equal(b.consider([3, 4, 5].map((i) => rec(ids[i]!, other)), key).accepted, undefined)
  // a newer block moves forward
  assert.equal(b.consider([0, 1, 2].map((i) => rec(ids[i]!, snap(300, { fee_ai: 95n }))), key).accepted?.snapshot.values.fee_ai, 95n)
})

test('hostile: a publisher that signs two snapshots for one block is an equivocator and stops counting', () => {
  const a = agreement(3)
  const s1 = snap(100, { fee_ai: 10n })
  const s2 = snap(100, { fee_ai: 11n })
  assert.equal(a.consider([rec(ids[0]!, s1), rec(ids[1]!, s1)], key).accepted, undefined)
  const d = a.consider([rec(ids[0]!, s2), rec(ids[1]!, s1), rec(ids[2]!, s1)], key)
  assert.equal(d.refused.get(toHex(ids[0]!.publicKey)), 'equivocated')
  assert.equal(d.accepted, undefined, 'the equivocator does not complete the quorum')
  assert.ok(a.isBanned(toHex(ids[0]!.publicKey)))
  // its later honest-looking record does not count either
  const s3 = snap(150)
  assert.equal(a.consider([rec(ids[0]!, s3), rec(ids[1]!, s3), rec(ids[2]!, s3)], key).accepted, undefined)
  assert.equal(a.consider([rec(ids[1]!, s3), rec(ids[2]!, s3), rec(ids[3]!, s3)], key).accepted?.snapshot.blockNumber, 150)
})

test('hostile: forged signatures, other keys, other chains, future blocks and malformed values do not count', () => {
  const a = agreement(1)
  const s = snap(100)
  const forged = { ...rec(ids[0]!, s), sig: new Uint8Array(64) }
  const otherKey = signRecord(ids[1]!, paramsKey(1), encodeParamsRecord({ snapshot: s, claim: stake(10n ** 21n) }), 1, Date.now() + 1000)
  const otherChain = rec(ids[2]!, { ...s, chainId: 1 })
  const future = rec(ids[3]!, { ...s, blockTime: NOW + 10_000 })
  const junk = signRecord(ids[4]!, key, new Uint8Array([1, 2, 3]), 1, Date.now() + 1000)
  const d = a.consider([forged, otherKey, otherChain, future, junk], key)
  assert.equal(d.accepted, undefined)
  assert.deepEqual([...d.refused.values()], ['bad_signature', 'wrong_key', 'wrong_chain', 'future_block', 'malformed'])
})

test('agreement: two quorums for the same block (a fork or a bought quorum) are both refused', () => {
  const a = agreement(2)
  const x = snap(100, { fee_ai: 1n })
  const y = snap(100, { fee_ai: 2n }, 0x99)
  const d = a.consider([rec(ids[0]!, x), rec(ids[1]!, x), rec(ids[2]!, y), rec(ids[3]!, y)], key)
  assert.equal(d.accepted, undefined)
})

test('agreement: publishers in one diversity group count once', () => {
  const a = agreement(3, (p, r) => (staked(p, r) ? (p[0]! % 2 === 0 ? 'subnet-a' : toHex(p)) : undefined))
  const s = snap(100)
  const even = ids.filter((i) => i.publicKey[0]! % 2 === 0)
  const odd = ids.filter((i) => i.publicKey[0]! % 2 === 1)
  assert.ok(even.length >= 3 && odd.length >= 2, 'fixture spread')
  assert.equal(a.consider(even.slice(0, 3).map((i) => rec(i, s)), key).accepted, undefined)
  assert.equal(a.consider([even[0]!, odd[0]!, odd[1]!].map((i) => rec(i, s)), key).accepted?.snapshot.blockNumber, 100)
})
