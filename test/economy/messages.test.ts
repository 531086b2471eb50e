import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { claimHash, decodeAck, decodeClaim, encodeAck, encodeClaim } from '../../src/economy/messages.js'
import { EconomyProtocolError } from '../../src/economy/errors.js'
import { reconcile } from '../../src/economy/reconcile.js'
import { fromHex, toHex } from '../../src/util/bytes.js'
import { idFrom } from './helpers.js'

const a = idFrom(1)
const b = idFrom(2)
// docs/protocol/economy.md §3 test vectors (signers: seed 01*32 and 02*32)
const CLAIM_HEX = 'a961760162746f58208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3946274731b0000019b76daa8006373657107637369675840709d9ae2ea0e06a62600f48e0d20f81791571ad1f3ea3c4c16df7147855c49720571cc0f92639c04ca89178a1c048bffa837d1449092b0cc6116381af24255016466726f6d58208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c667365727665641a0001e24067706169644f75741a000186a068636f6e73756d6564190315'
const ACK_HEX = 'aa61760162746f58208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c6274731b0000019b76daa9f46373657107637369675840a78ec94606a2a903baf31b592ae654e50eb22fe59994550ed35dbfdc99f39bf1729c99339a6eabd68bc101256f66924159e99746380bcc8f9135da00e631310e6466726f6d58208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39465636c61696d5820817ebc7411d53ecc387d5a04cdbce11bac2e9d877292df838180b41bc5f807726670616964496e1a000186a066737461747573006861747465737465641a0001e240'

test('BALANCE_CLAIM and BALANCE_ACK encode to the documented vectors and verify', () => {
  const claim = encodeClaim(a, { to: b.publicKey, seq: 7n, served: 123456n, consumed: 789n, paidOut: 100000n, ts: 1767225600000n })
  assert.equal(toHex(claim), CLAIM_HEX)
  const c = decodeClaim(fromHex(CLAIM_HEX))
  assert.equal(c.served, 123456n)
  assert.deepEqual(c.from, a.publicKey)
  const ack = encodeAck(b, { to: a.publicKey, seq: 7n, claim: claimHash(claim), attested: 123456n, paidIn: 100000n, status: 0, ts: 1767225600500n })
  assert.equal(toHex(ack), ACK_HEX)
  const k = decodeAck(fromHex(ACK_HEX))
  assert.deepEqual(k.claim, claimHash(fromHex(CLAIM_HEX)))
  assert.equal(k.attested, 123456n)
})

test('claims and acks: tampering, unknown fields, garbage and oversize are refused with typed errors', () => {
  const claim = fromHex(CLAIM_HEX)
  fc.assert(fc.property(fc.nat(claim.length - 1), fc.integer({ min: 1, max: 255 }), (i, x) => {
    const t = claim.slice(); t[i] = t[i]! ^ x
    assert.throws(() => decodeClaim(t), EconomyProtocolError)
  }), { numRuns: 1500 })
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (g) => {
    assert.throws(() => decodeClaim(g), EconomyProtocolError)
    assert.throws(() => decodeAck(g), EconomyProtocolError)
  }), { numRuns: 1500 })
  assert.throws(() => decodeClaim(new Uint8Array(2000)), (e: unknown) => e instanceof EconomyProtocolError && e.code === 'bad_payload')
})

test('reconciliation rule: receiver count wins only when the difference is explained', () => {
  const base = { claimed: 1000n, attested: 1000n, confirmed: 900n, droppedSinceConfirm: false, crashedSinceConfirm: false, toleranceAbs: 0n, tolerancePpm: 0n, maxRecovery: 10_000n }
  assert.equal(reconcile(base).reason, 'ok')
  assert.deepEqual(reconcile({ ...base, attested: 999n, tolerancePpm: 1000n }), { reason: 'tolerance', accepted: true, delta: -1n })
  assert.equal(reconcile({ ...base, attested: 950n }).reason, 'unexplained')
  assert.equal(reconcile({ ...base, attested: 950n, droppedSinceConfirm: true }).reason, 'link_loss')
  // a shortfall larger than what was served since the last confirmation is not link loss
  assert.equal(reconcile({ ...base, attested: 850n, droppedSinceConfirm: true }).reason, 'unexplained')
  // the receiver reporting MORE than we served is never link loss; only our own crash explains it
  assert.equal(reconcile({ ...base, attested: 1100n, droppedSinceConfirm: true }).reason, 'unexplained')
  assert.equal(reconcile({ ...base, attested: 1100n, crashedSinceConfirm: true }).reason, 'crash_recovery')
  assert.equal(reconcile({ ...base, attested: 1n << 40n, crashedSinceConfirm: true }).accepted, false)
})
