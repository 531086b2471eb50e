/**
 * Issue 13 A and B (off-chain): nothing a peer sends may raise what we owe it, and no amount a peer sends may
 * stop the ledger from saving. Each test fails on the code before the fix.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { RemotePeer } from '../../src/interfaces/link.js'
import type { Identity } from '../../src/crypto/identity.js'
import { ZeoneError } from '../../src/util/errors.js'
import { encode } from '../../src/wire/cbor.js'
import { encodeCheque, signCheque } from '../../src/economy/cheque.js'
import { ACK_DOMAIN, claimHash, encodeClaim } from '../../src/economy/messages.js'
import { LedgerStore } from '../../src/economy/ledger-store.js'
import { MessageType } from '../../src/wire/message-types.js'
import { silentLogger } from '../../src/interfaces/logger.js'
import { nullEvents } from '../../src/economy/metrics.js'
import { config, idFrom, ManualClock, makeEconomy, tempDir } from './helpers.js'

const node = idFrom(31)
const mallory = idFrom(32)
const honest = idFrom(33)
const peerOf = (id: Identity): RemotePeer => ({ nodeId: id.publicKey, nodeIdB64: id.nodeIdB64, dhtId: id.dhtId, remoteAddr: { host: 'x', port: 1 }, version: 2, capabilities: new Set(), outbound: true })
const code = (f: () => unknown): string => { try { f(); return 'none' } catch (e) { return (e as ZeoneError).code ?? (e as Error).name } }
const TERA = 10n ** 12n

/** A cheque `from` signs to the node (the codec encodes anything up to 2^64-1). */
function chequeFrom(from: Identity, amount: bigint, serial: bigint, expires: bigint): Uint8Array {
  return encodeCheque(signCheque(from, { creditor: node.publicKey, amount, serial, expires }))
}

test('A: a self-signed cheque for 10^12 from a peer that owes nothing buys no credit; we never pay it back', () => {
  const { dir, cleanup } = tempDir()
  const clock = new ManualClock()
  try {
    const eco = makeEconomy(join(dir, 'n.sqlite'), node, clock, config({ debtLimit: 1000, payThresholdPpm: 100_000 }))
    const exp = BigInt(Math.floor(clock.now() / 1000) + 3600)
    assert.equal(eco.receiveCheque(mallory.publicKey, chequeFrom(mallory, TERA, 1n, exp)), 'new')
    // what mallory owes us cannot go below zero by its own cheque: we never owe it anything for a payment
    assert.ok(eco.owed(mallory.publicKey) >= 0n, `owed ${eco.owed(mallory.publicKey)}`)
    // one metered request from mallory (122 bytes it "served" us): what we owe is only what our meter recorded
    eco.observeFrame({ peer: peerOf(mallory), direction: 'in', type: MessageType.SERVICE_REQUEST, bytes: 122 })
    const c = eco.prepareCheque(mallory.publicKey)
    assert.ok(!c || c.amount <= 122n, `we would sign mallory a cheque for ${c?.amount}`)
    // the debt limit still applies: serve mallory past it and it is cut off
    eco.observeFrame({ peer: peerOf(mallory), direction: 'out', type: MessageType.SERVICE_RESPONSE, bytes: 1200 })
    assert.equal(code(() => eco.authorize(mallory.publicKey, 'echo')), 'debt_limit')
    eco.close()
  } finally { cleanup() }
})

/** An ack from `from` answering the node's claim, attesting `attested` (signed like decodeAck expects). */
function ackFrom(from: Identity, seq: bigint, claim: Uint8Array, attested: bigint): Uint8Array {
  const body = { v: 1, from: from.publicKey, to: node.publicKey, seq: Number(seq), claim: claimHash(claim), attested: attested <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(attested) : attested, paidIn: 0, status: 1, ts: 1 }
  const enc = encode(body)
  const signed = new Uint8Array(ACK_DOMAIN.length + enc.length); signed.set(ACK_DOMAIN); signed.set(enc, ACK_DOMAIN.length)
  return encode({ ...body, sig: from.sign(signed) })
}

test('A: a payment, then an ack that lowers our served counter, never becomes a cheque we sign', () => {
  const { dir, cleanup } = tempDir()
  const clock = new ManualClock()
  try {
    const eco = makeEconomy(join(dir, 'n.sqlite'), node, clock, config({ debtLimit: 100_000, payThresholdPpm: 1000 }))
    const exp = BigInt(Math.floor(clock.now() / 1000) + 3600)
    // we serve mallory 1000, it pays 1000, then answers our claim saying it received only 10 after a link drop
    eco.observeFrame({ peer: peerOf(mallory), direction: 'out', type: MessageType.VPN_DATA, bytes: 1000 })
    assert.equal(eco.receiveCheque(mallory.publicKey, chequeFrom(mallory, 1000n, 1n, exp)), 'new')
    eco.linkClosed(mallory.publicKey)
    const { bytes, pending } = eco.makeClaim(mallory.publicKey)
    assert.equal(eco.applyAck(pending, ackFrom(mallory, pending.seq, bytes, 10n)).reason, 'link_loss')
    assert.equal(eco.balance(mallory.publicKey).served, 10n)
    // the balance now says we owe mallory 990, but mallory never served us anything: we sign nothing
    assert.equal(eco.owed(mallory.publicKey), -990n)
    assert.equal(eco.prepareCheque(mallory.publicKey), undefined)
    assert.equal(eco.issueCheque(mallory.publicKey), undefined)
    // what it did serve us, we pay (and no more)
    eco.observeFrame({ peer: peerOf(mallory), direction: 'in', type: MessageType.VPN_DATA, bytes: 30 })
    assert.equal(eco.prepareCheque(mallory.publicKey)?.amount, 30n)
    eco.close()
  } finally { cleanup() }
})

test('A: a BALANCE_CLAIM with charged 10^12 is a recorded dispute, never a debt of ours', () => {
  const { dir, cleanup } = tempDir()
  const clock = new ManualClock()
  try {
    const eco = makeEconomy(join(dir, 'n.sqlite'), node, clock, config({ debtLimit: 1000, payThresholdPpm: 100_000 }))
    const claim = encodeClaim(mallory, { to: node.publicKey, seq: 1n, served: 0n, consumed: 0n, charged: TERA, paidOut: 0n, ts: 1n })
    eco.answerClaim(mallory.publicKey, claim)
    assert.equal(eco.balance(mallory.publicKey).billed, 0n, 'we never consumed a service from mallory')
    assert.equal(eco.prepareCheque(mallory.publicKey), undefined)
    const rows = eco.store.query<{ accepted: bigint }>('SELECT accepted FROM divergences')
    assert.deepEqual(rows.map((r) => r.accepted), [0n], 'the claim is recorded as an unaccepted dispute')
    eco.close()
  } finally { cleanup() }
})

for (const [name, amount] of [['2^63', 1n << 63n], ['2^64-1', (1n << 64n) - 1n]] as const) {
  test(`B: a cheque for ${name} is refused before the ledger; the ledger keeps saving and an honest cheque survives a restart`, () => {
    const { dir, cleanup } = tempDir()
    const clock = new ManualClock()
    const file = join(dir, 'n.sqlite')
    try {
      const eco = makeEconomy(file, node, clock, config())
      const exp = BigInt(Math.floor(clock.now() / 1000) + 3600)
      // mallory served us something first, so a "payment" is not simply capped at zero
      eco.observeFrame({ peer: peerOf(mallory), direction: 'out', type: MessageType.VPN_DATA, bytes: 500 })
      assert.equal(code(() => eco.receiveCheque(mallory.publicKey, chequeFrom(mallory, amount, 1n, exp))), 'bad_cheque')
      assert.equal(code(() => eco.receiveCheque(mallory.publicKey, chequeFrom(mallory, 10n, 1n << 63n, exp))), 'bad_cheque')
      assert.equal(code(() => eco.receiveCheque(mallory.publicKey, chequeFrom(mallory, 10n, 2n, 1n << 63n))), 'bad_cheque')
      eco.flush()
      // an honest peer pays after the poison attempt
      eco.observeFrame({ peer: peerOf(honest), direction: 'out', type: MessageType.VPN_DATA, bytes: 700 })
      assert.equal(eco.receiveCheque(honest.publicKey, chequeFrom(honest, 700n, 1n, exp)), 'new')
      eco.flush()
      eco.close()
      const again = makeEconomy(file, node, clock, config())
      assert.equal(again.store.recovered, false, 'the shutdown was clean')
      assert.equal(again.balance(honest.publicKey).paidIn, 700n)
      assert.equal(again.owed(honest.publicKey), 0n)
      assert.equal(again.balance(mallory.publicKey).paidIn, 0n)
      assert.equal(again.heldCheques().length, 1)
      again.close()
    } finally { cleanup() }
  })
}

test('B: a claim with charged 2^64-1 does not stop the ledger from saving', () => {
  const { dir, cleanup } = tempDir()
  const clock = new ManualClock()
  const file = join(dir, 'n.sqlite')
  try {
    const eco = makeEconomy(file, node, clock, config())
    eco.record(mallory.publicKey, 'inference', 5n, 'consumed')
    const claim = encodeClaim(mallory, { to: node.publicKey, seq: 1n, served: 0n, consumed: 0n, charged: (1n << 64n) - 1n, paidOut: 0n, ts: 1n })
    try { eco.answerClaim(mallory.publicKey, claim) } catch { /* refusing the claim is fine too */ }
    eco.observeFrame({ peer: peerOf(honest), direction: 'out', type: MessageType.VPN_DATA, bytes: 700 })
    eco.flush()
    eco.close()
    const again = makeEconomy(file, node, clock, config())
    assert.equal(again.balance(honest.publicKey).served, 700n)
    assert.ok(again.balance(mallory.publicKey).billed < 1n << 63n)
    again.close()
  } finally { cleanup() }
})

test('B: an ack attesting 2^64-1 does not stop the ledger from saving', () => {
  const { dir, cleanup } = tempDir()
  const clock = new ManualClock()
  const file = join(dir, 'n.sqlite')
  try {
    const eco = makeEconomy(file, node, clock, config())
    eco.observeFrame({ peer: peerOf(mallory), direction: 'out', type: MessageType.VPN_DATA, bytes: 100 })
    const { bytes, pending } = eco.makeClaim(mallory.publicKey)
    const body = { v: 1, from: mallory.publicKey, to: node.publicKey, seq: Number(pending.seq), claim: claimHash(bytes), attested: (1n << 64n) - 1n, paidIn: 0, status: 1, ts: 1 }
    const enc = encode(body)
    const signed = new Uint8Array(ACK_DOMAIN.length + enc.length); signed.set(ACK_DOMAIN); signed.set(enc, ACK_DOMAIN.length)
    const ack = encode({ ...body, sig: mallory.sign(signed) })
    try { eco.applyAck(pending, ack) } catch { /* refusing the ack is fine too */ }
    eco.observeFrame({ peer: peerOf(honest), direction: 'out', type: MessageType.VPN_DATA, bytes: 700 })
    eco.flush()
    eco.close()
    const again = makeEconomy(file, node, clock, config())
    assert.equal(again.balance(honest.publicKey).served, 700n)
    assert.equal(again.balance(mallory.publicKey).served, 100n)
    again.close()
  } finally { cleanup() }
})

test('B: a row the store cannot hold fails only its own peer; the others are saved, close() never throws', () => {
  const { dir, cleanup } = tempDir()
  const file = join(dir, 'n.sqlite')
  try {
    const store = LedgerStore.open(file)
    store.meter(honest.publicKey, 'served', 'wire:vpn', 10n, 10n)
    // a fault injected on purpose: a counter past what SQLite INTEGER holds, bypassing every check
    store.touch(mallory.publicKey).served = 1n << 63n
    store.meter(honest.publicKey, 'served', 'wire:vpn', 5n, 5n)
    assert.throws(() => store.flush(), (e: unknown) => e instanceof ZeoneError && e.code === 'ledger_flush')
    assert.doesNotThrow(() => store.close())
    const again = LedgerStore.open(file)
    assert.equal(again.account(honest.publicKey).served, 15n)
    assert.equal(again.account(mallory.publicKey).served, 0n)
    // what could not be saved makes the shutdown unclean, so the reconciliation may explain the loss
    assert.equal(again.recovered, true)
    again.close()
  } finally { cleanup() }
})

test('B: a failed flush is counted and logged by the engine, and retried; the engine closes without throwing', () => {
  const { dir, cleanup } = tempDir()
  const clock = new ManualClock()
  const file = join(dir, 'n.sqlite')
  try {
    let failures = 0
    const logged: string[] = []
    const logger = { ...silentLogger, error: (_o: unknown, msg?: string) => { logged.push(String(msg)) } }
    const eco = makeEconomy(file, node, clock, config(), { events: { ...nullEvents, flushFailure: () => { failures++ } }, logger: logger as typeof silentLogger })
    eco.observeFrame({ peer: peerOf(honest), direction: 'out', type: MessageType.VPN_DATA, bytes: 700 })
    eco.store.touch(mallory.publicKey).served = 1n << 63n // the fault, injected on purpose
    assert.equal(code(() => eco.flush()), 'ledger_flush')
    eco.observeFrame({ peer: peerOf(honest), direction: 'out', type: MessageType.VPN_DATA, bytes: 1 })
    assert.equal(code(() => eco.flush()), 'ledger_flush')
    assert.equal(failures, 2)
    assert.equal(eco.store.flushFailures, 2)
    assert.equal(logged.length, 1, 'logged once, counted every time')
    // the fault goes away (the entry is retried from memory): the next flush saves it
    eco.store.touch(mallory.publicKey).served = 5n
    eco.flush()
    eco.close()
    const again = makeEconomy(file, node, clock, config())
    assert.equal(again.balance(honest.publicKey).served, 701n)
    assert.equal(again.balance(mallory.publicKey).served, 5n)
    again.close()
  } finally { cleanup() }
})
