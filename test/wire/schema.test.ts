/** src/wire/schema.ts: one declaration gives strict decode (with the failing field's path), checked encode and limits. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encode } from '../../src/wire/cbor.js'
import { bool, bytes, list, message, oneOf, optional, refine, SchemaError, struct, text, tuple, uint } from '../../src/wire/schema.js'

const entry = struct({ node_id: bytes(32), host: text(1, 253), port: uint(65535), relay: optional(bool()) })
const codec = message('PEERS', struct({ peers: list(entry, 4), note: optional(text(0, 16)) }))
const id = new Uint8Array(32).fill(7)

test('round trip, optional keys absent on the wire, deterministic bytes', () => {
  const v = { peers: [{ node_id: id, host: 'a.example', port: 1 }, { node_id: id, host: '10.0.0.1', port: 65535, relay: true }] }
  const b = codec.encode(v)
  assert.deepEqual(codec.decode(b), v)
  assert.deepEqual(b, encode({ peers: [{ node_id: id, host: 'a.example', port: 1 }, { node_id: id, host: '10.0.0.1', port: 65535, relay: true }] }))
})

test('decode refuses unknown, missing and mistyped fields, naming the path', () => {
  const bad: Array<[unknown, RegExp]> = [
    [{ peers: [], extra: 1 }, /PEERS: unknown field 'extra'/],
    [{}, /PEERS\.peers: missing/],
    [{ peers: [{ node_id: id, host: 'h', port: 70000 }] }, /PEERS\.peers\[0\]\.port: expected an integer in 0\.\.65535/],
    [{ peers: [{ node_id: id.subarray(1), host: 'h', port: 1 }] }, /PEERS\.peers\[0\]\.node_id: expected 32 bytes/],
    [{ peers: [{ node_id: id, host: '', port: 1 }] }, /host: expected 1\.\.253 bytes of text/],
    [{ peers: [{ node_id: id, host: 'h', port: 1, relay: 1 }] }, /relay: expected a boolean/],
    [{ peers: Array(5).fill({ node_id: id, host: 'h', port: 1 }) }, /more than 4 items|invalid CBOR/],
    [[1], /PEERS: expected a map/],
  ]
  for (const [v, re] of bad) {
    assert.throws(() => codec.decode(encode(v as never)), (e: Error) => e instanceof SchemaError && (e as SchemaError).code === 'bad_message' && re.test(e.message), String(re))
  }
  assert.throws(() => codec.decode(new Uint8Array([0xa1])), /invalid CBOR/)
})

test('the limits come from the schema: an oversized string or list is refused by the CBOR decoder before it is built', () => {
  assert.deepEqual(codec.schema.limits, { maxDepth: 3, maxItems: 4, maxStringBytes: 253 })
  const huge = encode({ peers: [], note: 'x'.repeat(100_000) })
  assert.throws(() => codec.decode(huge), /invalid CBOR/)
})

test('encode checks the value first: a node never sends what it would refuse', () => {
  assert.throws(() => codec.encode({ peers: [{ node_id: id, host: 'h', port: -1 }] }), /port: expected an integer/)
  assert.throws(() => codec.encode({ peers: [], bogus: 1 } as never), /unknown field 'bogus'/)
})

test('tuple, oneOf and refine: compact records and closed sets, checked both ways with the path', () => {
  const rec = message('REC', struct({
    kind: oneOf(['a', 'bb'] as const),
    items: list(tuple<[number, string]>(uint(3), refine(text(1, 8), (s) => !s.includes(' '), 'expected no space')), 2),
  }))
  const v = { kind: 'bb' as const, items: [[3, 'x'], [0, 'yz']] as Array<[number, string]> }
  assert.deepEqual(rec.decode(rec.encode(v)), v)
  assert.deepEqual(rec.encode(v), encode({ kind: 'bb', items: [[3, 'x'], [0, 'yz']] }))
  const bad: Array<[unknown, RegExp]> = [
    [{ kind: 'c', items: [] }, /REC\.kind: expected one of a, bb/],
    [{ kind: 1, items: [] }, /REC\.kind: expected one of/],
    [{ kind: 'a', items: [[1]] }, /REC\.items\[0\]: expected a list of 2/],
    // three items exceed the decoder's item limit the schema implies (2): refused before the tuple sees it
    [{ kind: 'a', items: [[1, 'x', 2]] }, /REC\.items\[0\]: expected a list of 2|REC: invalid CBOR/],
    [{ kind: 'a', items: [[4, 'x']] }, /REC\.items\[0\]\[0\]: expected an integer in 0\.\.3/],
    [{ kind: 'a', items: [[1, 'a b']] }, /REC\.items\[0\]\[1\]: expected no space/],
    [{ kind: 'a', items: [{ 0: 1, 1: 'x' }] }, /REC\.items\[0\]: expected a list of 2/],
  ]
  for (const [x, re] of bad) {
    assert.throws(() => rec.decode(encode(x as never)), (e: Error) => e instanceof SchemaError && re.test(e.message), String(re))
    assert.throws(() => rec.encode(x as never), SchemaError, `encode refuses ${String(re)}`)
  }
  // limits include the tuple's depth: a list of tuples of text is three levels under the message
  assert.equal(rec.schema.limits.maxDepth, 3)
})
