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
function readAll(stream: Buffer, onFrame: (f: RawFrame) => void): { intoSizes: number[]; into: Set<ArrayBufferLike> } {
  const fr = new FrameReader({ versions: new Set([2]), maxBody: 16 << 20, onFrame })
  const sr = new SlabReader((c) => fr.push(c, true), { get: () => fr.pending(), moved: (t) => fr.movedTail(t) })
  const intoSizes: number[] = []
  const buffers = new Set<ArrayBufferLike>()
  let off = 0
  while (off < stream.length) {
    const into = sr.next()
    intoSizes.push(into.length)
    buffers.add(into.buffer)
    const n = Math.min(into.length, stream.length - off)
    stream.copy(into, 0, off, off + n)
    off += n
    sr.read(n)
  }
  assert.equal(fr.buffered, 0)
  return { intoSizes, into: buffers }
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
