import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { hashFile } from '../../src/content/hasher.js'
import { MerkleTree, leafHash } from '../../src/content/merkle.js'
import { pseudoRandom, tempDir } from './helpers.js'

test('hashFile: leaves, root and whole-file SHA-256 agree with a direct computation, with and without workers', async (t) => {
  const { dir, cleanup } = tempDir('hash')
  t.after(cleanup)
  const CH = 16384
  for (const size of [0, 1, CH - 1, CH, CH + 1, 21 * CH + 333]) {
    const data = pseudoRandom(size, `hf${size}`)
    const file = join(dir, `f${size}`)
    writeFileSync(file, data)
    const flat = new Uint8Array(Math.ceil(size / CH) * 32)
    for (let i = 0; i * CH < size; i++) flat.set(leafHash(data.subarray(i * CH, (i + 1) * CH)), i * 32)
    const root = new MerkleTree(flat).root
    for (const workers of [0, 2]) {
      const d = await hashFile(file, CH, { workers })
      assert.equal(d.size, size)
      assert.deepEqual(d.leaves, flat, `leaves size=${size} workers=${workers}`)
      assert.deepEqual(d.root, root)
      assert.equal(Buffer.from(d.sha256).toString('hex'), createHash('sha256').update(data).digest('hex'))
    }
  }
})
