import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { RemotePeer } from '../../src/interfaces/link.js'
import { ZeoneError } from '../../src/util/errors.js'
import { encodeCheque, signCheque } from '../../src/economy/cheque.js'
import { ChequeRejectedError, EconomyProtocolError } from '../../src/economy/errors.js'
import { decodeAck, encodeClaim } from '../../src/economy/messages.js'
import { MessageType } from '../../src/wire/message-types.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { config, idFrom, ManualClock, makeEconomy, tempDir } from './helpers.js'
import { immediateClock, SimNode, tick } from './sim.js'

const alice = idFrom(21)
const bob = idFrom(22)
const mallory = idFrom(23)
const peerOf = (id: typeof alice): RemotePeer => ({ nodeId: id.publicKey, nodeIdB64: id.nodeIdB64, dhtId: id.dhtId, remoteAddr: { host: 'x', port: 1 }, version: 2, capabilities: new Set(), outbound: true })
const code = (f: () => unknown): string => { try { f(); return 'none' } catch (e) { return (e as ZeoneError).code } }

test('debt limit: tit-for-tat blocking until a cheque arrives, with trust events', () => {
  const { dir, cleanup } = tempDir()
  const clock = new ManualClock()
  try {
    const cfg = config({ debtLimit: 1000 })
    const srv = makeEconomy(join(dir, 's.sqlite'), alice, clock, cfg)
    const cli = makeEconomy(join(dir, 'c.sqlite'), bob, clock, cfg)
    // alice serves bob 1500 bytes of VPN data, both sides meter it
    srv.observeFrame({ peer: peerOf(bob), direction: 'out', type: MessageType.VPN_DATA, bytes: 1500 })
    cli.observeFrame({ peer: peerOf(alice), direction: 'in', type: MessageType.VPN_DATA, bytes: 1500 })
    // unmetered types (DHT, economy) cost nothing
    srv.observeFrame({ peer: peerOf(bob), direction: 'out', type: MessageType.DHT_FIND_NODE, bytes: 99999 })
    assert.equal(srv.owed(bob.publicKey), 1500n)
    assert.equal(cli.owed(alice.publicKey), -1500n)
    const before = srv.trust.view(bob.publicKey).behavior
    assert.equal(code(() => srv.authorize(bob.publicKey, 'vpn')), 'debt_limit')
    assert.equal(code(() => srv.authorize(bob.publicKey, 'vpn')), 'debt_limit')
    // excessive_debt reported once per crossing, not per refusal
    assert.ok(Math.abs(srv.trust.view(bob.publicKey).behavior - before * 0.97) < 1e-9)
    const cheque = cli.issueCheque(alice.publicKey)!
    assert.ok(cheque)
    assert.equal(cli.balance(alice.publicKey).paidOut, 1500n)
    assert.equal(srv.receiveCheque(bob.publicKey, cheque), 'new')
    assert.equal(srv.receiveCheque(bob.publicKey, cheque), 'duplicate')
    assert.equal(srv.owed(bob.publicKey), 0n)
    srv.authorize(bob.publicKey, 'vpn')
    assert.ok(srv.trust.view(bob.publicKey).behavior > 0.5 * 0.97)
    // nothing owed: no cheque
    assert.equal(cli.issueCheque(alice.publicKey), undefined)
    // service charges go through pricing and count toward the debt
    assert.equal(srv.record(bob.publicKey, 'inference', 10n, 'served'), 10n)
    assert.equal(srv.owed(bob.publicKey), 10n)
    srv.close(); cli.close()
  } finally { cleanup() }
})

test('hostile cheques: wrong creditor, forged, reused serial, amount taken back; trust reacts', () => {
  const { dir, cleanup } = tempDir()
  const clock = new ManualClock()
  try {
    const srv = makeEconomy(join(dir, 's.sqlite'), alice, clock)
    const exp = BigInt(Math.floor(clock.now() / 1000) + 3600)
    const c1 = encodeCheque(signCheque(bob, { creditor: alice.publicKey, amount: 100n, serial: 1n, expires: exp }))
    const c2 = encodeCheque(signCheque(bob, { creditor: alice.publicKey, amount: 200n, serial: 2n, expires: exp }))
    assert.equal(srv.receiveCheque(bob.publicKey, c2), 'new')
    assert.equal(code(() => srv.receiveCheque(bob.publicKey, c1)), 'cheque_backwards')
    assert.ok(srv.trust.view(bob.publicKey).behavior > 0, 'a stale cheque is only invalid_message')
    // a cheque bob wrote to mallory, replayed to alice
    const toM = encodeCheque(signCheque(bob, { creditor: mallory.publicKey, amount: 900n, serial: 9n, expires: exp }))
    assert.equal(code(() => srv.receiveCheque(bob.publicKey, toM)), 'wrong_party')
    // mallory passes off bob's cheque as her own
    assert.equal(code(() => srv.receiveCheque(mallory.publicKey, c2)), 'wrong_party')
    // a newer serial that takes money back is a double spend: slashed
    const back = encodeCheque(signCheque(bob, { creditor: alice.publicKey, amount: 150n, serial: 3n, expires: exp }))
    assert.equal(code(() => srv.receiveCheque(bob.publicKey, back)), 'cheque_backwards')
    assert.equal(srv.trust.view(bob.publicKey).blacklisted, true)
    assert.equal(code(() => srv.authorize(bob.publicKey, 'vpn')), 'low_trust')
    // forged signature: mallory slashed
    const forged = signCheque(mallory, { creditor: alice.publicKey, amount: 5n, serial: 1n, expires: exp })
    forged.sig[0]! ^= 1
    assert.throws(() => srv.receiveCheque(mallory.publicKey, encodeCheque(forged)), ChequeRejectedError)
    assert.equal(srv.trust.view(mallory.publicKey).blacklisted, true)
    // bob owed alice nothing: his cheque is held at its full amount but credits nothing (no credit we would owe him)
    assert.equal(srv.balance(bob.publicKey).paidIn, 0n)
    assert.equal(srv.store.getCheque(bob.publicKey, alice.publicKey)?.amount, 200n)
    srv.close()
  } finally { cleanup() }
})

test('redemption and default are recorded', () => {
  const { dir, cleanup } = tempDir()
  const clock = new ManualClock()
  try {
    const srv = makeEconomy(join(dir, 's.sqlite'), alice, clock, config({ chequeTtlSec: 60 }))
    const cli = makeEconomy(join(dir, 'c.sqlite'), bob, clock, config({ chequeTtlSec: 60 }))
    const carol = idFrom(24)
    const cc = makeEconomy(join(dir, 'cc.sqlite'), carol, clock, config({ chequeTtlSec: 60 }))
    srv.observeFrame({ peer: peerOf(bob), direction: 'out', type: MessageType.VPN_DATA, bytes: 50 })
    cli.observeFrame({ peer: peerOf(alice), direction: 'in', type: MessageType.VPN_DATA, bytes: 50 })
    srv.observeFrame({ peer: peerOf(carol), direction: 'out', type: MessageType.VPN_DATA, bytes: 70 })
    cc.observeFrame({ peer: peerOf(alice), direction: 'in', type: MessageType.VPN_DATA, bytes: 70 })
    srv.receiveCheque(bob.publicKey, cli.issueCheque(alice.publicKey)!)
    srv.receiveCheque(carol.publicKey, cc.issueCheque(alice.publicKey)!)
    assert.equal(srv.heldCheques().length, 2)
    assert.equal(srv.markRedeemed(bob.publicKey, 1n), true)
    assert.deepEqual(srv.heldCheques().map((c) => c.debtor), [carol.publicKey])
    assert.equal(srv.markRedeemed(bob.publicKey, 1n), false)
    // carol keeps consuming after her cheque, which then expires unredeemed
    srv.observeFrame({ peer: peerOf(carol), direction: 'out', type: MessageType.VPN_DATA, bytes: 10 })
    clock.advance(61_000)
    assert.equal(srv.checkDefaults(), 1)
    assert.equal(srv.checkDefaults(), 0)
    const rows = srv.store.query<{ status: string }>('SELECT status FROM cheques ORDER BY status')
    assert.deepEqual(rows.map((r) => r.status), ['defaulted', 'redeemed'])
    assert.ok(srv.trust.view(carol.publicKey).behavior < 0.5)
    assert.ok(srv.trust.view(bob.publicKey).behavior > 0.5)
    srv.close(); cli.close(); cc.close()
  } finally { cleanup() }
})

test('low trust: refused unless the peer holds collateral with us; stake weighs trust', () => {
  const { dir, cleanup } = tempDir()
  const clock = new ManualClock()
  try {
    const base = 100n * 10n ** 18n
    const stakes = new Map<string, bigint>([[bob.nodeIdB64, base / 100n]])
    const srv = makeEconomy(join(dir, 's.sqlite'), alice, clock, config({ trust: { collateral: 1000 } }), { stakeOf: (p) => stakes.get(Buffer.from(p).toString('base64')) })
    // bob: T = 0.5, weight sqrt(0.01) = 0.1 -> 0.05 < T_min
    assert.equal(code(() => srv.authorize(bob.publicKey, 'vpn')), 'low_trust')
    srv.authorize(mallory.publicKey, 'vpn') // default stake = base: 0.5
    const cli = makeEconomy(join(dir, 'c.sqlite'), bob, clock)
    // bob prepays: consumed from alice side is negative owed (alice owes bob) -> collateral
    srv.observeFrame({ peer: peerOf(bob), direction: 'in', type: MessageType.VPN_DATA, bytes: 1000 })
    srv.authorize(bob.publicKey, 'vpn')
    stakes.set(bob.nodeIdB64, base * 4n)
    assert.ok(Math.abs(srv.trust.view(bob.publicKey).effective - 1.0) < 1e-9)
    srv.close(); cli.close()
  } finally { cleanup() }
})

test('claims over the memory transport: signed, answered, and hostile claims refused', async () => {
  const { dir, cleanup } = tempDir()
  const net = new MemoryNetwork({ clock: immediateClock })
  const now = (): number => 1_767_225_600_000
  const cfg = config({ tolerancePpm: 0, minClaimGapMs: 0 })
  const a = new SimNode(net, alice, 1, dir, cfg, now)
  const b = new SimNode(net, bob, 2, dir, cfg, now)
  try {
    a.start(); b.start()
    const link = (await a.connect(b))!
    a.send(b, 700); b.send(a, 300)
    await tick(); await tick()
    const d = await a.session.reconcile(link)
    assert.equal(d.reason, 'ok')
    assert.equal(b.economy.balance(alice.publicKey).consumed, 700n)
    // a claim signed by mallory but sent on alice's link is refused
    const bad = encodeClaim(mallory, { to: bob.publicKey, seq: 1n, served: 1n, consumed: 0n, paidOut: 0n, ts: 1n })
    await assert.rejects(link.request(MessageType.BALANCE_CLAIM, bad), (e: unknown) => (e as ZeoneError).code === 'wrong_party')
    // a claim with a flipped byte does not verify
    const good = encodeClaim(alice, { to: bob.publicKey, seq: 9n, served: 700n, consumed: 300n, paidOut: 0n, ts: 1n })
    const flipped = good.slice(); flipped[flipped.length - 1]! ^= 1
    await assert.rejects(link.request(MessageType.BALANCE_CLAIM, flipped), (e: unknown) => (e as ZeoneError).code === 'bad_signature')
    await assert.rejects(link.request(MessageType.BALANCE_CLAIM, new Uint8Array([0xff, 0x00])), (e: unknown) => (e as ZeoneError).code === 'bad_payload')
    // the honest claim is answered with an ack signed by bob, attesting bob's own count
    const reply = await link.request(MessageType.BALANCE_CLAIM, good)
    const ack = decodeAck(reply.body)
    assert.equal(ack.attested, 700n)
    assert.deepEqual(ack.from, bob.publicKey)
    // an unexplained difference is recorded, not applied: bob reports less than alice served, no drop, no crash
    b.economy.store.touch(alice.publicKey).consumed -= 100n
    const d2 = await a.session.reconcile(link)
    assert.equal(d2.reason, 'unexplained')
    assert.equal(a.economy.balance(bob.publicKey).served, 700n)
    assert.equal(a.economy.store.query('SELECT * FROM divergences WHERE accepted = 0').length, 1)
    assert.throws(() => a.economy.applyAck({ peer: bob.publicKey, seq: 99n, hash: new Uint8Array(32), served: 0n, dropEpoch: 0, adjusted: 0n }, reply.body), EconomyProtocolError)
  } finally {
    a.stop(true); b.stop(true)
    cleanup()
  }
})

test('automatic payment: crossing the pay threshold sends a cheque that the creditor accepts', async () => {
  const { dir, cleanup } = tempDir()
  const net = new MemoryNetwork({ clock: immediateClock })
  const now = (): number => 1_767_225_600_000
  const cfg = config({ debtLimit: 10_000, payThresholdPpm: 500_000 })
  const a = new SimNode(net, alice, 1, dir, cfg, now)
  const b = new SimNode(net, bob, 2, dir, cfg, now)
  try {
    a.start(); b.start()
    await a.connect(b)
    a.send(b, 3000); a.send(b, 3000)
    for (let i = 0; i < 4; i++) await tick()
    assert.equal(b.economy.balance(alice.publicKey).paidOut, 6000n)
    assert.equal(a.economy.balance(bob.publicKey).paidIn, 6000n)
    assert.equal(a.economy.owed(bob.publicKey), 0n)
  } finally {
    a.stop(true); b.stop(true)
    cleanup()
  }
})

test('construct then stop immediately; stop twice', () => {
  const { dir, cleanup } = tempDir()
  try {
    const net = new MemoryNetwork({ clock: immediateClock })
    const n = new SimNode(net, alice, 1, dir, config(), Date.now)
    n.start()
    n.stop(true)
    n.session.stop()
    n.session.crash()
  } finally { cleanup() }
})

test('claims are rate limited per peer (answering one commits the ledger)', () => {
  const { dir, cleanup } = tempDir()
  const clock = new ManualClock()
  try {
    const att = makeEconomy(join(dir, 'b.sqlite'), bob, clock, config({ minClaimGapMs: 1000 }))
    const claim = (seq: bigint): Uint8Array => encodeClaim(alice, { to: bob.publicKey, seq, served: 0n, consumed: 0n, paidOut: 0n, ts: 1n })
    att.answerClaim(alice.publicKey, claim(1n))
    assert.equal(code(() => att.answerClaim(alice.publicKey, claim(2n))), 'rate_limited')
    // another peer is not affected
    att.answerClaim(mallory.publicKey, encodeClaim(mallory, { to: bob.publicKey, seq: 1n, served: 0n, consumed: 0n, paidOut: 0n, ts: 1n }))
    clock.advance(1000)
    att.answerClaim(alice.publicKey, claim(3n))
    assert.equal(att.heldCheques().length, 0)
    att.close()
  } finally { cleanup() }
})
