/**
 * FrameWriter slab management against a real TCP socket whose reader stalls, so writes queue behind the kernel and
 * complete later: a slab may only be reused once the socket has called back. The sealer here frames without
 * encryption ([type][length][plaintext]); what is under test is where the bytes live until they are written.
 */
import assert from 'node:assert/strict'
import { connect, createServer, type Socket } from 'node:net'
import { test } from 'node:test'
import { FrameWriter, sendSlabs, type FrameSealer } from '../../src/transport/frame-writer.js'
import { SlabPool } from '../../src/transport/slab-pool.js'

const HEADER = 5
const plainSealer: FrameSealer = {
  headerLength: HEADER,
  frameLength: (n) => HEADER + n,
  sealInto(type, pt, out, off) { out[off] = type; out.writeUInt32BE(pt.byteLength, off + 1); out.set(pt, off + HEADER); return HEADER + pt.byteLength },
  sealInPlace(type, n, out, off) { out[off] = type; out.writeUInt32BE(n, off + 1); return HEADER + n },
}

function parse(all: Buffer): Array<{ type: number; body: Buffer }> {
  const out: Array<{ type: number; body: Buffer }> = []
  for (let o = 0; o < all.length;) {
    const n = all.readUInt32BE(o + 1)
    out.push({ type: all[o]!, body: all.subarray(o + HEADER, o + HEADER + n) })
    o += HEADER + n
  }
  return out
}

test('FrameWriter: queued writes keep their slab until the socket calls back; slabs are then reused', async (t) => {
  let server!: Socket
  const received: Buffer[] = []
  const srv = createServer((s) => { server = s; s.pause(); s.on('data', (d) => received.push(d)) })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  t.after(() => srv.close())
  const sock = connect({ host: '127.0.0.1', port: (srv.address() as { port: number }).port })
  await new Promise((r) => sock.once('connect', r))
  await new Promise((r) => setImmediate(r))
  // small-message batching only: each 100 KB message is a frame of its own, so the test sees every slab write
  const w = new FrameWriter(sock, plainSealer, { itemMax: 8 * 1024, batchMax: 64 * 1024 })
  const head = new Uint8Array([0])
  const body = new Uint8Array(100_000)
  const before = { allocated: sendSlabs.allocated }
  const count = 400 // 40 MB; the reader stalls until the writer has filled every buffer
  for (let i = 0; i < count; i++) {
    body.fill(i & 0xff) // same memory every time: the writer copies
    body[0] = i >> 8
    w.send(0x31, [head, body])
    if (sock.writableLength + w.pending > 4 * 1024 * 1024) {
      // the stalled reader has let the kernel buffers and the writer's queue fill up: let it go on soon
      if (server.isPaused()) setTimeout(() => server.resume(), 100)
      await new Promise((r) => sock.once('drain', r))
    }
    else if (i % 16 === 0) await new Promise((r) => setImmediate(r))
  }
  w.flush()
  const total = count * (HEADER + 1 + body.length)
  await new Promise<void>((resolve, reject) => {
    const give = setTimeout(() => { clearInterval(check); reject(new Error('not all bytes arrived')) }, 60_000)
    const check = setInterval(() => {
      if (received.reduce((n, b) => n + b.length, 0) < total) return
      clearInterval(check)
      clearTimeout(give)
      resolve()
    }, 10)
  })
  sock.destroy()
  const frames = parse(Buffer.concat(received))
  assert.equal(frames.length, count)
  frames.forEach((f, i) => {
    assert.equal(f.type, 0x31)
    assert.equal(f.body.length, 1 + body.length)
    assert.equal(f.body[1], i >> 8, `frame ${i}`)
    assert.ok(f.body.subarray(2).every((x) => x === (i & 0xff)), `frame ${i} body`)
  })
  // stalled, the writer needed ~8 MiB of slabs in flight; the other 32 MB reused them
  const allocated = sendSlabs.allocated - before.allocated
  assert.ok(allocated > 0 && allocated < 24, `slabs allocated: ${allocated}`)
})

test('SlabPool: bounded, size-matched reuse', () => {
  const p = new SlabPool(3 * 1024 * 1024)
  const a = p.take(1024 * 1024)
  const b = p.take(1024 * 1024)
  const c = p.take(100 * 1024)
  assert.equal(p.allocated, 3)
  assert.equal(c.length, 128 * 1024, 'rounded up to 64 KiB')
  p.give(a); p.give(b); p.give(c)
  assert.equal(p.bytes, 2 * 1024 * 1024 + 128 * 1024)
  p.give(Buffer.allocUnsafeSlow(1024 * 1024)) // over the bound: left to the GC
  assert.equal(p.bytes, 2 * 1024 * 1024 + 128 * 1024)
  const small = p.take(20 * 1024)
  assert.ok(small !== a && small !== b && small !== c, 'a small request never pins a slab more than twice its size')
  assert.equal(p.allocated, 4)
  assert.equal(p.take(100 * 1024), c)
  const big = p.take(1024 * 1024)
  assert.ok(big === a || big === b)
  assert.equal(p.allocated, 4)
})
