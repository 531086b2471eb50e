// Randomized adversarial sequences against SettlementEscrow on EDR (issue 13): an adversarial debtor (deposits,
// poison cheques with any serial, a colluding second creditor draining the shared deposit, withdrawal requests,
// withdrawals, unbinding, disputes it never lets the arbiter settle) against an honest creditor that holds the
// latest cheque for the service it delivered and cashes it as soon as it sees a withdrawal request.
// Invariants after every step:
//  - each time the creditor cashes, its cumulative receipts become exactly min(cheque, paid + deposit): the
//    deposit pays it as far as it goes, and poison cheques (which only move deposit to it) change nothing, so it is
//    never paid less than if the debtor had followed the honest schedule;
//  - a withdrawal only succeeds strictly after unlockAt and within the window; unbinding never succeeds while a
//    deposit is held; every dispute ends (arbiter or default outcome) with the amount split and nothing stuck;
//  - the escrow's token balance equals the deposit plus open settlements (conservation).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { hexToBytes, keccak256, toHex, type Address } from 'viem'
import { Identity } from '../../src/crypto/identity.js'
import { signOnchainPart } from '../../src/economy/chain/cheque-eip712.js'
import { signBinding } from '../../src/economy/chain/binding.js'
import { cashCheque, type CashableCheque } from '../../src/economy/chain/settle.js'
import { makeFixture, keys, ZEO } from './fixture.js'

const D = 1 // adversarial debtor
const C = 2 // honest creditor
const S = 3 // the debtor's own second creditor (sybil)
const ARB = 0
const RUNS = Number(process.env.PROPERTY_RUNS ?? 15)

type Cmd =
  | { k: 'deposit'; x: number }
  | { k: 'serve'; x: number }
  | { k: 'poison'; wei: bigint; serial: bigint }
  | { k: 'sybil'; x: number }
  | { k: 'cash' }
  | { k: 'request' }
  | { k: 'withdraw'; x: number }
  | { k: 'unbind' }
  | { k: 'wait'; s: number }
  | { k: 'dispute'; x: number; arbiter: boolean; bps: number }

const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary })
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  w(2, fc.record({ k: fc.constant('deposit' as const), x: fc.integer({ min: 1, max: 60 }) })),
  w(3, fc.record({ k: fc.constant('serve' as const), x: fc.integer({ min: 1, max: 40 }) })),
  w(3, fc.record({
    k: fc.constant('poison' as const),
    wei: fc.oneof(fc.constant(1n), fc.bigInt({ min: 1n, max: ZEO(30) }), fc.bigInt({ min: 1n, max: ZEO(300) })),
    serial: fc.oneof(fc.constant((1n << 64n) - 1n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: 20n })),
  })),
  w(1, fc.record({ k: fc.constant('sybil' as const), x: fc.integer({ min: 1, max: 40 }) })),
  w(2, fc.record({ k: fc.constant('cash' as const) })),
  w(1, fc.record({ k: fc.constant('request' as const) })),
  w(1, fc.record({ k: fc.constant('withdraw' as const), x: fc.integer({ min: 1, max: 100 }) })),
  w(1, fc.record({ k: fc.constant('unbind' as const) })),
  w(1, fc.record({ k: fc.constant('wait' as const), s: fc.oneof(fc.integer({ min: 1, max: 150 }), fc.constant(86_500)) })),
  w(1, fc.record({ k: fc.constant('dispute' as const), x: fc.integer({ min: 1, max: 20 }), arbiter: fc.boolean(), bps: fc.integer({ min: 0, max: 10_000 }) })),
)

async function attempt(p: Promise<unknown>): Promise<boolean> {
  try { await p; return true } catch { return false }
}

test('property: an adversarial debtor never pays an honest cheque holder less than min(cheque, deposit)', async () => {
  const f = await makeFixture()
  const E = f.dep.escrow
  const escrow = hexToBytes(E)
  const id = Identity.fromSeed(new Uint8Array(32).fill(9))
  await f.w(D, E, 'SettlementEscrow', 'bind', [toHex(id.publicKey), toHex(signBinding(id.exportSecretKey(), 31337n, E, f.addr(D)))])
  await f.w(0, f.dep.token, 'ZEOToken', 'transfer', [f.addr(D), ZEO(100_000)])
  await f.w(D, f.dep.token, 'ZEOToken', 'approve', [E, ZEO(100_000)])
  await f.w(ARB, E, 'SettlementEscrow', 'grantRole', [keccak256(toHex('ARBITER_ROLE')), f.addr(ARB)])
  const window = await f.r<bigint>(E, 'SettlementEscrow', 'withdrawWindow')
  const arbitration = await f.r<bigint>(E, 'SettlementEscrow', 'arbitrationWindow')
  const snap = async () => f.chain.request({ method: 'evm_snapshot' } as never) as Promise<string>
  let base = await snap()

  const deposit = async () => (await f.r<[bigint, bigint, boolean]>(E, 'SettlementEscrow', 'deposits', [f.addr(D)]))
  const paid = (to: number) => f.r<bigint>(E, 'SettlementEscrow', 'paidOut', [f.addr(D), f.addr(to)])
  const tokenBal = (a: Address) => f.r<bigint>(f.dep.token, 'ZEOToken', 'balanceOf', [a])
  const sign = (to: number, wei: bigint, serial: bigint): Promise<CashableCheque> =>
    signOnchainPart(keys[D]!, { chainId: 31337n, escrow, creditorEvm: hexToBytes(f.addr(to)), amountWei: wei, serial, expires: 0n })
      .then((onchain) => ({ serial, expires: 0n, onchain }))

  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 60 }), fc.array(cmd, { minLength: 4, maxLength: 14 }), async (first, rest) => {
    const cmds: Cmd[] = [{ k: 'deposit', x: first }, ...rest]
    await f.chain.request({ method: 'evm_revert', params: [base] } as never)
    base = await snap()
    let held: CashableCheque | undefined // the creditor's latest cheque (honest schedule)
    let heldWei = 0n
    let serial = 0n
    let sybilWei = 0n
    let withdrawing = false

    // the honest creditor: cash what it holds; the outcome must be exactly min(cheque, paid + deposit)
    const creditorCash = async () => {
      if (held === undefined) return
      const before = await paid(C)
      const [bal] = await deposit()
      const ok = await attempt(cashCheque(f.clients[C]!, f.arts, held))
      const after = await paid(C)
      const expected = heldWei > before ? before + (heldWei - before < bal ? heldWei - before : bal) : before
      assert.equal(after, expected, `creditor paid ${after}, expected min(cheque ${heldWei}, paid ${before} + deposit ${bal})`)
      assert.equal(ok, expected > before)
    }

    for (const c of cmds) {
      switch (c.k) {
        case 'deposit':
          await f.w(D, E, 'SettlementEscrow', 'deposit', [ZEO(c.x)])
          withdrawing = false // a deposit cancels the request
          break
        case 'serve': // service delivered and paid by a new cumulative cheque; the creditor serves only a covered debtor
          if (withdrawing) break
          heldWei += ZEO(c.x)
          held = await sign(C, heldWei, ++serial)
          break
        case 'poison': // the debtor signs any amount with any serial to the creditor and submits it itself
          await attempt(cashCheque(f.clients[D]!, f.arts, await sign(C, c.wei, c.serial)))
          break
        case 'sybil': // the debtor pays a colluding creditor out of the same deposit
          sybilWei += ZEO(c.x)
          await attempt(cashCheque(f.clients[S]!, f.arts, await sign(S, sybilWei, BigInt(c.x))))
          break
        case 'cash':
          await creditorCash()
          break
        case 'request':
          await f.w(D, E, 'SettlementEscrow', 'requestWithdrawal')
          withdrawing = true
          await creditorCash() // the honest creditor reacts within the notice period
          break
        case 'withdraw': {
          const [bal, unlockAt] = await deposit()
          const ok = await attempt(f.w(D, E, 'SettlementEscrow', 'withdrawDeposit', [ZEO(c.x)]))
          if (ok) {
            const t = (await f.clients[0]!.public.getBlock()).timestamp
            assert.ok(unlockAt !== 0n && t > unlockAt && t <= unlockAt + window, `withdrawal at ${t} outside (${unlockAt}, ${unlockAt + window}]`)
            assert.ok(ZEO(c.x) <= bal)
          }
          break
        }
        case 'unbind': {
          const [bal] = await deposit()
          const ok = await attempt(f.w(D, E, 'SettlementEscrow', 'unbind'))
          assert.ok(!ok || bal === 0n, 'unbound while holding a deposit')
          if (ok) { // rebind so the sequence can go on (the same node id, a fresh signature)
            await f.w(D, E, 'SettlementEscrow', 'bind', [toHex(id.publicKey), toHex(signBinding(id.exportSecretKey(), 31337n, E, f.addr(D)))])
          }
          break
        }
        case 'wait':
          await f.chain.increaseTime(c.s)
          break
        case 'dispute': { // the debtor escrows a payment and disputes it; the arbiter resolves or never does
          const sid = await f.r<bigint>(E, 'SettlementEscrow', 'nextId')
          const amount = ZEO(c.x)
          await f.w(D, E, 'SettlementEscrow', 'initiateSettlement', [f.addr(C), amount, keccak256(toHex('p'))])
          await f.w(D, E, 'SettlementEscrow', 'disputeSettlement', [sid, toHex('no')])
          const c0 = await tokenBal(f.addr(C))
          const d0 = await tokenBal(f.addr(D))
          let bps = BigInt(c.bps)
          if (c.arbiter) await f.w(ARB, E, 'SettlementEscrow', 'resolveDispute', [sid, bps])
          else {
            await f.chain.increaseTime(Number(arbitration) + 1)
            await f.w(S, E, 'SettlementEscrow', 'expireDispute', [sid])
            bps = await f.r<bigint>(E, 'SettlementEscrow', 'DEFAULT_PAYEE_BPS')
          }
          const share = (amount * bps) / 10_000n
          assert.equal((await tokenBal(f.addr(C))) - c0, share - (share * 2000n) / 10_000n)
          assert.equal((await tokenBal(f.addr(D))) - d0, amount - share)
          break
        }
      }
      // conservation: everything the escrow holds is the debtor's deposit (every settlement above has ended)
      assert.equal(await tokenBal(E), (await deposit())[0])
    }
    await creditorCash()
    return true
  }), { numRuns: RUNS, endOnFailure: true })
})
