import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hexToBytes, encodeFunctionData, keccak256, toHex, toFunctionSelector, type Hex } from 'viem'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { signCheque, encodeCheque, decodeCheque, checkCheque } from '../../src/economy/cheque.js'
import { signOnchainPart, makeOnchainVerifier, verifyOnchainPart } from '../../src/economy/chain/cheque-eip712.js'
import { signBinding, verifyBinding } from '../../src/economy/chain/binding.js'
import { cashCheque } from '../../src/economy/chain/settle.js'
import { makeFixture, deployRaw, reverts, keys, ZEO, type Fixture } from './fixture.js'

const bal = (f: Fixture, i: number) => f.r<bigint>(f.dep.token, 'ZEOToken', 'balanceOf', [f.addr(i)])
const supply = (f: Fixture) => f.r<bigint>(f.dep.token, 'ZEOToken', 'totalSupply')

async function setupDebtor(f: Fixture, i: number, ident: Identity, deposit: bigint) {
  const edSig = signBinding(ident.exportSecretKey(), 31337n, f.dep.escrow, f.addr(i))
  await f.w(i, f.dep.escrow, 'SettlementEscrow', 'bind', [toHex(ident.publicKey), toHex(edSig)])
  await f.w(0, f.dep.token, 'ZEOToken', 'transfer', [f.addr(i), deposit])
  await f.w(i, f.dep.token, 'ZEOToken', 'approve', [f.dep.escrow, deposit])
  await f.w(i, f.dep.escrow, 'SettlementEscrow', 'deposit', [deposit])
}

test('cheques: two nodes exchange cumulative cheques, one cashes, 20% burned, balances match to the wei', async () => {
  const f = await makeFixture()
  const alice = Identity.fromSeed(randomBytes(32)) // debtor, EVM account 1
  const bob = Identity.fromSeed(randomBytes(32)) // creditor, EVM account 2
  await setupDebtor(f, 1, alice, ZEO(1000))
  // the binding checks out off-chain (what bob's client verifies before accepting cheques)
  const [nodeId, edSig] = await f.r<[Hex, Hex]>(f.dep.escrow, 'SettlementEscrow', 'bindingOf', [f.addr(1)])
  assert.ok(verifyBinding(hexToBytes(nodeId), hexToBytes(edSig), 31337n, f.dep.escrow, f.addr(1)))
  assert.ok(!verifyBinding(hexToBytes(nodeId), hexToBytes(edSig), 31337n, f.dep.escrow, f.addr(3)))

  const expires = BigInt(Math.floor(Date.now() / 1000) + 86_400)
  const escrow = hexToBytes(f.dep.escrow)
  const verifier = makeOnchainVerifier({ chainId: 31337n, escrow })
  let previous: { amount: bigint; serial: bigint } | undefined
  let latest
  // metering: alice consumes bob's service three times; each cheque is cumulative
  for (const [serial, credits] of [[1n, 1_000n], [2n, 2_500n], [3n, 4_000n]] as const) {
    const amountWei = credits * 10n ** 15n // 1 credit = 0.001 ZEO in this test's price
    const onchain = await signOnchainPart(keys[1]!, { chainId: 31337n, escrow, creditorEvm: hexToBytes(f.addr(2)), amountWei, serial, expires })
    const wire = encodeCheque(signCheque(alice, { creditor: bob.publicKey, amount: credits, serial, expires, onchain }))
    const got = decodeCheque(wire)
    assert.equal(checkCheque(got, { debtor: alice.publicKey, creditor: bob.publicKey, previous, nowSec: expires - 100n, onchainVerifier: verifier }), 'new')
    previous = { amount: got.amount, serial: got.serial }
    latest = got
  }
  const s0 = await supply(f)
  const b0 = await bal(f, 2)
  const r = await cashCheque(f.clients[2]!, f.arts, latest!)
  const paid = 4_000n * 10n ** 15n
  assert.equal(r.paid, paid)
  assert.equal(r.burned, paid / 5n)
  assert.equal((await bal(f, 2)) - b0, paid - paid / 5n)
  assert.equal(s0 - (await supply(f)), paid / 5n)
  const [dep] = await f.r<[bigint, bigint]>(f.dep.escrow, 'SettlementEscrow', 'deposits', [f.addr(1)])
  assert.equal(dep, ZEO(1000) - paid)
  // replaying the same cheque fails; an older one too
  await reverts(cashCheque(f.clients[2]!, f.arts, latest!), 'StaleCheque')
  // a later cheque pays only the difference
  const onchain = await signOnchainPart(keys[1]!, { chainId: 31337n, escrow, creditorEvm: hexToBytes(f.addr(2)), amountWei: paid + 7n, serial: 4n, expires })
  const r2 = await cashCheque(f.clients[3]!, f.arts, { serial: 4n, expires, onchain }) // anyone may submit; pays bob
  assert.equal(r2.paid, 7n)
  assert.equal(r2.burned, 1n)
})

test('cheques: cross-chain, wrong escrow, tampered, expired and unbound cheques are refused', async () => {
  const f = await makeFixture()
  const alice = Identity.fromSeed(randomBytes(32))
  await setupDebtor(f, 1, alice, ZEO(100))
  const escrow = hexToBytes(f.dep.escrow)
  const creditorEvm = hexToBytes(f.addr(2))
  const expires = BigInt(Math.floor(Date.now() / 1000) + 86_400)
  // signed for another chain id: the EIP-712 domain differs, so the recovered signer is not the debtor
  const other = await signOnchainPart(keys[1]!, { chainId: 1n, escrow, creditorEvm, amountWei: ZEO(1), serial: 1n, expires })
  assert.equal(makeOnchainVerifier({ chainId: 31337n, escrow })({ serial: 1n, expires, onchain: other }), false)
  await reverts(cashCheque(f.clients[2]!, f.arts, { serial: 1n, expires, onchain: { ...other, chainId: 31337n } }), 'BadSignature')
  // signed for another escrow on the same chain
  const escrow2 = await deployRaw(f, 0, 'SettlementEscrow', [f.dep.token, 1n, 1n, 1n, f.addr(0)])
  const wrong = await signOnchainPart(keys[1]!, { chainId: 31337n, escrow: hexToBytes(escrow2), creditorEvm, amountWei: ZEO(1), serial: 1n, expires })
  await reverts(cashCheque(f.clients[2]!, f.arts, { serial: 1n, expires, onchain: { ...wrong, escrow } }), 'BadSignature')
  // tampered amount
  const good = await signOnchainPart(keys[1]!, { chainId: 31337n, escrow, creditorEvm, amountWei: ZEO(1), serial: 1n, expires })
  assert.equal(verifyOnchainPart({ ...good, amountWei: ZEO(2) }, 1n, expires), false)
  await reverts(cashCheque(f.clients[2]!, f.arts, { serial: 1n, expires, onchain: { ...good, amountWei: ZEO(2) } }), 'BadSignature')
  // malformed / high-s signatures never verify off-chain
  const highS = good.sig.slice()
  highS[32] = 0xff
  assert.equal(verifyOnchainPart({ ...good, sig: highS }, 1n, expires), false)
  // expired
  const old = await signOnchainPart(keys[1]!, { chainId: 31337n, escrow, creditorEvm, amountWei: ZEO(1), serial: 1n, expires: 1000n })
  await reverts(cashCheque(f.clients[2]!, f.arts, { serial: 1n, expires: 1000n, onchain: old }), 'ChequeExpired')
  // unbound debtor (account 4 never bound an Ed25519 id)
  await f.w(0, f.dep.token, 'ZEOToken', 'transfer', [f.addr(4), ZEO(10)])
  await f.w(4, f.dep.token, 'ZEOToken', 'approve', [f.dep.escrow, ZEO(10)])
  await f.w(4, f.dep.escrow, 'SettlementEscrow', 'deposit', [ZEO(10)])
  const unbound = await signOnchainPart(keys[4]!, { chainId: 31337n, escrow, creditorEvm, amountWei: ZEO(1), serial: 1n, expires })
  await reverts(cashCheque(f.clients[2]!, f.arts, { serial: 1n, expires, onchain: unbound }), 'DebtorNotBound')
  // the good one still works, and the debtor cannot pull the deposit out before the withdrawal delay
  await f.w(1, f.dep.escrow, 'SettlementEscrow', 'requestWithdrawal')
  await reverts(f.w(1, f.dep.escrow, 'SettlementEscrow', 'withdrawDeposit', [ZEO(99)]), 'TooEarly')
  assert.equal((await cashCheque(f.clients[2]!, f.arts, { serial: 1n, expires, onchain: good })).paid, ZEO(1))
})

test('settlements: initiate, dispute window, no claim after a dispute, arbiter-only resolution, refund after deadline', async () => {
  const f = await makeFixture()
  const E = f.dep.escrow
  const proof = toHex('usage-proof: 123 MiB served')
  await f.w(0, f.dep.token, 'ZEOToken', 'transfer', [f.addr(1), ZEO(300)])
  await f.w(1, f.dep.token, 'ZEOToken', 'approve', [E, ZEO(300)])
  // #1: happy path
  await f.w(1, E, 'SettlementEscrow', 'initiateSettlement', [f.addr(2), ZEO(100), keccak256(proof)])
  await reverts(f.w(2, E, 'SettlementEscrow', 'claimSettlement', [1n, proof]), 'TooEarly')
  await f.chain.increaseTime(101)
  await reverts(f.w(3, E, 'SettlementEscrow', 'claimSettlement', [1n, proof]), 'NotParty')
  await reverts(f.w(2, E, 'SettlementEscrow', 'claimSettlement', [1n, toHex('forged')]), 'BadProof')
  const s0 = await supply(f)
  await f.w(2, E, 'SettlementEscrow', 'claimSettlement', [1n, proof])
  assert.equal(await bal(f, 2), ZEO(80))
  assert.equal(s0 - (await supply(f)), ZEO(20))
  await reverts(f.w(2, E, 'SettlementEscrow', 'claimSettlement', [1n, proof]), 'BadStatus')
  // #2: disputed, then the payee tries to claim anyway
  await f.w(1, E, 'SettlementEscrow', 'initiateSettlement', [f.addr(2), ZEO(100), keccak256(proof)])
  await f.w(1, E, 'SettlementEscrow', 'disputeSettlement', [2n, toHex('service never delivered')])
  await f.chain.increaseTime(101)
  await reverts(f.w(2, E, 'SettlementEscrow', 'claimSettlement', [2n, proof]), 'BadStatus')
  await reverts(f.w(2, E, 'SettlementEscrow', 'resolveDispute', [2n, 10_000n]), 'AccessControlUnauthorizedAccount')
  const arbiter = await f.r<Hex>(E, 'SettlementEscrow', 'ARBITER_ROLE')
  await f.w(0, E, 'SettlementEscrow', 'grantRole', [arbiter, f.addr(5)])
  const p1 = await bal(f, 1)
  await f.w(5, E, 'SettlementEscrow', 'resolveDispute', [2n, 2500n]) // 25% to the payee
  assert.equal(await bal(f, 2), ZEO(80) + ZEO(20)) // 25 ZEO, 5 burned
  assert.equal((await bal(f, 1)) - p1, ZEO(75))
  // #3: never claimed: refund only after the deadline
  await f.w(1, E, 'SettlementEscrow', 'initiateSettlement', [f.addr(2), ZEO(100), keccak256(proof)])
  await reverts(f.w(1, E, 'SettlementEscrow', 'refund', [3n]), 'TooEarly')
  await f.chain.increaseTime(1200)
  await reverts(f.w(1, E, 'SettlementEscrow', 'disputeSettlement', [3n, '0x']), 'TooLate')
  await reverts(f.w(2, E, 'SettlementEscrow', 'claimSettlement', [3n, proof]), 'TooLate')
  const p2 = await bal(f, 1)
  await f.w(4, E, 'SettlementEscrow', 'refund', [3n])
  assert.equal((await bal(f, 1)) - p2, ZEO(100))
})

test('reentrancy: a hostile token re-entering the escrow during a payout is stopped by the guard', async () => {
  const f = await makeFixture()
  const evil = await deployRaw(f, 0, 'ReentrantToken')
  const esc = await deployRaw(f, 0, 'SettlementEscrow', [evil, 0n, 1000n, 0n, f.addr(0)])
  const proof = toHex('p')
  await f.w(0, evil, 'ReentrantToken', 'transfer', [f.addr(2), 10n ** 20n])
  await f.w(0, evil, 'ReentrantToken', 'approve', [esc, 10n ** 22n])
  await f.w(0, esc, 'SettlementEscrow', 'initiateSettlement', [f.addr(2), 10n ** 21n, keccak256(proof)])
  await f.w(0, esc, 'SettlementEscrow', 'initiateSettlement', [f.addr(2), 10n ** 21n, keccak256(proof)])
  // while paying settlement 1, the token calls back claimSettlement(2) — a second payout inside the first
  const abi = f.abi('SettlementEscrow')
  await f.w(0, evil, 'ReentrantToken', 'arm', [esc, encodeFunctionData({ abi, functionName: 'claimSettlement', args: [2n, proof] })])
  await f.w(2, esc, 'SettlementEscrow', 'claimSettlement', [1n, proof])
  assert.equal(await f.r<boolean>(evil, 'ReentrantToken', 'reentered'), true)
  assert.equal(await f.r<boolean>(evil, 'ReentrantToken', 'reentrySucceeded'), false)
  const err = await f.r<Hex>(evil, 'ReentrantToken', 'reentryError')
  assert.equal(err.slice(0, 10), toFunctionSelector('ReentrancyGuardReentrantCall()'))
  const [, , , , , status] = await f.r<unknown[]>(esc, 'SettlementEscrow', 'settlements', [2n])
  assert.equal(status, 1) // still Pending
})
