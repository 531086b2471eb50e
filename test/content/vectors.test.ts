import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as M from '../../src/content/messages.js'
import { Bitfield, decodeState, encodeState } from '../../src/content/bitfield.js'
import { toHex, fromHex } from '../../src/util/bytes.js'
import { encode } from '../../src/wire/cbor.js'

/** Every `vec:NAME \`HEX\`` line of docs/protocol/content.md. */
function docVectors(): Map<string, string> {
  const candidates = ['../../docs/protocol/content.md', '../../../docs/protocol/content.md']
  let text = ''
  for (const c of candidates) {
    try { text = readFileSync(fileURLToPath(new URL(c, import.meta.url)), 'utf8'); break } catch { /* compiled layout */ }
  }
  assert.ok(text.length > 0, 'docs/protocol/content.md not found')
  const out = new Map<string, string>()
  for (const m of text.matchAll(/vec:([a-z_]+) `([0-9a-f]+)`/g)) out.set(m[1]!, m[2]!)
  return out
}

const id = new Uint8Array(32).fill(0x11)
const hash = new Uint8Array(32).fill(0x22)

test('message encodings match the spec vectors and decode back', () => {
  const v = docVectors()
  const cases: [string, Uint8Array, (b: Uint8Array) => unknown, unknown][] = [
    ['get_manifest', M.encodeGetManifest({ id }), M.decodeGetManifest, { id }],
    ['get_hashes', M.encodeGetHashes({ id, file: 0, start: 0, count: 8192 }), M.decodeGetHashes, { id, file: 0, start: 0, count: 8192 }],
    ['hashes', M.encodeHashesReply({ start: 0, hashes: hash }), M.decodeHashesReply, { start: 0, hashes: hash }],
    ['get_chunk', M.encodeGetChunk({ id, file: 1, index: 5, proof: true }), M.decodeGetChunk, { id, file: 1, index: 5, proof: true }],
    ['chunk', M.encodeChunkReply({ index: 5, data: new Uint8Array([1, 2, 3]), proof: [hash] }), M.decodeChunkReply, { index: 5, data: new Uint8Array([1, 2, 3]), proof: [hash] }],
    ['cache_request', M.encodeCacheRequest({ hash }), M.decodeCacheRequest, { hash }],
    ['cache_response_hit', M.encodeCacheResponse({ hash, data: new Uint8Array([0xab]) }), M.decodeCacheResponse, { hash, data: new Uint8Array([0xab]) }],
  ]
  for (const [name, bytes, dec, value] of cases) {
    assert.equal(toHex(bytes), v.get(name), name)
    assert.deepEqual(dec(fromHex(v.get(name)!)), value, name)
  }
})

test('resume-state layout matches the spec vector; damaged states are refused', () => {
  const v = docVectors()
  const bf = new Bitfield(10)
  bf.set(0); bf.set(9)
  const bytes = encodeState(id, 2, bf)
  assert.equal(toHex(bytes), v.get('state'))
  const back = decodeState(bytes, id, 2, 10)!
  assert.deepEqual([...Array(10).keys()].filter((i) => back.has(i)), [0, 9])
  assert.equal(decodeState(bytes, id, 3, 10), undefined, 'other file')
  assert.equal(decodeState(bytes, id, 2, 11), undefined, 'other size')
  assert.equal(decodeState(bytes, hash, 2, 10), undefined, 'other manifest')
  const flipped = bytes.slice(); flipped[45]! ^= 1
  assert.equal(decodeState(flipped, id, 2, 10), undefined, 'checksum')
  assert.equal(decodeState(bytes.subarray(0, 40), id, 2, 10), undefined, 'truncated')
})

test('hostile message bodies are refused with typed errors', () => {
  const bad: [string, Uint8Array, (b: Uint8Array) => unknown][] = [
    ['wrong version', fromHex('a2617602626964' + '5820' + '11'.repeat(32)), M.decodeGetManifest],
    ['short id', fromHex('a26176016269644111'), M.decodeGetManifest],
    ['unknown field', fromHex('a3617601617801626964' + '5820' + '11'.repeat(32)), M.decodeGetManifest],
    ['count too big', encode({ v: 1, id, file: 0, start: 0, count: 8193 }), M.decodeGetHashes],
    ['hashes not multiple of 32', M.encodeHashesReply({ start: 0, hashes: new Uint8Array(33) }), M.decodeHashesReply],
    ['proof too long', M.encodeChunkReply({ index: 0, data: new Uint8Array(1), proof: Array.from({ length: 65 }, () => hash) }), M.decodeChunkReply],
    ['not a map', fromHex('80'), M.decodeCacheRequest],
    ['trailing bytes', fromHex(toHex(M.encodeCacheRequest({ hash })) + '00'), M.decodeCacheRequest],
    ['negative index', fromHex('a5617601626964' + '5820' + '11'.repeat(32) + '6466696c650065696e646578206570726f6f66f4'), M.decodeGetChunk],
  ]
  for (const [name, body, dec] of bad) assert.throws(() => dec(body), (e: Error & { code?: string }) => typeof e.code === 'string', name)
})

test('the direct CHUNK encoder produces exactly the generic deterministic encoding', () => {
  for (const len of [0, 1, 23, 24, 255, 256, 65535, 65536, 1 << 20]) {
    for (const proof of [undefined, [], [hash, id]]) {
      const data = new Uint8Array(len).fill(len & 0xff)
      const m = proof ? { index: len * 7, data, proof } : { index: len * 7, data }
      const generic = encode(proof ? { v: 1, index: len * 7, data, proof } : { v: 1, index: len * 7, data })
      assert.deepEqual(M.encodeChunkReply(m), generic, `len ${len} proof ${proof?.length}`)
      assert.deepEqual(M.decodeChunkReply(generic), m)
    }
  }
})
