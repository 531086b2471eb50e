// Issue 13 part 5: the creditor's client checks a cheque's on-chain part against the chain (payee, rate, binding,
// deposit coverage) through ChequeGuard, on real contracts (EDR), and Economy.receiveCheque refuses with a reason.
import { MessageType } from '../../src/wire/message-types.js'
import type { RemotePeer } from '../../src/interfaces/link.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { hexToBytes, toHex, type Hex } from 'viem'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { decodeCheque, encodeCheque, signCheque } from '../../src/economy/cheque.js'
import { signOnchainPart } from '../../src/economy/chain/cheque-eip712.js'
import { signBinding } from '../../src/economy/chain/binding.js'
import { ChainClient } from '../../src/economy/chain/client.js'
import { ChequeGuard } from '../../src/economy/chain/cheque-guard.js'
import { ChequeRejectedError } from '../../src/economy/errors.js'
import { ManualClock, makeEconomy, tempDir } from '../economy/helpers.js'
import { makeFixture, keys, ZEO, type Fixture } from './fixture.js'

const RATE = 10n ** 12n // wei per micro-credit
const bind = async (f: Fixture, i: number, id: Identity) =>
  f.w(i, f.dep.escrow, 'SettlementEscrow', 'bind', [toHex(id.publicKey), toHex(signBinding(id.exportSecretKey(), 31337n, f.dep.escrow, f.addr(i)))])

test('creditor refuses cheques that pay someone else, at another rate, from an unbound key, or beyond the deposit', async () => {
  const f = await makeFixture()
  const { dir, cleanup } = tempDir()
  const alice = Identity.fromSeed(randomBytes(32)) // debtor, EVM account 1
  const bob = Identity.fromSeed(randomBytes(32)) // creditor (us), EVM account 2
  const mallory = Identity.fromSeed(randomBytes(32)) // bound to EVM account 5
  try {
    await bind(f, 1, alice)
    await bind(f, 2, bob)
    await bind(f, 5, mallory)
    await f.w(0, f.dep.token, 'ZEOToken', 'transfer', [f.addr(1), ZEO(10)])
    await f.w(1, f.dep.token, 'ZEOToken', 'approve', [f.dep.escrow, ZEO(10)])
    await f.w(1, f.dep.escrow, 'SettlementEscrow', 'deposit', [ZEO(10)])

    const client = await ChainClient.open({ deployment: f.dep, provider: f.chain, privateKey: keys[2]! })
    const clock = new ManualClock()
    let guardNow = 0
    const guard = new ChequeGuard({ chain: client, chainId: 31337n, escrow: hexToBytes(f.dep.escrow), selfEvm: f.addr(2), weiPerMicroCredit: RATE, ttlMs: 1000, now: () => guardNow })
    const eco = makeEconomy(join(dir, 'bob.sqlite'), bob, clock, undefined, { onchainVerifier: (c) => guard.verify(c) })
    const expires = BigInt(Math.floor(clock.now() / 1000) + 3600)
    const cheque = async (serial: bigint, credits: bigint, o: { to?: number; key?: Hex; wei?: bigint } = {}) => {
      const onchain = await signOnchainPart(o.key ?? keys[1]!, {
        chainId: 31337n, escrow: hexToBytes(f.dep.escrow), creditorEvm: hexToBytes(f.addr(o.to ?? 2)), amountWei: o.wei ?? credits * RATE, serial, expires,
      })
      return encodeCheque(signCheque(alice, { creditor: bob.publicKey, amount: credits, serial, expires, onchain }))
    }
    const refused = (bytes: Uint8Array, code: string) => assert.throws(() => eco.receiveCheque(alice.publicKey, bytes),
      (e: unknown) => e instanceof ChequeRejectedError && e.code === code, `expected ${code}`)
    const score = () => eco.trust.view(alice.publicKey).behavior

    // bob served alice 10^7 credits: a cheque credits only what the debtor owes (docs/protocol/economy.md)
    eco.observeFrame({ peer: { nodeId: alice.publicKey } as RemotePeer, direction: 'out', type: MessageType.VPN_DATA, bytes: Number(10_000_000n / eco.pricing.bytePrice) })
    assert.equal(eco.owed(alice.publicKey), 10_000_000n)
    // before the guard knows alice: refused as pending, and that is not alice's fault
    const first = await cheque(1n, 1_000_000n) // 1 ZEO
    const s0 = score()
    refused(first, 'onchain_pending')
    assert.equal(score(), s0)
    await guard.settled()
    assert.equal(eco.receiveCheque(alice.publicKey, first), 'new')

    // pays another EVM address (a valid signature by alice's bound key, just not to us)
    let s = score()
    refused(await cheque(2n, 2_000_000n, { to: 3 }), 'onchain_wrong_payee')
    assert.ok(score() < s, 'a trust event for the sender')
    // 1 wei for 5 credits
    s = score()
    refused(await cheque(2n, 1_000_005n, { wei: 1n }), 'onchain_wrong_rate')
    assert.ok(score() < s)
    // signed by an EVM key that is not bound (and has no deposit), and by one bound to another node id
    refused(await cheque(2n, 2_000_000n, { key: keys[4]! }), 'onchain_unbound')
    refused(await cheque(2n, 2_000_000n, { key: keys[5]! }), 'onchain_unbound')
    // more than the deposit covers (10 ZEO = 10^7 credits)
    s = score()
    refused(await cheque(2n, 10_000_001n), 'onchain_uncovered')
    assert.ok(score() < s)
    assert.equal(eco.receiveCheque(alice.publicKey, await cheque(2n, 10_000_000n)), 'new')
    assert.equal(eco.balance(alice.publicKey).paidIn, 10_000_000n)

    // alice announces a withdrawal: once the guard's entry is refreshed, new unpaid amounts are not covered
    await f.w(1, f.dep.escrow, 'SettlementEscrow', 'requestWithdrawal')
    guardNow += 1000
    assert.equal(guard.verify(decodeCheque(await cheque(3n, 10_000_000n))), true) // stale entry still used, refresh started
    await guard.settled()
    refused(await cheque(3n, 10_000_000n), 'onchain_uncovered')
    eco.close()
  } finally { cleanup() }
})
