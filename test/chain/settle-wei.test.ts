// onchain.amountWei on the wire: uint up to 2^64-1, minimal big-endian byte string above (docs/protocol/economy.md §2).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Identity } from '../../src/crypto/identity.js'
import { decodeCheque, encodeCheque, encodeWei, signCheque, type OnchainPart } from '../../src/economy/cheque.js'
import { encode, decode } from '../../src/wire/cbor.js'
import { ChequeRejectedError } from '../../src/economy/errors.js'

const alice = Identity.fromSeed(new Uint8Array(32).fill(1))
const bob = Identity.fromSeed(new Uint8Array(32).fill(2))
const part = (amountWei: bigint): OnchainPart => ({
  chainId: 31337n, escrow: new Uint8Array(20).fill(0xee), debtorEvm: new Uint8Array(20).fill(0xdd), creditorEvm: new Uint8Array(20).fill(0xcc), amountWei, sig: new Uint8Array(65).fill(7),
})
const wire = (amountWei: bigint) => encodeCheque(signCheque(alice, { creditor: bob.publicKey, amount: 5n, serial: 1n, expires: 2_000_000_000n, onchain: part(amountWei) }))

test('amountWei: one encoding per value, uint below 2^64, fewest big-endian bytes from 2^64 to 2^256-1', () => {
  assert.equal(encodeWei((1n << 64n) - 1n), (1n << 64n) - 1n)
  assert.deepEqual(encodeWei(1n << 64n), Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0, 0]))
  assert.equal((encodeWei((1n << 256n) - 1n) as Uint8Array).length, 32)
  assert.throws(() => encodeWei(1n << 256n), RangeError)
  assert.throws(() => encodeWei(-1n), RangeError)
  for (const v of [0n, 1n, (1n << 64n) - 1n, 1n << 64n, 10n ** 24n, (1n << 255n) + 3n, (1n << 256n) - 1n]) {
    assert.equal(decodeCheque(wire(v)).onchain!.amountWei, v)
  }
})

test('amountWei: non-canonical or oversize byte strings are refused as bad_cheque', () => {
  const tamper = (amountWei: Uint8Array) => {
    const m = decode(wire(1n << 64n)) as Record<string, unknown>
    ;(m.onchain as Record<string, unknown>).amountWei = amountWei
    return encode(m as never)
  }
  const refused = (b: Uint8Array) => assert.throws(() => decodeCheque(b), (e: unknown) => e instanceof ChequeRejectedError && e.code === 'bad_cheque')
  refused(tamper(Uint8Array.from([0, 1, 0, 0, 0, 0, 0, 0, 0, 0]))) // leading zero
  refused(tamper(Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0]))) // fits a uint: must be one
  refused(tamper(new Uint8Array(33).fill(1))) // above uint256
  assert.equal(decodeCheque(tamper(Uint8Array.from([2, 0, 0, 0, 0, 0, 0, 0, 0]))).onchain!.amountWei, 2n << 64n)
})
