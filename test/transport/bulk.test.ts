/**
 * The bulk path end to end over real TCP: recycled send slabs (FrameWriter), slab reads (SlabReader) and frames
 * joined in place (FrameReader). Every byte is checked, after the whole transfer, in the views handlers kept.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { connect, createServer, type Socket } from 'node:net'
import { test } from 'node:test'
import { BULK_BATCHING, sendSlabs, SLAB_BYTES } from '../../src/transport/frame-writer.js'
import { ownFrameBuffers, switchToSlabReads } from '../../src/transport/slab-reader.js'
import { MessageType } from '../../src/wire/message-types.js'
import { addr, startNode, waitFor } from './helpers.js'

/** Deterministic bytes for message i (xorshift), so the receiver can recompute what it should have got. */
function fill(out: Uint8Array, i: number): void {
  let x = (i * 2654435761) >>> 0 || 1
  for (let k = 0; k < out.length; k++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0
    out[k] = x & 0xff
  }
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

for (const version of [2, 1] as const) {
  test(`v${version} bulk: 64 MiB of mixed sizes arrive byte-exact, send slabs are reused, kept views stay intact`, async (t) => {
    const opts = { wireVersions: [version], preferredVersion: version }
    const a = await startNode(t, opts)
    const b = await startNode(t, opts)
    const kept: Uint8Array[] = []
    b.router.handle(MessageType.VPN_DATA, (m) => { kept.push(m.body) })
    const link = await a.cm.dial(addr(b))
    const sizes = [1, 100, 9000, 65_536, 65_537, 200_000, 300_001, 1_500_000, 64_000, 3, 700_000]
    const scratch = new Uint8Array(1_500_000)
    const want: string[] = []
    const allocatedBefore = a.cm.buffers.send.allocated
    let total = 0
    for (let i = 0; total < 64 * 1024 * 1024; i++) {
      const body = scratch.subarray(0, sizes[i % sizes.length]!)
      fill(body, i) // the same memory is rewritten for every message: the writer must have copied what it sent
      want.push(sha(body))
      total += body.length
      if (!link.send(MessageType.VPN_DATA, body)) await link.whenWritable()
    }
    await waitFor(() => kept.length === want.length, 'all messages', 60_000)
    assert.deepEqual(kept.map(sha), want)
    // without reuse a 64 MiB transfer takes 64+ slabs; in flight at once are at most the kernel's send buffer plus
    // the link's high-water mark (4 + 4 MiB here) and a few partly filled slabs
    const allocated = a.cm.buffers.send.allocated - allocatedBefore
    assert.ok(allocated < 32, `send slabs allocated: ${allocated} for ${total} bytes (${SLAB_BYTES}-byte slabs)`)
  })
}

test('switchToSlabReads works on this Node for a socket being dialed and, mid-stream, for an accepted one', async (t) => {
  const got: Buffer[] = []
  const firstViaData: Buffer[] = []
  let switched = false
  const server = createServer((s: Socket) => {
    s.once('data', (d: Buffer) => {
      firstViaData.push(d)
      switched = switchToSlabReads(s, (c) => got.push(c))
      s.write('go')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => server.close())
  const c = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port })
  const echoed: Buffer[] = []
  assert.equal(switchToSlabReads(c, (d) => echoed.push(d)), true, 'before the connection is up, as Connection does')
  await new Promise((r) => c.once('connect', r))
  c.write('hello')
  await waitFor(() => echoed.length > 0, 'the reply through the slab reader')
  assert.equal(Buffer.concat(echoed).toString(), 'go')
  const big = Buffer.alloc(3 * 1024 * 1024)
  fill(big, 7)
  c.write(big)
  await waitFor(() => got.reduce((n, x) => n + x.length, 0) === big.length, 'the bulk bytes')
  c.destroy()
  assert.equal(switched, true)
  assert.equal(Buffer.concat(firstViaData).toString(), 'hello')
  assert.ok(Buffer.concat(got).equals(big))
  // reads land next to each other in slabs that grow to 1 MiB: far fewer buffers than reads
  assert.ok(new Set(got.map((x) => x.buffer)).size <= Math.ceil(big.length / (960 * 1024)) + 6)
})

test('large replies come with release(): bodies stay intact while held, small ones share slabs and have none', async (t) => {
  const a = await startNode(t)
  const b = await startNode(t)
  const scratch = new Uint8Array(1 << 20)
  b.router.handle(MessageType.VPN_DATA, (m) => {
    const i = m.body[0]!
    const body = scratch.subarray(0, i % 2 === 0 ? 1 << 20 : 100)
    fill(body, i)
    // parts are copied before reply() returns: the same scratch memory serves every reply
    m.reply!(MessageType.VPN_DATA, [body.subarray(0, 10), body.subarray(10)])
  })
  const link = await a.cm.dial(addr(b))
  const before = a.cm.buffers.frames.allocated
  for (let round = 0; round < 6; round++) {
    const ids = Array.from({ length: 8 }, (_, k) => round * 8 + k)
    const replies = await Promise.all(ids.map((i) => link.request(MessageType.VPN_DATA, new Uint8Array([i]))))
    // all eight held at once, checked only now: nothing was overwritten by the frames that came after
    replies.forEach((r, k) => {
      const i = ids[k]!
      const want = new Uint8Array(i % 2 === 0 ? 1 << 20 : 100)
      fill(want, i)
      assert.equal(sha(r.body), sha(want), `reply ${i}`)
      assert.equal(typeof r.release, i % 2 === 0 ? 'function' : 'undefined', `reply ${i} release`)
    })
    for (const r of replies) r.release?.()
  }
  const allocated = a.cm.buffers.frames.allocated - before
  assert.ok(allocated <= 6, `${allocated} receive buffers for 24 large replies, 4 held at a time`)
})

test('a peer packing large messages into one BATCH frame over 512 KiB: those messages are never lent, all stay intact', async (t) => {
  // the sender's FrameWriter reads the policy when its session starts: this peer batches messages up to 700 KiB
  const saved = { ...BULK_BATCHING }
  Object.assign(BULK_BATCHING, { itemMax: 700 * 1024, batchMax: 2 * 1024 * 1024 })
  t.after(() => Object.assign(BULK_BATCHING, saved))
  const a = await startNode(t)
  const b = await startNode(t)
  b.router.handle(MessageType.VPN_DATA, (m) => {
    const i = m.body[0]!
    const body = new Uint8Array(600 * 1024)
    fill(body, i)
    m.reply!(MessageType.VPN_DATA, body)
  })
  const link = await a.cm.dial(addr(b))
  for (let round = 0; round < 4; round++) {
    const ids = [0, 1, 2].map((k) => round * 3 + k)
    // three replies of 600 KiB answered in one turn share one BATCH frame of 1.8 MiB (a lone message would be sent
    // as a frame of its own, and lent)
    const replies = await Promise.all(ids.map((i) => link.request(MessageType.VPN_DATA, new Uint8Array([i]))))
    replies.forEach((r, k) => {
      const want = new Uint8Array(600 * 1024)
      fill(want, ids[k]!)
      assert.equal(r.release, undefined, `reply ${ids[k]} came in a BATCH frame: not lendable`)
      assert.equal(sha(r.body), sha(want), `reply ${ids[k]}`)
    })
  }
})

test('each node owns its buffer pools: a bulk exchange between two nodes of one process takes nothing from the module-wide pools, and stop empties them', async (t) => {
  const a = await startNode(t)
  const b = await startNode(t)
  assert.notEqual(a.cm.buffers.send, b.cm.buffers.send)
  assert.notEqual(a.cm.buffers.frames, b.cm.buffers.frames)
  const globalBefore = { send: sendSlabs.allocated, frames: ownFrameBuffers.allocated }
  let got = 0
  b.router.handle(MessageType.VPN_DATA, (m) => { got++; m.release?.() })
  const link = await a.cm.dial(addr(b))
  const body = new Uint8Array(1 << 20)
  for (let i = 0; i < 16; i++) if (!link.send(MessageType.VPN_DATA, body)) await link.whenWritable()
  await waitFor(() => got === 16, 'all messages', 60_000)
  assert.deepEqual({ send: sendSlabs.allocated, frames: ownFrameBuffers.allocated }, globalBefore, 'the module-wide pools were not used')
  assert.ok(a.cm.buffers.send.allocated > 0 && b.cm.buffers.frames.allocated > 0, 'the nodes drew from their own pools')
  assert.ok(b.cm.buffers.frames.bytes > 0, 'released frames went back to the receiver\'s pool')
  await a.cm.stop()
  await b.cm.stop()
  for (const n of [a, b]) assert.deepEqual([n.cm.buffers.send.bytes, n.cm.buffers.frames.bytes], [0, 0], 'stopped: nothing kept')
})
