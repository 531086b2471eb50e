import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decode, encode, CborError } from '../../src/wire/cbor.js'
import { toHex, fromHex } from '../../src/util/bytes.js'

test('RFC 8949 Appendix A vectors encode to the exact bytes', () => {
  const vectors: Array<[unknown, string]> = [
    [0, '00'], [23, '17'], [24, '1818'], [100, '1864'], [1000, '1903e8'], [1000000, '1a000f4240'],
    [1000000000000, '1b000000e8d4a51000'], [18446744073709551615n, '1bffffffffffffffff'], [-1, '20'], [-1000, '3903e7'],
    [1.5, 'f93e00'], [100000.0, '1a000186a0'], [3.4028234663852886e38, 'fa7f7fffff'], [1.1, 'fb3ff199999999999a'],
    [-4.1, 'fbc010666666666666'], [Infinity, 'f97c00'], [NaN, 'f97e00'], [false, 'f4'], [true, 'f5'], [null, 'f6'],
    ['', '60'], ['IETF', '6449455446'], ['\u00fc', '62c3bc'], [[1, [2, 3], [4, 5]], '8301820203820405'],
    [{ a: 1, b: [2, 3] }, 'a26161016162820203'], [new Uint8Array([1, 2, 3, 4]), '4401020304'],
  ]
  for (const [v, hex] of vectors) {
    assert.equal(toHex(encode(v as never)), hex, `encode ${String(v)}`)
    const back = decode(fromHex(hex))
    if (typeof v === 'number' && Number.isNaN(v)) assert.ok(Number.isNaN(back as number))
    else assert.deepEqual(back, v)
  }
})

test('map keys are sorted by encoded bytes (shorter key first)', () => {
  assert.equal(toHex(encode({ bb: 1, a: 2, c: 3 })), 'a3616102616303626262' + '01')
})

test('strict decoding refuses non-canonical and hostile input', () => {
  const bad = [
    '1817', // non-shortest int
    '5f4101ff', // indefinite byte string
    'a2616201616101', // unsorted keys
    'a2616101616102', // duplicate keys
    '0000', // trailing bytes
    'c100', // tag
    'fa3fc00000', // float32 that fits in f16
    '9bffffffffffffffff', // huge array length
    '5a7fffffff', // huge byte string
    '62c3', // truncated
    '62c328', // invalid utf-8
  ]
  for (const hex of bad) assert.throws(() => decode(fromHex(hex)), CborError, hex)
  const deep = fromHex('81'.repeat(40) + '00')
  assert.throws(() => decode(deep), /nesting/)
  assert.throws(() => decode(fromHex('83010203'), { maxItems: 2 }), /exceeds limit/)
})

test('random values round-trip', () => {
  for (let i = 0; i < 200; i++) {
    const v = { n: Math.floor(Math.random() * 2 ** 40), s: String(Math.random()), b: new Uint8Array([i & 255]), f: Math.random(), a: [i, -i - 1, null, true] }
    assert.deepEqual(decode(encode(v)), v)
  }
})

test('decoded byte strings: small ones are copies (nothing kept pins a receive slab), large ones views of a Buffer', () => {
  const small = new Uint8Array(32).fill(1)
  const large = new Uint8Array(100_000).fill(2)
  const slab = Buffer.alloc(1 << 20)
  const enc = Buffer.from(encode({ id: small, chunk: large }))
  enc.copy(slab, 1000)
  const got = decode(slab.subarray(1000, 1000 + enc.length)) as { id: Uint8Array; chunk: Uint8Array }
  assert.deepEqual(new Uint8Array(got.id), small)
  assert.notEqual(got.id.buffer, slab.buffer)
  assert.ok(got.id.buffer.byteLength < 64 * 1024)
  assert.equal(got.chunk.buffer, slab.buffer)
  assert.deepEqual(new Uint8Array(got.chunk), large)
  // from a plain Uint8Array every byte string is a copy, as before
  const fromU8 = decode(new Uint8Array(enc)) as { id: Uint8Array; chunk: Uint8Array }
  assert.deepEqual(new Uint8Array(fromU8.chunk), large)
})
