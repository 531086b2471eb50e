/** The download's hashing worker agrees with the main-thread hashes for shared and plain memory, in update order. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { HashThread } from '../../src/content/hash-thread.js'
import { leafHash } from '../../src/content/merkle.js'
import { pseudoRandom } from './helpers.js'

test('HashThread: leaf hashes equal merkle.leafHash; the whole-file hash follows update order; shared memory is released after use', async () => {
  const t = new HashThread()
  try {
    const whole = createHash('sha256')
    const released: number[] = []
    const parts = [0, 1, 2, 3, 4, 5].map((i) => pseudoRandom(100_000 + i * 777, `part${i}`))
    for (const [i, p] of parts.entries()) {
      // even parts in shared memory at an offset (hashed where they lie), odd parts as plain Buffers (posted as copies)
      let view: Uint8Array = Buffer.from(p)
      if (i % 2 === 0) {
        const sab = new Uint8Array(new SharedArrayBuffer(p.byteLength + 64))
        sab.set(p, 64)
        view = sab.subarray(64)
      }
      assert.deepEqual(await t.leaf(view), leafHash(p), `leaf ${i}`)
      t.update(view, () => released.push(i))
      whole.update(p)
      if (i % 2 === 1) view.fill(0) // a copy was posted: the caller may reuse its memory at once
    }
    assert.deepEqual(await t.digest(), new Uint8Array(whole.digest()))
    assert.deepEqual(released.sort(), [0, 1, 2, 3, 4, 5])
  } finally {
    t.close()
  }
})

test('HashThread: an update that cannot be made poisons the digest (never a digest that missed data)', async () => {
  const t = new HashThread()
  try {
    t.update(new Uint8Array(10))
    // a detached buffer cannot be posted
    const gone = new Uint8Array(16)
    structuredClone(gone.buffer, { transfer: [gone.buffer] })
    t.update(gone)
    await assert.rejects(t.digest(), /cannot hand this chunk to the hashing thread/)
  } finally {
    t.close()
  }
})

test('HashThread: after close every call fails with a clear error', async () => {
  const t = new HashThread()
  t.close()
  await assert.rejects(t.leaf(new Uint8Array(10)), /hashing thread closed/)
  await assert.rejects(t.digest(), /hashing thread closed/)
})
