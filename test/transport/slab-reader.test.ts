/**
 * SlabReader driven the way Node drives it (next(), then read(n) after the kernel filled n bytes), feeding a
 * FrameReader: frames bigger than what is left of a slab are moved to a new slab and arrive as one view.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { AeadKey } from '../../src/crypto/aead.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { SlabReader } from '../../src/transport/slab-reader.js'
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
