import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import {
  decodeClose, decodeConnect, decodeConnectResult, decodeData, encodeClose, encodeConnect, encodeConnectResult, encodeData,
  MAX_DATA, validHost, VpnWireError, encodeDataParts,
} from '../../../src/services/vpn/messages.js'
import { encode } from '../../../src/wire/cbor.js'
import { ZeoneError } from '../../../src/util/errors.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

test('the vectors in docs/protocol/vpn.md encode and decode', () => {
  const doc = readFileSync('docs/protocol/vpn.md', 'utf8')
  const cases: Array<[Uint8Array, string]> = [
    [encodeConnect({ stream: 1, host: 'example.com', port: 443, window: 524288 }), 'a561730161760161771a0008000064686f73746b6578616d706c652e636f6d64706f72741901bb'],
    [encodeConnectResult({ stream: 1, rep: 0, window: 524288 }), 'a461730161760161771a000800006372657000'],
    [encodeConnectResult({ stream: 1, rep: 2, window: 0, reason: 'policy: 127.0.0.1:80 is loopback' }), 'a56173016176016177006372657002637768797820706f6c6963793a203132372e302e302e313a3830206973206c6f6f706261636b'],
    [encodeData({ role: 0, stream: 1, data: Uint8Array.of(1, 2, 3) }), 'a4616443010203617200617301617601'],
    [encodeData({ role: 1, stream: 1, credit: 131072 }), 'a461631a00020000617201617301617601'],
    [encodeClose({ role: 0, stream: 1, kind: 'fin' }), 'a4616b00617200617301617601'],
    [encodeClose({ role: 1, stream: 1, kind: 'reset', reason: 'idle_timeout' }), 'a5616b01617201617301617601637768796c69646c655f74696d656f7574'],
  ]
  for (const [b, v] of cases) { assert.equal(hex(b), v); assert.ok(doc.includes(v), `vector ${v} in the doc`) }
  assert.deepEqual(decodeConnect(Buffer.from(cases[0]![1], 'hex')), { stream: 1, host: 'example.com', port: 443, window: 524288 })
  assert.deepEqual(decodeConnectResult(Buffer.from(cases[2]![1], 'hex')), { stream: 1, rep: 2, window: 0, reason: 'policy: 127.0.0.1:80 is loopback' })
  assert.deepEqual(decodeData(Buffer.from(cases[4]![1], 'hex')), { role: 1, stream: 1, credit: 131072 })
  assert.deepEqual(decodeClose(Buffer.from(cases[6]![1], 'hex')), { role: 1, stream: 1, kind: 'reset', reason: 'idle_timeout' })
})

test('hostile bodies are refused with typed errors, nothing else', () => {
  const bad: Array<[string, Uint8Array, (b: Uint8Array) => unknown]> = [
    ['not cbor', Uint8Array.of(0xff, 0x00), decodeConnect],
    ['array', encode([1, 2]), decodeConnect],
    ['v2', encode({ v: 2, s: 1, host: 'a', port: 1, w: 0 }), decodeConnect],
    ['unknown key', encode({ v: 1, s: 1, host: 'a', port: 1, w: 0, x: 1 }), decodeConnect],
    ['missing host', encode({ v: 1, s: 1, port: 1, w: 0 }), decodeConnect],
    ['stream 0', encode({ v: 1, s: 0, host: 'a', port: 1, w: 0 }), decodeConnect],
    ['stream 2^32', encode({ v: 1, s: 2 ** 32, host: 'a', port: 1, w: 0 }), decodeConnect],
    ['port 0', encode({ v: 1, s: 1, host: 'a', port: 0, w: 0 }), decodeConnect],
    ['port 65536', encode({ v: 1, s: 1, host: 'a', port: 65536, w: 0 }), decodeConnect],
    ['negative window', encode({ v: 1, s: 1, host: 'a', port: 1, w: -1 }), decodeConnect],
    ['window 16 MiB + 1', encode({ v: 1, s: 1, host: 'a', port: 1, w: 16 * 1024 * 1024 + 1 }), decodeConnect],
    ['float port', encode({ v: 1, s: 1, host: 'a', port: 1.5, w: 0 }), decodeConnect],
    ['host with slash', encode({ v: 1, s: 1, host: 'a/b', port: 1, w: 0 }), decodeConnect],
    ['host with NUL', encode({ v: 1, s: 1, host: 'a\u0000.example', port: 1, w: 0 }), decodeConnect],
    ['host with space', encode({ v: 1, s: 1, host: 'a b', port: 1, w: 0 }), decodeConnect],
    ['bracketed v6', encode({ v: 1, s: 1, host: '[::1]', port: 1, w: 0 }), decodeConnect],
    ['host 254 chars', encode({ v: 1, s: 1, host: `${'a'.repeat(63)}.`.repeat(4).slice(0, 254), port: 1, w: 0 }), decodeConnect],
    ['host as bytes', encode({ v: 1, s: 1, host: Uint8Array.of(97), port: 1, w: 0 }), decodeConnect],
    ['rep 9', encode({ v: 1, s: 1, rep: 9, w: 0 }), decodeConnectResult],
    ['long why', encode({ v: 1, s: 1, rep: 1, w: 0, why: 'x'.repeat(201) }), decodeConnectResult],
    ['data empty', encode({ v: 1, r: 0, s: 1, d: new Uint8Array(0) }), decodeData],
    ['data neither', encode({ v: 1, r: 0, s: 1 }), decodeData],
    ['data over 1 MiB', encode({ v: 1, r: 0, s: 1, d: new Uint8Array(MAX_DATA + 1) }), decodeData],
    ['data as text', encode({ v: 1, r: 0, s: 1, d: 'abc' }), decodeData],
    ['credit 0', encode({ v: 1, r: 0, s: 1, c: 0 }), decodeData],
    ['role 2', encode({ v: 1, r: 2, s: 1, c: 1 }), decodeData],
    ['close kind 2', encode({ v: 1, r: 0, s: 1, k: 2 }), decodeClose],
    ['close no role', encode({ v: 1, s: 1, k: 0 }), decodeClose],
    ['non-canonical int', Buffer.from('a5617318016176016177006372657000', 'hex'), decodeConnectResult],
    ['trailing bytes', Buffer.concat([encodeClose({ role: 0, stream: 1, kind: 'fin' }), Buffer.of(0)]), decodeClose],
    ['deep nesting', encode({ v: 1, r: 0, s: 1, d: [[1]] } as never), decodeData],
  ]
  for (const [what, body, dec] of bad) assert.throws(() => dec(body), (e: Error) => e instanceof ZeoneError, what)
  assert.throws(() => decodeConnect(encode({ v: 2, s: 1, host: 'a', port: 1, w: 0 })), VpnWireError)
  // the largest legal data round-trips
  const big = new Uint8Array(MAX_DATA).fill(7)
  assert.ok(Buffer.from(decodeData(encodeData({ role: 0, stream: 0xffffffff, data: big })).data!).equals(big))
})

test('validHost: IP literals and DNS names only', () => {
  for (const h of ['example.com', 'a', 'x_y.example.', '1.2.3.4', '::1', 'fe80::1', `${'a'.repeat(63)}.com`]) assert.ok(validHost(h), h)
  for (const h of ['', '.', '-a', 'a..b', `${'a'.repeat(64)}.com`, 'a b', 'a:b', '[::1]', 'ä.example', 'a\nb', 'http://x']) assert.ok(!validHost(h), h)
})

test('the hand-written VPN_DATA encoder gives exactly the generic deterministic encoding', () => {
  for (const data of [undefined, Uint8Array.of(1), new Uint8Array(23), new Uint8Array(24), new Uint8Array(255), new Uint8Array(256), new Uint8Array(65535), new Uint8Array(65536)]) {
    for (const credit of [undefined, 1, 23, 24, 255, 256, 65535, 65536, 16 * 1024 * 1024]) {
      for (const stream of [1, 23, 24, 255, 256, 65535, 65536, 0xffffffff]) {
        if (!data && credit === undefined) continue
        const m = { role: 1 as const, stream, ...(data ? { data } : {}), ...(credit !== undefined ? { credit } : {}) }
        const generic = encode({ v: 1, r: 1, s: stream, ...(data ? { d: data } : {}), ...(credit !== undefined ? { c: credit } : {}) })
        assert.equal(hex(encodeData(m)), hex(generic), `${data?.length} ${credit} ${stream}`)
      }
    }
  }
})

test('encodeDataParts joined is exactly encodeData (data split over chunks, with and without credit)', () => {
  const data = Buffer.alloc(MAX_DATA)
  for (let i = 0; i < data.length; i++) data[i] = i * 7
  for (const len of [1, 23, 24, 255, 256, 65536, 65537, MAX_DATA]) {
    const d = data.subarray(0, len)
    const chunks = len > 3 ? [d.subarray(0, 1), d.subarray(1, len >> 1), d.subarray(len >> 1)] : [d]
    for (const credit of [undefined, 1, 65536]) {
      for (const stream of [1, 24, 0xffffffff]) {
        const joined = Buffer.concat(encodeDataParts(0, stream, chunks, len, credit))
        assert.equal(hex(joined), hex(encodeData({ role: 0, stream, data: d, ...(credit !== undefined ? { credit } : {}) })), `${len} ${credit} ${stream}`)
        assert.equal(decodeData(joined).data!.length, len)
      }
    }
  }
})

