import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { AeadKey, CIPHER_SUITES } from '../../src/crypto/aead.js'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { toHex } from '../../src/util/bytes.js'
import { encodePing, decodePeerList, encodePeerList } from '../../src/wire/core-messages.js'
import { FrameError, FrameReader, MAX_HANDSHAKE_BODY, type RawFrame } from '../../src/wire/frame.js'
import { V1Opener, V1Sealer } from '../../src/wire/frame-v1.js'
import { V2Opener, V2Sealer } from '../../src/wire/frame-v2.js'
import { MessageType } from '../../src/wire/message-types.js'

function readAll(bufs: Buffer[], versions = [1, 2], maxBody = 1 << 20): RawFrame[] {
  const out: RawFrame[] = []
  const r = new FrameReader({ versions: new Set(versions), maxBody, onFrame: (f) => out.push({ ...f, frame: Buffer.from(f.frame) }) })
  for (const b of bufs) r.push(b)
  return out
}

const code = (c: string) => (e: unknown) => e instanceof FrameError && e.code === c

test('PING body vector', () => {
  assert.equal(toHex(encodePing({ timestamp: 1_700_000_000_000 })), 'a16974696d657374616d701b0000018bcfe56800')
})

for (const suite of CIPHER_SUITES) {
  test(`v2 (${suite}): round trip, tamper anywhere, replayed and reordered frames`, () => {
    const key = randomBytes(32)
    const s = new V2Sealer(new AeadKey(suite, key))
    const o = new V2Opener(new AeadKey(suite, key))
    const msgs = [new Uint8Array(0), randomBytes(1), randomBytes(70_000)]
    const frames = readAll(msgs.map((m) => s.seal(MessageType.VPN_DATA, m)))
    assert.equal(frames.length, 3)
    frames.forEach((f, i) => assert.deepEqual(new Uint8Array(o.open(f)), msgs[i]))
    assert.throws(() => o.open(frames[1]!), code('replayed_seq'))
    const f4 = readAll([s.seal(MessageType.PING, randomBytes(40))])[0]!
    for (const pos of [2, 3, 7, 8, 15, 16, 30, f4.frame.length - 1]) {
      const o2 = new V2Opener(new AeadKey(suite, key))
      const bad = Buffer.from(f4.frame)
      bad[pos]! ^= 1
      assert.throws(() => o2.open({ ...f4, frame: bad, version: bad[2]!, type: bad[3]! }), (e: unknown) => e instanceof FrameError)
    }
    // a sequence number pushed past 2^53 by tampering is refused as tampering, not as a replay
    const high = Buffer.from(f4.frame); high[8]! ^= 0x01
    assert.throws(() => new V2Opener(new AeadKey(suite, key)).open({ ...f4, frame: high }), code('bad_mac'))
    // a different key does not open it
    assert.throws(() => new V2Opener(new AeadKey(suite, randomBytes(32))).open(f4), code('bad_mac'))
  })
}

test('v1: round trip, signature by the sender, tamper, replay, wrong signer', () => {
  const key = randomBytes(32)
  const id = Identity.fromSeed(randomBytes(32))
  const s = new V1Sealer({ key, identity: id })
  const o = new V1Opener(key, id.publicKey)
  const m = randomBytes(5000)
  const [f] = readAll([s.seal(MessageType.IOU, m)])
  assert.equal(f!.frame.length, 96 + 16 + 5000)
  assert.deepEqual(new Uint8Array(o.open(f!)), m)
  assert.throws(() => o.open(f!), code('replayed_seq'))
  const [g] = readAll([s.seal(MessageType.IOU, m)])
  for (const pos of [3, 9, 20, 40, 100, g!.frame.length - 1]) {
    const bad = Buffer.from(g!.frame)
    bad[pos]! ^= 0x80
    assert.throws(() => new V1Opener(key, id.publicKey).open({ ...g!, frame: bad, type: bad[3]! }), (e: unknown) => e instanceof FrameError)
  }
  assert.throws(() => new V1Opener(key, Identity.fromSeed(randomBytes(32)).publicKey).open(g!), code('bad_signature'))
  // a sequence number pushed past 2^53 by tampering is refused as tampering, not as a replay
  const high = Buffer.from(g!.frame); high[8]! ^= 0x01
  assert.throws(() => new V1Opener(key, id.publicKey).open({ ...g!, frame: high }), code('bad_signature'))
})

test('v1 in place: sealInPlace gives the same bytes as sealInto, and open in place returns the plaintext', () => {
  const key = randomBytes(32)
  const id = Identity.fromSeed(randomBytes(32))
  const fixedRandom = randomBytes(16)
  for (const n of [0, 1, 1000, 70_000]) {
    const m = randomBytes(n)
    const a = new V1Sealer({ key, identity: id, fixedRandom }).seal(MessageType.VPN_DATA, m)
    const out = Buffer.alloc(a.length + 50)
    out.set(m, 7 + 96 + 16)
    assert.equal(new V1Sealer({ key, identity: id, fixedRandom }).sealInPlace(MessageType.VPN_DATA, n, out, 7), a.length)
    assert.ok(out.subarray(7, 7 + a.length).equals(a))
    const [f] = readAll([a])
    const pt = new V1Opener(key, id.publicKey).open(f!, true)
    assert.deepEqual(new Uint8Array(pt), m)
    assert.equal(pt.buffer, f!.frame.buffer, 'a view of the frame')
  }
})

test('FrameReader: the same frames come out for every way of splitting the stream', () => {
  const key = randomBytes(32)
  const s = new V2Sealer(new AeadKey('aes-256-gcm', key))
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 4000 }), { maxLength: 20 }), (sizes, cuts) => {
    const frames = sizes.map((n) => s.seal(MessageType.VPN_DATA, new Uint8Array(n).fill(n & 0xff)))
    const all = Buffer.concat(frames)
    const pieces: Buffer[] = []
    let off = 0
    for (const c of cuts) { if (off >= all.length) break; pieces.push(all.subarray(off, off + c)); off += c }
    if (off < all.length) pieces.push(all.subarray(off))
    const got = readAll(pieces)
    assert.equal(got.length, frames.length)
    got.forEach((g, i) => assert.ok(g.frame.equals(frames[i]!)))
  }), { numRuns: 200 })
})

/**
 * Lays `pieces` out in slabs as a SlabReader would: by `layout[i]`, piece i follows the previous one in the same slab
 * (0), starts a new slab (1), or lands in the same slab after a gap (2: memory the reader must not treat as joined).
 */
function slabLayout(pieces: Buffer[], layout: number[]): Buffer[] {
  const out: Buffer[] = []
  let slab = Buffer.alloc(0)
  let pos = 0
  pieces.forEach((p, i) => {
    const how = layout[i % layout.length]!
    if (how === 2) pos += 7
    if (i === 0 || how === 1 || pos + p.length > slab.length) {
      slab = Buffer.alloc(p.length + 5000)
      pos = 0
    }
    p.copy(slab, pos)
    out.push(slab.subarray(pos, pos + p.length))
    pos += p.length
  })
  return out
}

test('FrameReader with stable chunks: same frames for every split and slab layout, spanning frames joined without a copy', () => {
  const key = randomBytes(32)
  const s = new V2Sealer(new AeadKey('chacha20-poly1305', key))
  fc.assert(fc.property(
    fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 6 }),
    fc.array(fc.integer({ min: 1, max: 4000 }), { maxLength: 20 }),
    fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 8 }),
    (sizes, cuts, layout) => {
      const frames = sizes.map((n) => s.seal(MessageType.VPN_DATA, new Uint8Array(n).fill(n & 0xff)))
      const all = Buffer.concat(frames)
      const pieces: Buffer[] = []
      let off = 0
      for (const c of cuts) { if (off >= all.length) break; pieces.push(all.subarray(off, off + c)); off += c }
      if (off < all.length) pieces.push(all.subarray(off))
      const laid = slabLayout(pieces, layout)
      const got: RawFrame[] = []
      const r = new FrameReader({ versions: new Set([2]), maxBody: 1 << 20, onFrame: (f) => got.push(f) })
      for (const b of laid) r.push(b, true)
      assert.equal(r.buffered, 0)
      assert.equal(got.length, frames.length)
      got.forEach((g, i) => assert.ok(g.frame.equals(frames[i]!)))
    }), { numRuns: 300 })
})

test('FrameReader with stable chunks: a frame split across contiguous reads is a view of that memory', () => {
  const s = new V2Sealer(new AeadKey('chacha20-poly1305', randomBytes(32)))
  const frame = s.seal(MessageType.VPN_DATA, randomBytes(70_000))
  const slab = Buffer.alloc(200_000)
  frame.copy(slab, 100)
  const got: RawFrame[] = []
  const r = new FrameReader({ versions: new Set([2]), maxBody: 1 << 20, onFrame: (f) => got.push(f) })
  for (const [a, b] of [[100, 103], [103, 40_000], [40_000, 100 + frame.length]] as const) r.push(slab.subarray(a, b), true)
  assert.equal(got.length, 1)
  assert.equal(got[0]!.frame.buffer, slab.buffer)
  assert.equal(got[0]!.frame.byteOffset, slab.byteOffset + 100)
  assert.ok(got[0]!.frame.equals(frame))
})

test('FrameReader with stable chunks refuses a bad header as soon as the 8-byte prefix is complete', () => {
  const r = () => new FrameReader({ versions: new Set([2]), maxBody: 1 << 20, onFrame: () => assert.fail('no frame expected') })
  const slab = Buffer.from([0x5a, 0x45, 2, 1, 0, 0x10, 0, 1, 9, 9]) // length 1 MiB + 1
  const a = r()
  a.push(slab.subarray(0, 5), true)
  assert.throws(() => a.push(slab.subarray(5, 10), true), code('oversize'))
  assert.throws(() => r().push(Buffer.from('GET / HTTP/1.1\r\n'), true), code('bad_magic'))
})

test('FrameReader refuses an oversized length from the 8-byte prefix alone, before any body arrives', () => {
  const prefix = Buffer.from([0x5a, 0x45, 2, 1, 0, 0x10, 0, 1]) // 1 MiB + 1
  assert.throws(() => readAll([prefix], [2], 1 << 20), code('oversize'))
  assert.throws(() => readAll([prefix.subarray(0, 3), prefix.subarray(3)], [2], 1 << 20), code('oversize'))
  const hs = Buffer.from([0x5a, 0x45, 0, 8, 0, 0, (MAX_HANDSHAKE_BODY + 1) >> 8, (MAX_HANDSHAKE_BODY + 1) & 0xff])
  assert.throws(() => readAll([hs], [0]), code('oversize'))
  const huge = Buffer.from([0x5a, 0x45, 1, 1, 0xff, 0xff, 0xff, 0xff])
  assert.throws(() => readAll([huge], [1], 16 << 20), code('oversize'))
})

test('FrameReader refuses a bad magic and a version not allowed now', () => {
  assert.throws(() => readAll([Buffer.from('GET / HTTP/1.1\r\n')]), code('bad_magic'))
  assert.throws(() => readAll([Buffer.from([0x5a, 0x45, 7, 1, 0, 0, 0, 0])]), code('bad_version'))
  assert.throws(() => readAll([Buffer.from([0x5a, 0x45, 1, 1, 0, 0, 0, 0])], [2]), code('bad_version'))
})

test('PEER_LIST round trip and strict decoding', () => {
  const l = { peers: [{ node_id: randomBytes(32), host: '127.0.0.1', port: 8468 }] }
  assert.deepEqual(decodePeerList(encodePeerList(l)), l)
  assert.throws(() => decodePeerList(new Uint8Array([0xa0])))
})

test('v1 vector: the signature is Ed25519 over SHA-256(header[0..32] || box) by the sender, as documented', async () => {
  const { readFileSync } = await import('node:fs')
  const { createHash } = await import('node:crypto')
  const { verify } = await import('../../src/crypto/sign.js')
  const hex = /^vector v1_frame ([0-9a-f]+)$/m.exec(readFileSync('docs/protocol.md', 'utf8'))![1]!
  const f = Buffer.from(hex, 'hex')
  assert.equal(f.readUInt32BE(4), f.length - 96)
  const digest = createHash('sha256').update(f.subarray(0, 32)).update(f.subarray(96)).digest()
  const sender = Identity.fromSeed(new Uint8Array(32).fill(1))
  assert.ok(verify(sender.publicKey, f.subarray(32, 96), digest))
  assert.equal(f.readUInt32BE(8) * 2 ** 32 + f.readUInt32BE(12), 0, 'seq 0 in the nonce')
})

test('BATCH plaintext: vector, round trip, truncated and nested items refused', async () => {
  const { encodeBatch, forEachBatchItem, SessionType } = await import('../../src/wire/batch.js')
  const b = encodeBatch([{ type: 0x01, envelope: new Uint8Array([0, 0xa0]) }, { type: 0x31, envelope: new Uint8Array([0, 0xff]) }])
  assert.equal(toHex(b), '010000000200a0310000000200ff')
  const got: Array<[number, string]> = []
  forEachBatchItem(b, (t, e) => got.push([t, toHex(e)]))
  assert.deepEqual(got, [[1, '00a0'], [0x31, '00ff']])
  const bad = (x: Uint8Array) => assert.throws(() => forEachBatchItem(x, () => {}), (e: unknown) => e instanceof Error && (e as { code?: string }).code === 'bad_batch')
  bad(b.subarray(0, 3))
  bad(b.subarray(0, b.length - 1))
  bad(encodeBatch([{ type: SessionType.BATCH, envelope: new Uint8Array([0]) }]))
  forEachBatchItem(new Uint8Array(0), () => assert.fail('no items'))
})
