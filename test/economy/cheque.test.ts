import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { checkCheque, decodeCheque, encodeCheque, signCheque, verifyChequeSignature, type Cheque } from '../../src/economy/cheque.js'
import { ChequeRejectedError } from '../../src/economy/errors.js'
import { fromHex, toHex } from '../../src/util/bytes.js'
import { idFrom } from './helpers.js'

const debtor = idFrom(1)
const creditor = idFrom(2)
const NOW = 1_767_225_600n

function cheque(amount: bigint, serial: bigint, expires = NOW + 3600n): Cheque {
  return signCheque(debtor, { creditor: creditor.publicKey, amount, serial, expires })
}

// docs/protocol/economy.md §2 test vector: debtor seed 01*32, creditor seed 02*32
const VECTOR_HEX = 'a761760163736967584055e0b8be0b99b067f5378bd0b8d8475813106968122df1cdfb6a130da7b8bd00a64af864fe76c1de01549415690f511788ec2ae07e0b408fc71dff18c4d68f0f66616d6f756e741a000f424066646562746f7258208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c6673657269616c0167657870697265731a69570a80686372656469746f7258208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394'

test('cheque encodes to the documented vector and verifies', () => {
  const c = cheque(1_000_000n, 1n, 1_767_312_000n)
  const hex = toHex(encodeCheque(c))
  if (process.env.PRINT_VECTORS) console.log('cheque vector', hex)
  assert.equal(hex, VECTOR_HEX)
  // the vector decodes and verifies on its own (debtor key = seed 01*32)
  const v = decodeCheque(fromHex(VECTOR_HEX))
  assert.deepEqual(v.debtor, debtor.publicKey)
  assert.ok(verifyChequeSignature(v))
  assert.ok(verifyChequeSignature(c))
  const back = decodeCheque(encodeCheque(c))
  assert.deepEqual(back, { ...c, sig: new Uint8Array(c.sig) })
  assert.equal(back.amount, 1_000_000n)
})

test('a later cheque supersedes; duplicates are idempotent; backwards, wrong party, forged and expired are refused', () => {
  const c1 = cheque(100n, 1n)
  const c2 = cheque(250n, 2n)
  const ctx = { debtor: debtor.publicKey, creditor: creditor.publicKey, nowSec: NOW }
  assert.equal(checkCheque(c1, ctx), 'new')
  assert.equal(checkCheque(c2, { ...ctx, previous: { amount: 100n, serial: 1n } }), 'new')
  assert.equal(checkCheque(c2, { ...ctx, previous: { amount: 250n, serial: 2n } }), 'duplicate')
  const code = (f: () => unknown): string => { try { f(); return 'none' } catch (e) { assert.ok(e instanceof ChequeRejectedError); return e.code } }
  assert.equal(code(() => checkCheque(c1, { ...ctx, previous: { amount: 250n, serial: 2n } })), 'cheque_backwards')
  assert.equal(code(() => checkCheque(cheque(200n, 3n), { ...ctx, previous: { amount: 250n, serial: 2n } })), 'cheque_backwards')
  assert.equal(code(() => checkCheque(c1, { ...ctx, creditor: debtor.publicKey })), 'wrong_party')
  assert.equal(code(() => checkCheque(c1, { ...ctx, debtor: creditor.publicKey })), 'wrong_party')
  const forged = { ...c1, amount: 101n }
  assert.equal(code(() => checkCheque(forged, ctx)), 'bad_signature')
  assert.equal(code(() => checkCheque(cheque(100n, 1n, NOW), ctx)), 'cheque_expired')
})

test('the onchain part is carried, signed over, shape-checked, and handed to the verifier hook', () => {
  const onchain = { chainId: 31337n, escrow: new Uint8Array(20).fill(7), debtorEvm: new Uint8Array(20).fill(8), creditorEvm: new Uint8Array(20).fill(9), amountWei: 10n ** 18n, sig: new Uint8Array(65).fill(1) }
  const c = signCheque(debtor, { creditor: creditor.publicKey, amount: 5n, serial: 1n, expires: NOW + 10n, onchain })
  const back = decodeCheque(encodeCheque(c))
  assert.deepEqual(back.onchain?.escrow, onchain.escrow)
  assert.equal(back.onchain?.amountWei, 10n ** 18n)
  assert.ok(verifyChequeSignature(back))
  // changing the onchain part breaks the Ed25519 signature (it is inside the signed map)
  assert.equal(verifyChequeSignature({ ...back, onchain: { ...onchain, amountWei: 1n } }), false)
  const ctx = { debtor: debtor.publicKey, creditor: creditor.publicKey, nowSec: NOW }
  let seen = 0
  assert.equal(checkCheque(back, { ...ctx, onchainVerifier: () => { seen++; return true } }), 'new')
  assert.throws(() => checkCheque(back, { ...ctx, onchainVerifier: () => false }), (e: unknown) => e instanceof ChequeRejectedError && e.code === 'bad_onchain')
  assert.equal(seen, 1)
  assert.throws(() => signCheque(debtor, { creditor: creditor.publicKey, amount: 5n, serial: 1n, expires: NOW, onchain: { ...onchain, sig: new Uint8Array(64) } }), ChequeRejectedError)
})

test('malformed cheques: wrong sizes, extra fields, versions, oversize, random bytes', () => {
  const good = encodeCheque(cheque(1n, 1n))
  assert.throws(() => decodeCheque(new Uint8Array(600)), (e: unknown) => e instanceof ChequeRejectedError && e.code === 'bad_cheque')
  assert.throws(() => decodeCheque(good.subarray(0, good.length - 1)), ChequeRejectedError)
  assert.throws(() => decodeCheque(fromHex('a0')), ChequeRejectedError)
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
    try { decodeCheque(b) } catch (e) { assert.ok(e instanceof ChequeRejectedError, String(e)) }
  }), { numRuns: 2000 })
  // single-byte corruption of a valid cheque never yields a cheque that both decodes and verifies
  fc.assert(fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (i, x) => {
    const b = good.slice(); b[i] = b[i]! ^ x
    let c: Cheque
    try { c = decodeCheque(b) } catch { return }
    assert.equal(verifyChequeSignature(c), false)
  }), { numRuns: 1000 })
})
