import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { createHash } from 'node:crypto'
import { emptyRoot, leafHash, MerkleBuilder, MerkleTree, nodeHash, rootOfLeafHashes, verifyInclusion } from '../../src/content/merkle.js'
import { toHex, fromHex } from '../../src/util/bytes.js'

// RFC 6962 reference inputs (the Certificate Transparency test data); roots listed in docs/protocol/content.md
const INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(fromHex)
const ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
]
const PROOF_8_0 = ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']
const PROOF_5_4 = ['d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']

function leavesOf(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.length * 32)
  chunks.forEach((c, i) => out.set(leafHash(c), i * 32))
  return out
}

/** Direct transcription of the RFC 6962 recursive definition, as an independent reference. */
function mth(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return new Uint8Array(createHash('sha256').digest())
  if (leaves.length === 1) return leaves[0]!
  let k = 1
  while (k * 2 < leaves.length) k *= 2
  return nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)))
}

test('RFC 6962 reference roots for 0..8 leaves (tree, builder, flat helper agree)', () => {
  for (let n = 0; n <= 8; n++) {
    const leaves = leavesOf(INPUTS.slice(0, n))
    assert.equal(toHex(new MerkleTree(leaves).root), ROOTS[n], `tree n=${n}`)
    assert.equal(toHex(rootOfLeafHashes(leaves)), ROOTS[n], `flat n=${n}`)
  }
  assert.equal(toHex(emptyRoot()), ROOTS[0])
})

test('hashing is domain separated: leaf = H(0x00||x), node = H(0x01||l||r)', () => {
  assert.equal(toHex(leafHash(new Uint8Array())), '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d')
  const l = leafHash(fromHex('')); const r = leafHash(fromHex('00'))
  assert.equal(toHex(nodeHash(l, r)), ROOTS[2])
  assert.notEqual(toHex(leafHash(new Uint8Array([...l, ...r]))), ROOTS[2])
})

test('reference inclusion proofs verify; the same proof at another index or size does not', () => {
  const t8 = new MerkleTree(leavesOf(INPUTS))
  assert.deepEqual(t8.proof(0).map(toHex), PROOF_8_0)
  assert.equal(verifyInclusion(t8.leaf(0), 0, 8, PROOF_8_0.map(fromHex), t8.root), true)
  for (const idx of [1, 2, 4, 7]) assert.equal(verifyInclusion(t8.leaf(0), idx, 8, PROOF_8_0.map(fromHex), t8.root), false, `index ${idx}`)
  assert.equal(verifyInclusion(t8.leaf(0), 0, 4, PROOF_8_0.map(fromHex), t8.root), false)
  assert.equal(verifyInclusion(t8.leaf(0), 0, 9, PROOF_8_0.map(fromHex), t8.root), false)
  const t5 = new MerkleTree(leavesOf(INPUTS.slice(0, 5)))
  assert.deepEqual(t5.proof(4).map(toHex), PROOF_5_4)
})

test('proofs of the wrong length are refused, and out-of-range indices fail closed', () => {
  const t = new MerkleTree(leavesOf(INPUTS))
  const p = t.proof(3)
  assert.equal(verifyInclusion(t.leaf(3), 3, 8, p.slice(0, 2), t.root), false)
  assert.equal(verifyInclusion(t.leaf(3), 3, 8, [...p, p[0]!], t.root), false)
  assert.equal(verifyInclusion(t.leaf(3), 8, 8, p, t.root), false)
  assert.equal(verifyInclusion(t.leaf(3), -1, 8, p, t.root), false)
  assert.equal(verifyInclusion(t.leaf(3), 3, 8, [new Uint8Array(31), ...p.slice(1)], t.root), false)
  assert.throws(() => t.proof(8), { code: 'bad_index' })
  // single-leaf tree: empty proof only
  const t1 = new MerkleTree(leavesOf(INPUTS.slice(0, 1)))
  assert.equal(verifyInclusion(t1.leaf(0), 0, 1, [], t1.root), true)
  assert.equal(verifyInclusion(t1.leaf(0), 0, 1, [t1.leaf(0)], t1.root), false)
})

test('property: every proof verifies only at its own (index, size), and the tree matches the recursive definition', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), (n, seed) => {
    const chunks = Array.from({ length: n }, (_, i) => new Uint8Array([i & 0xff, (seed >> 3) & 0xff, i >> 8]))
    const flat = leavesOf(chunks)
    const t = new MerkleTree(flat)
    const list = chunks.map(leafHash)
    assert.equal(toHex(t.root), toHex(mth(list)))
    const b = new MerkleBuilder()
    for (const l of list) b.push(l)
    assert.equal(toHex(b.root()), toHex(t.root))
    const i = seed % n
    const proof = t.proof(i)
    assert.equal(verifyInclusion(t.leaf(i), i, n, proof, t.root), true)
    const j = (i + 1 + (seed % 7)) % n
    if (j !== i) assert.equal(verifyInclusion(t.leaf(i), j, n, proof, t.root), false)
    if (n > 1) {
      const bad = proof.map((x) => x.slice())
      bad[seed % bad.length]![seed % 32]! ^= 1
      assert.equal(verifyInclusion(t.leaf(i), i, n, bad, t.root), false)
    }
  }), { numRuns: 150 })
})
