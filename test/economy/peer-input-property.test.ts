/**
 * Property (issue 13 A/B): for arbitrary sequences of what a peer sends (cheques of any amount and serial up to
 * 2^64-1, balance claims with any charged value, acks with any attested value) mixed with honest metering, what
 * we would pay the peer never exceeds what our own meter recorded it served us, a payment never turns into credit
 * we owe, every flush succeeds, and the ledger on disk equals the one in memory.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import fc from 'fast-check'
import type { RemotePeer } from '../../src/interfaces/link.js'
import { encode } from '../../src/wire/cbor.js'
import { encodeCheque, signCheque } from '../../src/economy/cheque.js'
import { ACK_DOMAIN, claimHash, encodeClaim } from '../../src/economy/messages.js'
import { MessageType } from '../../src/wire/message-types.js'
import { config, idFrom, ManualClock, makeEconomy, tempDir } from './helpers.js'

const node = idFrom(41)
const peer = idFrom(42)
const peerRef: RemotePeer = { nodeId: peer.publicKey, nodeIdB64: peer.nodeIdB64, dhtId: peer.dhtId, remoteAddr: { host: 'x', port: 1 }, version: 2, capabilities: new Set(), outbound: true }

type Op =
  | { k: 'cheque'; amount: bigint; serial: bigint }
  | { k: 'claim'; charged: bigint }
  | { k: 'ack'; attested: bigint }
  | { k: 'frame'; dir: 'in' | 'out'; bytes: number }
  | { k: 'estimate'; units: number }
  | { k: 'serve'; units: number }
  | { k: 'pay' }

const big = fc.oneof(fc.bigInt({ min: 0n, max: 10_000n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom(1n << 63n, (1n << 63n) - 1n, (1n << 64n) - 1n, 10n ** 12n))
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('cheque' as const), amount: big, serial: fc.oneof(fc.bigInt({ min: 1n, max: 40n }), big) }),
  fc.record({ k: fc.constant('claim' as const), charged: big }),
  fc.record({ k: fc.constant('ack' as const), attested: big }),
  fc.record({ k: fc.constant('frame' as const), dir: fc.constantFrom<'in' | 'out'>('in', 'out'), bytes: fc.integer({ min: 1, max: 5000 }) }),
  fc.record({ k: fc.constant('estimate' as const), units: fc.integer({ min: 1, max: 300 }) }),
  fc.record({ k: fc.constant('serve' as const), units: fc.integer({ min: 1, max: 300 }) }),
  fc.constant({ k: 'pay' as const }),
)

function ack(seq: bigint, claim: Uint8Array, attested: bigint): Uint8Array {
  const body = { v: 1, from: peer.publicKey, to: node.publicKey, seq: Number(seq), claim: claimHash(claim), attested: attested <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(attested) : attested, paidIn: 0, status: 1, ts: 1 }
  const enc = encode(body)
  const signed = new Uint8Array(ACK_DOMAIN.length + enc.length); signed.set(ACK_DOMAIN); signed.set(enc, ACK_DOMAIN.length)
  return encode({ ...body, sig: peer.sign(signed) })
}

test('whatever a peer sends, what we pay it stays within what our meter recorded it served us', { timeout: 170_000 }, () => {
  fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => {
    const { dir, cleanup } = tempDir()
    const clock = new ManualClock()
    const file = join(dir, 'n.sqlite')
    const cfg = config({ debtLimit: 20_000, minClaimGapMs: 0, pricing: { services: { inference: { unit: 'token', price: 3 } } } })
    const eco = makeEconomy(file, node, clock, cfg)
    const exp = BigInt(Math.floor(clock.now() / 1000) + 3600)
    try {
      let seq = 0n
      // the most our meter ever held (consumed + billed): a provider's later, lower statement lowers `billed` below
      // what we already paid for our own estimate, which is an overpayment the provider owes back, never a new debt
      let maxMetered = 0n
      for (const o of ops) {
        clock.advance(10)
        const before = eco.owed(peer.publicKey)
        const paidInBefore = eco.balance(peer.publicKey).paidIn
        const paidOutBefore = eco.balance(peer.publicKey).paidOut
        try {
          switch (o.k) {
            case 'cheque': eco.receiveCheque(peer.publicKey, encodeCheque(signCheque(peer, { creditor: node.publicKey, amount: o.amount, serial: o.serial, expires: exp }))); break
            case 'claim': eco.answerClaim(peer.publicKey, encodeClaim(peer, { to: node.publicKey, seq: ++seq, served: 0n, consumed: 0n, charged: o.charged, paidOut: 0n, ts: 1n })); break
            case 'ack': { const { bytes, pending } = eco.makeClaim(peer.publicKey); eco.applyAck(pending, ack(pending.seq, bytes, o.attested)); break }
            case 'frame': eco.observeFrame({ peer: peerRef, direction: o.dir, type: MessageType.VPN_DATA, bytes: o.bytes }); break
            case 'estimate': eco.record(peer.publicKey, 'inference', BigInt(o.units), 'consumed'); break
            case 'serve': eco.record(peer.publicKey, 'inference', BigInt(o.units), 'served'); break
            case 'pay': eco.issueCheque(peer.publicKey); break
          }
        } catch (err) {
          // refusals are typed protocol errors, never a crash of the ledger
          if (!(err instanceof Error) || !['EconomyProtocolError', 'ChequeRejectedError'].includes(err.name)) throw err
        }
        const b = eco.balance(peer.publicKey)
        const a = eco.store.account(peer.publicKey)
        // what we paid or would pay in total is bounded by our own meter: consumed + billed when we signed it,
        // and never more than the meter ever held
        if (b.consumed + b.billed > maxMetered) maxMetered = b.consumed + b.billed
        if (b.paidOut > paidOutBefore) assert.ok(b.paidOut <= b.consumed + b.billed, `paid out ${b.paidOut} > metered ${b.consumed + b.billed}`)
        assert.ok(b.paidOut <= maxMetered, `paid out ${b.paidOut} > most ever metered ${maxMetered}`)
        const next = eco.prepareCheque(peer.publicKey)
        if (next) assert.ok(next.amount <= b.consumed + b.billed, `would sign ${next.amount} > metered ${b.consumed + b.billed}`)
        // billed never passes our estimate at the highest network rate (no crash in this run)
        assert.ok(b.billed <= a.billedEst * 10n + a.billedEst / 1000n, `billed ${b.billed} for an estimate of ${a.billedEst}`)
        // a payment only settles debt: it never makes the peer's balance negative, nor lowers an already negative one
        if (b.paidIn > paidInBefore) assert.ok(eco.owed(peer.publicKey) >= 0n && before > 0n, `credited ${b.paidIn - paidInBefore} with owed ${before}`)
        eco.flush()
      }
      const mem = eco.balance(peer.publicKey)
      eco.close()
      const again = makeEconomy(file, node, clock, cfg)
      assert.deepEqual(again.balance(peer.publicKey), mem)
      assert.equal(again.store.recovered, false)
      again.close()
    } finally { cleanup() }
  }), { numRuns: 150, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) })
})
