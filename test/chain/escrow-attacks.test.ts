// The "money" issue (13) attacks on SettlementEscrow, each run against the real contracts on EDR.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hexToBytes, keccak256, toHex, type Hex } from 'viem'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { decodeCheque, encodeCheque, signCheque } from '../../src/economy/cheque.js'
import { signOnchainPart } from '../../src/economy/chain/cheque-eip712.js'
import { signBinding } from '../../src/economy/chain/binding.js'
import { cashCheque } from '../../src/economy/chain/settle.js'
import { makeFixture, reverts, keys, ZEO, type Fixture } from './fixture.js'

const DEBTOR = 1
const CREDITOR = 2
const bal = (f: Fixture, i: number) => f.r<bigint>(f.dep.token, 'ZEOToken', 'balanceOf', [f.addr(i)])
const depositOf = async (f: Fixture, i: number) => (await f.r<[bigint, bigint, boolean]>(f.dep.escrow, 'SettlementEscrow', 'deposits', [f.addr(i)]))[0]
const now = async (f: Fixture) => (await f.clients[0]!.public.getBlock()).timestamp
const setNextTime = (f: Fixture, t: bigint) => f.chain.request({ method: 'evm_setNextBlockTimestamp', params: [toHex(t)] } as never)

async function bindAndDeposit(f: Fixture, i: number, amount: bigint): Promise<Identity> {
  const id = Identity.fromSeed(randomBytes(32))
  const edSig = signBinding(id.exportSecretKey(), 31337n, f.dep.escrow, f.addr(i))
  await f.w(i, f.dep.escrow, 'SettlementEscrow', 'bind', [toHex(id.publicKey), toHex(edSig)])
  await f.w(0, f.dep.token, 'ZEOToken', 'transfer', [f.addr(i), amount])
  await f.w(i, f.dep.token, 'ZEOToken', 'approve', [f.dep.escrow, amount])
  if (amount > 0n) await f.w(i, f.dep.escrow, 'SettlementEscrow', 'deposit', [amount])
  return id
}

const chequeTo = (f: Fixture, creditor: number, amountWei: bigint, serial: bigint, debtorKey = keys[DEBTOR]!) =>
  signOnchainPart(debtorKey, { chainId: 31337n, escrow: hexToBytes(f.dep.escrow), creditorEvm: hexToBytes(f.addr(creditor)), amountWei, serial, expires: 0n })
    .then((onchain) => ({ serial, expires: 0n, onchain }))

test('attack 1: a 1-wei cheque with serial 2^64-1 cashed by the debtor does not void the creditor\'s cheque', async () => {
  const f = await makeFixture()
  await bindAndDeposit(f, DEBTOR, ZEO(100))
  const held = await chequeTo(f, CREDITOR, ZEO(60), 5n) // what the creditor holds for service delivered
  const poison = await chequeTo(f, CREDITOR, 1n, (1n << 64n) - 1n)
  assert.equal((await cashCheque(f.clients[DEBTOR]!, f.arts, poison)).paid, 1n) // the debtor submits it itself
  const b0 = await bal(f, CREDITOR)
  const r = await cashCheque(f.clients[CREDITOR]!, f.arts, held)
  assert.equal(r.paid, ZEO(60) - 1n) // cumulative: 60 ZEO in all, the 1 wei already counted
  assert.equal((await bal(f, CREDITOR)) - b0, r.paid - r.burned)
  // the creditor's later cheques (any serial) keep working, and nothing can be paid twice
  assert.equal((await cashCheque(f.clients[CREDITOR]!, f.arts, await chequeTo(f, CREDITOR, ZEO(70), 6n))).paid, ZEO(10))
  await reverts(cashCheque(f.clients[CREDITOR]!, f.arts, held), 'StaleCheque')
  assert.equal(await depositOf(f, DEBTOR), ZEO(30))
})

test('attack 1: a cheque that bounced for lack of deposit stays cashable for the rest after a top-up', async () => {
  const f = await makeFixture()
  await bindAndDeposit(f, DEBTOR, ZEO(10))
  const held = await chequeTo(f, CREDITOR, ZEO(30), 1n)
  assert.equal((await cashCheque(f.clients[CREDITOR]!, f.arts, held)).paid, ZEO(10))
  await f.w(0, f.dep.token, 'ZEOToken', 'transfer', [f.addr(DEBTOR), ZEO(50)])
  await f.w(DEBTOR, f.dep.token, 'ZEOToken', 'approve', [f.dep.escrow, ZEO(50)])
  await f.w(DEBTOR, f.dep.escrow, 'SettlementEscrow', 'deposit', [ZEO(50)])
  assert.equal((await cashCheque(f.clients[CREDITOR]!, f.arts, held)).paid, ZEO(20))
  await reverts(cashCheque(f.clients[CREDITOR]!, f.arts, held), 'StaleCheque')
})

test('attack 2: unbind + requestWithdrawal does not freeze cashing; the creditor is paid before the deposit can leave', async () => {
  const f = await makeFixture()
  await bindAndDeposit(f, DEBTOR, ZEO(100))
  const held = await chequeTo(f, CREDITOR, ZEO(40), 1n) // signed while bound
  try { await f.w(DEBTOR, f.dep.escrow, 'SettlementEscrow', 'unbind') } catch { /* refusing the unbind is also a fix */ }
  await f.w(DEBTOR, f.dep.escrow, 'SettlementEscrow', 'requestWithdrawal')
  await f.chain.increaseTime(50) // within withdrawDelay (100)
  assert.equal((await cashCheque(f.clients[CREDITOR]!, f.arts, held)).paid, ZEO(40))
  await f.chain.increaseTime(60)
  await f.w(DEBTOR, f.dep.escrow, 'SettlementEscrow', 'withdrawDeposit', [ZEO(60)])
  assert.equal(await depositOf(f, DEBTOR), 0n)
})

test('attack 2: a withdrawal request expires when it is not used within the window', async () => {
  const f = await makeFixture()
  await bindAndDeposit(f, DEBTOR, ZEO(100))
  await f.w(DEBTOR, f.dep.escrow, 'SettlementEscrow', 'requestWithdrawal')
  // a standing request would leave the deposit withdrawable without notice forever after
  await f.chain.increaseTime(100 + 86_400 + 10)
  await reverts(f.w(DEBTOR, f.dep.escrow, 'SettlementEscrow', 'withdrawDeposit', [ZEO(100)]), 'WithdrawalExpired')
  assert.equal(await depositOf(f, DEBTOR), ZEO(100))
})

test('attack 2: at the unlock instant the creditor can still cash and the debtor cannot withdraw', async () => {
  const f = await makeFixture()
  await bindAndDeposit(f, DEBTOR, ZEO(100))
  const held = await chequeTo(f, CREDITOR, ZEO(100), 1n)
  await f.w(DEBTOR, f.dep.escrow, 'SettlementEscrow', 'requestWithdrawal')
  const unlockAt = (await f.r<[bigint, bigint, boolean]>(f.dep.escrow, 'SettlementEscrow', 'deposits', [f.addr(DEBTOR)]))[1]
  assert.equal(unlockAt, (await now(f)) + 100n)
  await setNextTime(f, unlockAt)
  await reverts(f.w(DEBTOR, f.dep.escrow, 'SettlementEscrow', 'withdrawDeposit', [ZEO(100)]), 'TooEarly')
  assert.equal((await cashCheque(f.clients[CREDITOR]!, f.arts, held)).paid, ZEO(100))
})

test('attack 6: cumulative amounts above 2^64 wei (18.45 ZEO) go through the cheque codec and are cashed in full', async () => {
  const f = await makeFixture()
  const alice = await bindAndDeposit(f, DEBTOR, ZEO(1000))
  const bob = Identity.fromSeed(randomBytes(32))
  const amountWei = ZEO(500) + 12345n
  const { onchain } = await chequeTo(f, CREDITOR, amountWei, 1n)
  const expires = BigInt(Math.floor(Date.now() / 1000) + 3600)
  const signed = await signOnchainPart(keys[DEBTOR]!, { ...onchain, serial: 1n, expires })
  const wire = encodeCheque(signCheque(alice, { creditor: bob.publicKey, amount: 500_000n, serial: 1n, expires, onchain: signed }))
  const back = decodeCheque(wire)
  assert.equal(back.onchain!.amountWei, amountWei)
  assert.equal((await cashCheque(f.clients[CREDITOR]!, f.arts, back)).paid, amountWei)
  // the largest amount the contract accepts survives the codec too
  const max = (1n << 256n) - 1n
  const top = await signOnchainPart(keys[DEBTOR]!, { ...onchain, amountWei: max, serial: 2n, expires })
  assert.equal(decodeCheque(encodeCheque(signCheque(alice, { creditor: bob.publicKey, amount: 1n, serial: 2n, expires, onchain: top }))).onchain!.amountWei, max)
})

test('attack 7: a dispute the arbiter never resolves ends with the default outcome after the arbitration window', async () => {
  const f = await makeFixture()
  const E = f.dep.escrow
  const proof = toHex('usage')
  await f.w(0, f.dep.token, 'ZEOToken', 'transfer', [f.addr(DEBTOR), ZEO(100)])
  await f.w(DEBTOR, f.dep.token, 'ZEOToken', 'approve', [E, ZEO(100)])
  await f.w(DEBTOR, E, 'SettlementEscrow', 'initiateSettlement', [f.addr(CREDITOR), ZEO(100), keccak256(proof)])
  await f.w(DEBTOR, E, 'SettlementEscrow', 'disputeSettlement', [1n, toHex('griefing: never resolved')])
  const window = await f.r<bigint>(E, 'SettlementEscrow', 'arbitrationWindow')
  await reverts(f.w(4, E, 'SettlementEscrow', 'expireDispute', [1n]), 'TooEarly')
  await f.chain.increaseTime(Number(window) + 1)
  const p0 = await bal(f, DEBTOR)
  const q0 = await bal(f, CREDITOR)
  await f.w(4, E, 'SettlementEscrow', 'expireDispute', [1n]) // anyone may end it
  const payeeShare = ZEO(100) * (await f.r<bigint>(E, 'SettlementEscrow', 'DEFAULT_PAYEE_BPS')) / 10_000n
  assert.equal((await bal(f, CREDITOR)) - q0, payeeShare - payeeShare / 5n)
  assert.equal((await bal(f, DEBTOR)) - p0, ZEO(100) - payeeShare)
  await reverts(f.w(4, E, 'SettlementEscrow', 'expireDispute', [1n]), 'BadStatus')
})

test('attack 7: bind refuses 64 bytes that are not the node\'s Ed25519 signature for this account', async () => {
  const f = await makeFixture()
  const id = Identity.fromSeed(randomBytes(32))
  const E = f.dep.escrow
  await reverts(f.w(3, E, 'SettlementEscrow', 'bind', [toHex(id.publicKey), toHex(randomBytes(64))]), 'BadBindingSignature')
  // a real signature, but made for another account (squatting someone else's id)
  const forOther = signBinding(id.exportSecretKey(), 31337n, E, f.addr(4))
  await reverts(f.w(3, E, 'SettlementEscrow', 'bind', [toHex(id.publicKey), toHex(forOther)]), 'BadBindingSignature')
  await f.w(4, E, 'SettlementEscrow', 'bind', [toHex(id.publicKey), toHex(forOther)])
  const [nodeId] = await f.r<[Hex, Hex]>(E, 'SettlementEscrow', 'bindingOf', [f.addr(4)])
  assert.equal(nodeId, toHex(id.publicKey))
})
