import assert from 'node:assert/strict'
import { test } from 'node:test'
import { EAGER_FRAME_BYTES, FrameReader, type RawFrame } from '../../src/wire/frame.js'

function frame(body: number, fill: number): Buffer {
  const b = Buffer.alloc(16 + body, fill)
  b[0] = 0x5a; b[1] = 0x45; b[2] = 2; b[3] = 0x20
  b.writeUInt32BE(body, 4)
  return b
}

test('FrameReader: a large frame from unstable chunks is buffered as it arrives (growing), then emitted intact', () => {
  const frames = [frame(3 * 1024 * 1024 + 17, 1), frame(100, 2), frame(EAGER_FRAME_BYTES + 5, 3), frame(16 * 1024 * 1024, 4)]
  const got: RawFrame[] = []
  const r = new FrameReader({ versions: new Set([2]), maxBody: 16 << 20, onFrame: (f) => got.push({ ...f, frame: Buffer.from(f.frame) }) })
  const all = Buffer.concat(frames)
  const before = process.memoryUsage().arrayBuffers
  // the first 100 KiB of the 3 MiB frame: the reader holds about that much, not 3 MiB
  r.push(Buffer.from(all.subarray(0, 7)))
  r.push(Buffer.from(all.subarray(7, 100_000)))
  assert.equal(r.buffered, 100_000)
  assert.ok(process.memoryUsage().arrayBuffers - before < 2.5 * 1024 * 1024)
  for (let off = 100_000; off < all.length; off += 65_521) r.push(Buffer.from(all.subarray(off, Math.min(all.length, off + 65_521))))
  assert.equal(got.length, frames.length)
  got.forEach((g, i) => assert.ok(g.frame.equals(frames[i]!), `frame ${i} intact`))
  assert.equal(r.buffered, 0)
})
