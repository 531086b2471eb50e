// docs/contracts.md test vectors, and the TypeScript encodings checked against the deployed contracts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex, hexToBytes, toHex, type Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { chequeDigest, signOnchainPart, verifyOnchainPart } from '../../src/economy/chain/cheque-eip712.js'
import { bindingMessage, signBinding } from '../../src/economy/chain/binding.js'
import { Identity } from '../../src/crypto/identity.js'
import { makeFixture, keys, ZEO } from './fixture.js'

const KEY = `0x${'01'.repeat(32)}` as Hex
const ESCROW = hexToBytes(`0x${'ee'.repeat(20)}`)
const FIELDS = { chainId: 31337n, escrow: ESCROW, creditorEvm: hexToBytes(`0x${'cc'.repeat(20)}`), amountWei: 1234567890123456789n, serial: 7n, expires: 1900000000n }

test('vector: EIP-712 cheque digest and signature (docs/contracts.md)', async () => {
  const debtor = privateKeyToAddress(KEY)
  assert.equal(debtor, '0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1')
  assert.equal(chequeDigest({ ...FIELDS, debtorEvm: hexToBytes(debtor) }), '0xa8a349fb4206f34358bca91fdff910d943d457c57d7c7b06a872452b40a035a4')
  const part = await signOnchainPart(KEY, FIELDS)
  assert.equal(bytesToHex(part.sig), '0xa92bb36ac7b314e71a44a03376fc90d7711af7fbdfac0647b28bb51a547b756c209288fbc9377dd792fd18e1de890506a36f5e96c5ef8561a40db1a251a006bb1b')
  assert.ok(verifyOnchainPart(part, 7n, 1900000000n))
  assert.ok(!verifyOnchainPart(part, 8n, 1900000000n))
  assert.equal(bytesToHex(bindingMessage(31337n, bytesToHex(ESCROW), debtor)),
    '0x5a454f4e452d42494e442d76310000000000000000000000000000000000000000000000000000000000007a69eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee1a642f0e3c3af545e7acbd38b07251b3990914f1')
})

test('the escrow computes the same cheque digest and binding message as the client; cashing costs <= 2x a transfer', async () => {
  const f = await makeFixture()
  const escrow = hexToBytes(f.dep.escrow)
  const fields = { ...FIELDS, escrow, debtorEvm: hexToBytes(f.addr(1)) }
  const onchain = await f.r<Hex>(f.dep.escrow, 'SettlementEscrow', 'chequeDigest', [f.addr(1), bytesToHex(fields.creditorEvm), fields.amountWei, fields.serial, fields.expires])
  assert.equal(onchain, chequeDigest(fields))
  const msg = await f.r<Hex>(f.dep.escrow, 'SettlementEscrow', 'bindingMessage', [f.addr(1)])
  assert.equal(msg, bytesToHex(bindingMessage(31337n, f.dep.escrow, f.addr(1))))

  // gas: a plain transfer to an existing holder vs cashing a later cheque (neither creates storage)
  await f.w(0, f.dep.token, 'ZEOToken', 'transfer', [f.addr(1), ZEO(1000)])
  await f.w(0, f.dep.token, 'ZEOToken', 'transfer', [f.addr(2), ZEO(1)])
  const transfer = (await f.w(0, f.dep.token, 'ZEOToken', 'transfer', [f.addr(2), ZEO(1)])).gasUsed
  const id = Identity.fromSeed(new Uint8Array(32).fill(3))
  await f.w(1, f.dep.escrow, 'SettlementEscrow', 'bind', [toHex(id.publicKey), toHex(signBinding(id.exportSecretKey(), 31337n, f.dep.escrow, f.addr(1)))])
  await f.w(1, f.dep.token, 'ZEOToken', 'approve', [f.dep.escrow, ZEO(1000)])
  await f.w(1, f.dep.escrow, 'SettlementEscrow', 'deposit', [ZEO(1000)])
  const cash = async (amount: bigint, serial: bigint) => {
    const o = await signOnchainPart(keys[1]!, { chainId: 31337n, escrow, creditorEvm: hexToBytes(f.addr(2)), amountWei: amount, serial, expires: 0n })
    return (await f.w(2, f.dep.escrow, 'SettlementEscrow', 'cashCheque', [f.addr(1), f.addr(2), amount, serial, 0n, bytesToHex(o.sig)])).gasUsed
  }
  await cash(ZEO(1), 1n)
  const later = await cash(ZEO(2), 2n)
  assert.ok(later <= 2n * transfer, `cashCheque ${later} gas > 2 x transfer ${transfer}`)
  // a debtor holding a deposit cannot unbind (cheques signed while bound stay cashable until it has left)
  await assert.rejects(f.w(1, f.dep.escrow, 'SettlementEscrow', 'unbind'), /DepositHeld/)
  assert.ok((await cash(ZEO(3), 3n)) > 0n)
})
