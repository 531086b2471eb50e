/**
 * SlabReader driven the way Node drives it (next(), then read(n) after the kernel filled n bytes), feeding a
 * FrameReader: frames bigger than what is left of a slab are moved to a new slab and arrive as one view.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { AeadKey } from '../../src/crypto/aead.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { lendFrame, OWN_FRAME_BYTES, ownFrameBuffers, SlabReader } from '../../src/transport/slab-reader.js'
import { SlabPool } from '../../src/transport/slab-pool.js'
import { FrameReader, type RawFrame } from '../../src/wire/frame.js'
import { V2Sealer } from '../../src/wire/frame-v2.js'
import { MessageType } from '../../src/wire/message-types.js'

const slabs = new Set<ArrayBufferLike>()

function run(stream: Buffer, reads: number[]): RawFrame[] {
  const got: RawFrame[] = []
  const fr = new FrameReader({ versions: new Set([2]), maxBody: 16 << 20, onFrame: (f) => got.push({ ...f, frame: f.frame }) })
  const sr = new SlabReader((c) => fr.push(c, true), { get: () => fr.pending(), moved: (t) => fr.movedTail(t) })
  let off = 0
  for (let k = 0; off < stream.length; k++) {
    const into = sr.next()
    slabs.add(into.buffer)
    const n = Math.min(into.length, reads[k % reads.length]!, stream.length - off)
    stream.copy(into, 0, off, off + n)
    off += n
    sr.read(n)
  }
  assert.equal(fr.buffered, 0)
  return got
}

test('SlabReader: frames of up to 3 MiB, any read sizes: every frame intact, big ones never copied into a new buffer', () => {
  const s = new V2Sealer(new AeadKey('chacha20-poly1305', randomBytes(32)))
  fc.assert(fc.property(
    fc.array(fc.integer({ min: 0, max: 3 * 1024 * 1024 }), { minLength: 1, maxLength: 6 }),
    fc.array(fc.integer({ min: 1, max: 300_000 }), { minLength: 1, maxLength: 10 }),
    (sizes, reads) => {
      const frames = sizes.map((n, i) => s.seal(MessageType.VPN_DATA, Buffer.alloc(n, i + 1)))
      const got = run(Buffer.concat(frames), reads)
      assert.equal(got.length, frames.length)
      got.forEach((g, i) => {
        assert.ok(g.frame.equals(frames[i]!), `frame ${i}`)
        // a frame lives in a slab of its own size class: READ_SLAB_BYTES, or its size + 64 KiB when bigger
        assert.ok(slabs.has(g.frame.buffer), `frame ${i} (${g.frame.length} bytes) is a view of a slab the reader read into, not a copy`)
      })
    }), { numRuns: 40 })
})

/** Drives a SlabReader as Node does, with a kernel that returns as much as each buffer asks for. */
function readAll(stream: Buffer, onFrame: (f: RawFrame) => void): { intoSizes: number[]; into: Set<ArrayBufferLike>; reads: Array<{ buffer: ArrayBufferLike; n: number }> } {
  const fr = new FrameReader({ versions: new Set([2]), maxBody: 16 << 20, onFrame })
  const sr = new SlabReader((c) => fr.push(c, true), { get: () => fr.pending(), moved: (t) => fr.movedTail(t) })
  const intoSizes: number[] = []
  const buffers = new Set<ArrayBufferLike>()
  const reads: Array<{ buffer: ArrayBufferLike; n: number }> = []
  let off = 0
  while (off < stream.length) {
    const into = sr.next()
    intoSizes.push(into.length)
    buffers.add(into.buffer)
    const n = Math.min(into.length, stream.length - off)
    stream.copy(into, 0, off, off + n)
    off += n
    reads.push({ buffer: into.buffer, n })
    sr.read(n)
  }
  assert.equal(fr.buffered, 0)
  return { intoSizes, into: buffers, reads }
}

test('SlabReader: a large frame fills a pooled buffer of its own, lent once; buffers given back serve the next frames', () => {
  const s = new V2Sealer(new AeadKey('chacha20-poly1305', randomBytes(32)))
  const sizes = [100, 1 << 20, 700_000, 3, OWN_FRAME_BYTES, 1 << 20, 5000, 2 << 20]
  const frames = Array.from({ length: 40 }, (_, i) => s.seal(MessageType.VPN_DATA, Buffer.alloc(sizes[i % sizes.length]!, i + 1)))
  const allocatedBefore = ownFrameBuffers.allocated
  let k = 0
  let lent = 0
  readAll(Buffer.concat(frames), (f) => {
    const want = frames[k++]!
    assert.ok(f.frame.equals(want), `frame ${k - 1} intact`)
    const release = lendFrame(f.frame)
    if (want.length < OWN_FRAME_BYTES) { assert.equal(release, undefined, 'a small frame shares its slab: never lent'); return }
    assert.equal(f.frame.byteOffset, 0, 'a large frame starts its own buffer')
    assert.ok(release, `large frame ${k - 1} can be lent`)
    assert.equal(lendFrame(f.frame), undefined, 'lent at most once')
    lent++
    release!()
    release!() // a second call gives nothing back twice
  })
  assert.equal(k, frames.length)
  const allocated = ownFrameBuffers.allocated - allocatedBefore
  // each frame gives its buffer back before the next one starts: only the sizes not yet in the pool are allocated
  assert.ok(lent >= 20 && allocated <= 3, `lent ${lent} large frames, allocated ${allocated} buffers`)
})

test('SlabReader: in a stream of 1 MiB frames only a short probe of each lands in a slab (no slab per frame, no big copy)', () => {
  const s = new V2Sealer(new AeadKey('chacha20-poly1305', randomBytes(32)))
  const frames = Array.from({ length: 64 }, (_, i) => s.seal(MessageType.VPN_DATA, Buffer.alloc(1 << 20, i)))
  const held: Buffer[] = []
  const { intoSizes, into } = readAll(Buffer.concat(frames), (f) => { held.push(f.frame) })
  held.forEach((f, i) => assert.ok(f.equals(frames[i]!), `frame ${i}`))
  const own = new Set(held.map((f) => f.buffer))
  const regular = [...into].filter((b) => !own.has(b))
  // the first frame may be read into a slab; after it, every frame's head arrives in a read of at most 4 KiB
  const slabReads = intoSizes.filter((n) => n < OWN_FRAME_BYTES)
  assert.ok(slabReads.slice(1).every((n) => n <= 4096), `slab reads after the first: ${[...new Set(slabReads.slice(1))].join(',')}`)
  assert.ok(regular.length <= 3, `${regular.length} slabs for 64 MiB of large frames`)
})

test('SlabReader: a 64-512 KiB frame is read up to its end only, so the 1 MiB frame after it lands in a slab by a probe alone', () => {
  const s = new V2Sealer(new AeadKey('chacha20-poly1305', randomBytes(32)))
  // a bulk stream whose frames alternate between slab-sized and own-buffer-sized, as a VPN exit sends them
  const sizes = [200_000, 1 << 20, 300_000, 900_000, 70_000, 1 << 20]
  const frames = Array.from({ length: 36 }, (_, i) => s.seal(MessageType.VPN_DATA, Buffer.alloc(sizes[i % sizes.length]!, i + 1)))
  const held: Buffer[] = []
  const { reads } = readAll(Buffer.concat(frames), (f) => { held.push(f.frame) })
  held.forEach((f, i) => assert.ok(f.equals(frames[i]!), `frame ${i}`))
  const own = new Set(held.filter((f) => f.length >= OWN_FRAME_BYTES).map((f) => f.buffer))
  // bytes read into slabs: the small frames, plus at most a probe of each large frame (its bytes then copied)
  const intoSlabs = reads.filter((r) => !own.has(r.buffer)).reduce((a, r) => a + r.n, 0)
  const small = frames.filter((f) => f.length < OWN_FRAME_BYTES).reduce((a, f) => a + f.length, 0)
  const large = frames.length - frames.filter((f) => f.length < OWN_FRAME_BYTES).length
  assert.ok(intoSlabs <= small + large * 4096 + (64 << 10), `${intoSlabs} bytes read into slabs; small frames ${small}, ${large} large frames`)
})

test('SlabReader with a pool: a consumer that copies what it holds and then calls reuse() reads a bulk stream through a few slabs', () => {
  const pool = new SlabPool(8 << 20)
  const stream = Buffer.from(randomBytes(24 << 20))
  const out = Buffer.alloc(stream.length)
  let got = 0
  // like a VPN pipe: chunks wait (a window, a turn) and are copied out together; only then is nothing held
  let queue: Buffer[] = []
  let reads = 0
  const drain = (): void => { for (const c of queue) { c.copy(out, got); got += c.length } queue = [] }
  const r = new SlabReader((c) => { queue.push(c); if (++reads % 3 === 0) { drain(); r.reuse() } }, undefined, pool)
  const slabs = new Set<ArrayBufferLike>()
  let off = 0
  for (let k = 0; off < stream.length; k++) {
    const into = r.next()
    slabs.add(into.buffer)
    const n = Math.min(into.length, [65_536, 300_000, 1 << 20, 7][k % 4]!, stream.length - off)
    stream.copy(into, 0, off, off + n)
    off += n
    r.read(n)
  }
  drain()
  assert.equal(got, stream.length)
  assert.ok(out.equals(stream), 'every byte intact: no slab was refilled while views of it were still held')
  assert.ok(pool.allocated <= 6 && slabs.size <= 6, `${pool.allocated} slabs allocated, ${slabs.size} read into, for 24 MiB`)
  r.dispose()
  assert.ok(pool.bytes > 0, 'dispose gives the slabs back')
  pool.close()
  assert.equal(pool.bytes, 0)
})

test('SlabReader with a pool: without reuse() the bytes handed out are never overwritten', () => {
  const pool = new SlabPool(8 << 20)
  const stream = Buffer.from(randomBytes(6 << 20))
  const chunks: Buffer[] = []
  const r = new SlabReader((c) => chunks.push(c), undefined, pool)
  let off = 0
  for (let k = 0; off < stream.length; k++) {
    const into = r.next()
    const n = Math.min(into.length, [100_000, 5, 1 << 20][k % 3]!, stream.length - off)
    stream.copy(into, 0, off, off + n)
    off += n
    r.read(n)
  }
  assert.ok(Buffer.concat(chunks).equals(stream))
})
