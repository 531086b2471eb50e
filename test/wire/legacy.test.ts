import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Identity } from '../../src/crypto/identity.js'
import { sha1 } from '../../src/crypto/hash.js'
import { verify } from '../../src/crypto/sign.js'
import { canonicalJson, JsonNumber, parseLegacyJson, pyFloatRepr, toPlain } from '../../src/wire/legacy-json.js'
import {
  decodeLegacyMessage, encodeLegacyFrame, encodeLegacyMessage, LegacyFrameDecoder, legacySigningBytes, verifyLegacyMessage,
} from '../../src/wire/legacy.js'

const seed01 = new Uint8Array(32).fill(1)

describe('legacy v0 known-answer vectors (docs/protocol/legacy.md)', () => {
  it('seed 01x32 gives the documented sender_id and DHT id', () => {
    const id = Identity.fromSeed(seed01)
    assert.equal(id.nodeIdB64, 'iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=')
    assert.equal(id.dhtIdHex, '9ad19e0f16eef714cb90c6f195dbce66e94580f9')
  })

  it('PING {} at 1700000000.5 with nonce 00..0f: exact signature and frame length 000000fa', () => {
    const id = Identity.fromSeed(seed01)
    const json = encodeLegacyMessage(id, 'PING', {}, 1700000000.5, 'AAECAwQFBgcICQoLDA0ODw==')
    const frame = encodeLegacyFrame(json)
    assert.equal(Buffer.from(frame.subarray(0, 4)).toString('hex'), '000000fa')
    const m = decodeLegacyMessage(frame.subarray(4))
    assert.equal(m.signature, '7HEcwXUFJxzQEcrfKVolRKQtZpzzD6d+cXqPEw/xPrilr/DJU/+MUYzpbYitr+60vRJaqJqZQZU6dNOsI/aaDw==')
    assert.equal(verifyLegacyMessage(m, verify), true)
    assert.equal(Buffer.from(legacySigningBytes({ type: 'PING', payload: {}, sender_id: id.nodeIdB64, timestamp: new JsonNumber('1700000000.5'), nonce: 'AAECAwQFBgcICQoLDA0ODw==' })).toString(),
      '{"nonce":"AAECAwQFBgcICQoLDA0ODw==","payload":{},"sender_id":"iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=","timestamp":1700000000.5,"type":"PING"}')
  })

  it('canonical signing bytes keep Python number text and escape non-ASCII', () => {
    const parsed = parseLegacyJson('{"type":"DATA","timestamp":1.0,"sender_id":"s","payload":{"z":"\\u00e9","y":1e-05,"x":1.0},"nonce":"n"}')
    assert.equal(canonicalJson(parsed), '{"nonce":"n","payload":{"x":1.0,"y":1e-05,"z":"\\u00e9"},"sender_id":"s","timestamp":1.0,"type":"DATA"}')
    // the same vector built from raw UTF-8 input
    assert.equal(canonicalJson(parseLegacyJson('{"payload":{"x":1.0,"y":1e-05,"z":"é"},"type":"DATA","sender_id":"s","timestamp":1.0,"nonce":"n"}')),
      '{"nonce":"n","payload":{"x":1.0,"y":1e-05,"z":"\\u00e9"},"sender_id":"s","timestamp":1.0,"type":"DATA"}')
  })

  it('SHA-1 of "mission" starts e59abed3', () => {
    assert.equal(Buffer.from(sha1(Buffer.from('mission'))).toString('hex').slice(0, 8), 'e59abed3')
  })
})

describe('legacy JSON', () => {
  it('writes floats like Python repr', () => {
    const cases: Array<[number, string]> = [[1, '1.0'], [0, '0.0'], [-0, '-0.0'], [0.5, '0.5'], [1e-5, '1e-05'], [0.0001, '0.0001'],
      [1e16, '1e+16'], [1.5e16, '1.5e+16'], [1e15, '1000000000000000.0'], [123.456, '123.456'], [-2.5e-7, '-2.5e-07'],
      [1e22, '1e+22'], [5e-324, '5e-324'], [1.7976931348623157e308, '1.7976931348623157e+308'], [1700000000.5, '1700000000.5']]
    for (const [x, s] of cases) assert.equal(pyFloatRepr(x), s, String(x))
    assert.throws(() => pyFloatRepr(NaN))
  })

  it('keeps big integers and Python-written float text exactly through parse and canonical write', () => {
    const text = '{"a":123456789012345678901234567890,"b":1e+16,"c":-0.0,"d":2.5,"e":[1,1.0,100000.0,1e-05,0.1]}'
    assert.equal(canonicalJson(parseLegacyJson(text)), text)
    // text Python would not have written is re-written the way Python re-serialises what it parsed
    assert.equal(canonicalJson(parseLegacyJson('[2.50,1E5,-0,0.10e1,1E+16]')), '[2.5,100000.0,0,1.0,1e+16]')
    assert.throws(() => canonicalJson(parseLegacyJson('[1e400]')), /float range/)
    const plain = toPlain(parseLegacyJson(text)) as Record<string, unknown>
    assert.equal(plain.a, 123456789012345678901234567890n)
    assert.equal(plain.d, 2.5)
  })

  it('sorts keys by code point like Python (astral after U+FFFD)', () => {
    assert.equal(canonicalJson({ '\u{1F600}': 1, '\uFFFD': 2, a: 3 }), '{"a":3,"\\ufffd":2,"\\ud83d\\ude00":1}')
  })

  it('refuses hostile or non-Python JSON', () => {
    const bad = ['{"a":1,"a":2}', '{"a":NaN}', '{"a":Infinity}', '[1,]', '{"a":1} x', '"\u0001"', '{"a":01}', '{"a":1.}', '{"a":"\\x"}',
      '['.repeat(40) + ']'.repeat(40), '{"a":"\\ud8"}', '']
    for (const b of bad) assert.throws(() => parseLegacyJson(b), /legacy|offset/i, b)
  })

  it('round-trips arbitrary JSON values through parse/canonical/parse (property)', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
      const once = canonicalJson(parseLegacyJson(JSON.stringify(v)))
      assert.equal(canonicalJson(parseLegacyJson(once)), once)
      assert.ok(/^[\x20-\x7e]*$/.test(once))
    }), { numRuns: 200 })
  })
})

describe('legacy frames and messages', () => {
  const id = Identity.fromSeed(seed01)
  const frameOf = (type: string, payload: Record<string, unknown>): Uint8Array =>
    encodeLegacyFrame(encodeLegacyMessage(id, type, payload, 1700000000.25, 'AAECAwQFBgcICQoLDA0ODw=='))

  it('splits frames delivered byte by byte and several per chunk', () => {
    const a = frameOf('PING', {})
    const b = frameOf('DISCOVER', { max_peers: 20 })
    const d = new LegacyFrameDecoder()
    const out: Uint8Array[] = []
    for (const byte of a) out.push(...d.push(Uint8Array.of(byte)))
    out.push(...d.push(Buffer.concat([b, a])))
    assert.equal(out.length, 3)
    assert.equal(decodeLegacyMessage(out[1]!).type, 'DISCOVER')
    assert.equal(d.buffered, 0)
  })

  it('refuses an oversized or empty declared length from the header alone', () => {
    const d = new LegacyFrameDecoder(1 << 20)
    assert.throws(() => d.push(Uint8Array.of(0x00, 0x10, 0x00, 0x01)), /cap/)
    assert.throws(() => new LegacyFrameDecoder().push(Uint8Array.of(0, 0, 0, 0)), /empty/)
    assert.throws(() => encodeLegacyFrame('x'.repeat(2048), 1024), /cap/)
  })

  it('rejects wrong shapes, unknown types and tampered messages', () => {
    const good = JSON.parse(Buffer.from(frameOf('PING', {}).subarray(4)).toString()) as Record<string, unknown>
    const enc = (o: unknown): Uint8Array => Buffer.from(JSON.stringify(o))
    assert.throws(() => decodeLegacyMessage(enc({ ...good, type: 'HACK' })), /unknown legacy message type/)
    assert.throws(() => decodeLegacyMessage(enc({ ...good, payload: [] })), /payload/)
    assert.throws(() => decodeLegacyMessage(enc({ ...good, sender_id: 'abc' })), /sender_id/)
    assert.throws(() => decodeLegacyMessage(enc({ ...good, signature: 'AAAA' })), /signature/)
    assert.throws(() => decodeLegacyMessage(enc({ ...good, timestamp: '1' })), /timestamp/)
    assert.throws(() => decodeLegacyMessage(enc([1])), /object/)
    assert.throws(() => decodeLegacyMessage(Uint8Array.of(0xff, 0xfe)), /UTF-8/)
    const orig = Buffer.from(frameOf('PING', {}).subarray(4)).toString()
    // a changed timestamp breaks the signature; the same float written differently does not (as in Python)
    assert.equal(verifyLegacyMessage(decodeLegacyMessage(Buffer.from(orig.replace('1700000000.25', '1700000000.26'))), verify), false)
    assert.equal(verifyLegacyMessage(decodeLegacyMessage(Buffer.from(orig.replace('1700000000.25', '1700000000.250'))), verify), true)
    // an int where the signer wrote a float is a different Python value: refused
    const f2 = Buffer.from(frameOf('DISCOVER', { max_peers: 20 }).subarray(4)).toString()
    assert.equal(verifyLegacyMessage(decodeLegacyMessage(Buffer.from(f2.replace('"max_peers":20', '"max_peers":20.0'))), verify), false)
    const ok = decodeLegacyMessage(frameOf('PING', {}).subarray(4))
    assert.equal(verifyLegacyMessage(ok, verify), true)
  })

  it('never crashes on random bytes (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const d = new LegacyFrameDecoder(4096)
      try {
        for (const f of d.push(bytes)) { try { decodeLegacyMessage(f) } catch (e) { assert.ok((e as Error).name.startsWith('Legacy')) } }
      } catch (e) { assert.ok((e as Error).name.startsWith('Legacy')) }
    }), { numRuns: 300 })
  })
})
