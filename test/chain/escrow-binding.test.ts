// The on-chain Ed25519 check behind IdentityRegistry.bind (contracts/Ed25519.sol), against node's crypto.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { bytesToHex, toHex, type Hex } from 'viem'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes, sign } from '../../src/crypto/sign.js'
import { bindingMessage, signBinding } from '../../src/economy/chain/binding.js'
import { makeFixture, deployRaw } from './fixture.js'

const L = (1n << 252n) + 27742317777372353535851937790883648493n

test('Ed25519 library: SHA-512 matches node for every padding boundary; signatures verify exactly when valid', async () => {
  const f = await makeFixture()
  const h = await deployRaw(f, 0, 'Ed25519Harness')
  for (const n of [0, 1, 55, 111, 112, 113, 127, 128, 149, 255, 300]) {
    const data = randomBytes(n)
    const [hi, lo] = await f.r<[Hex, Hex]>(h, 'Ed25519Harness', 'sha512', [toHex(data)])
    assert.equal(hi + lo.slice(2), `0x${createHash('sha512').update(data).digest('hex')}`, `sha512 of ${n} bytes`)
  }
  const verify = (key: Uint8Array, sig: Uint8Array, msg: Uint8Array) => f.r<boolean>(h, 'Ed25519Harness', 'verify', [toHex(key), toHex(sig), toHex(msg)])
  for (let i = 0; i < 3; i++) {
    const id = Identity.fromSeed(randomBytes(32))
    const msg = randomBytes(85 + i * 40)
    const sig = sign(id.exportSecretKey(), msg)
    assert.equal(await verify(id.publicKey, sig, msg), true)
    const badMsg = msg.slice(); badMsg[0]! ^= 1
    assert.equal(await verify(id.publicKey, sig, badMsg), false)
    const badR = sig.slice(); badR[3]! ^= 0x10
    assert.equal(await verify(id.publicKey, badR, msg), false)
    const badS = sig.slice(); badS[40]! ^= 0x01
    assert.equal(await verify(id.publicKey, badS, msg), false)
    // S + L encodes the same scalar: malleable, refused (S must be < L)
    let s = 0n
    for (let j = 63; j >= 32; j--) s = (s << 8n) | BigInt(sig[j]!)
    const hi = s + L
    const mall = sig.slice()
    for (let j = 0; j < 32; j++) mall[32 + j] = Number((hi >> BigInt(8 * j)) & 0xffn)
    if (hi < 1n << 256n) assert.equal(await verify(id.publicKey, mall, msg), false)
    assert.equal(await verify(Identity.fromSeed(randomBytes(32)).publicKey, sig, msg), false)
  }
  // a key that is not a curve point, and one with y >= p
  assert.equal(await verify(new Uint8Array(32).fill(0xff), new Uint8Array(64), new Uint8Array(1)), false)
})

test('bind stores a binding only with the Ed25519 signature over this chain, registry and account', async () => {
  const f = await makeFixture()
  const id = Identity.fromSeed(randomBytes(32))
  const E = f.dep.escrow
  const sig = signBinding(id.exportSecretKey(), 31337n, E, f.addr(3))
  const other = signBinding(id.exportSecretKey(), 1n, E, f.addr(3)) // another chain
  await assert.rejects(f.w(3, E, 'SettlementEscrow', 'bind', [toHex(id.publicKey), toHex(other)]), /BadBindingSignature/)
  const r = await f.w(3, E, 'SettlementEscrow', 'bind', [toHex(id.publicKey), toHex(sig)])
  assert.ok(r.gasUsed < 3_000_000n, `bind costs ${r.gasUsed} gas`)
  const [nodeId, stored] = await f.r<[Hex, Hex]>(E, 'SettlementEscrow', 'bindingOf', [f.addr(3)])
  assert.equal(nodeId, bytesToHex(id.publicKey))
  assert.equal(stored, bytesToHex(sig))
  assert.equal(bytesToHex(bindingMessage(31337n, E, f.addr(3))), await f.r<Hex>(E, 'SettlementEscrow', 'bindingMessage', [f.addr(3)]))
})
