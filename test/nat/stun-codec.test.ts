import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fromHex, toHex } from '../../src/util/bytes.js'
import {
  Attr, decodeAddress, decodeStun, encodeAddress, encodeStun, getAttr, isStun, longTermKey, StunClass, StunMethod,
  utf8, verifyFingerprint, verifyIntegrity, u32, MAX_MESSAGE_BYTES,
} from '../../src/nat/stun/codec.js'
import { answerBinding } from '../../src/nat/stun/server.js'
import { classifyFiltering, classifyMapping } from '../../src/nat/discovery.js'

// RFC 5769 §2.1 sample request (short-term credentials, password "VOkJxbRl1RmTxUk/WvJxBt").
const REQ = fromHex(
  '000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74' +
  '002400046e0001ff80290008932ff9b151263b36000600096576746a3a6836765920202000080014' +
  '9aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf')
// RFC 5769 §2.2 sample IPv4 response (mapped 192.0.2.1:32853).
const RESP = fromHex(
  '0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f722000200008' +
  '0001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96')
const PASS = utf8('VOkJxbRl1RmTxUk/WvJxBt')

test('RFC 5769 sample request: integrity and fingerprint verify', () => {
  const m = decodeStun(REQ)
  assert.equal(m.method, StunMethod.binding)
  assert.equal(m.cls, StunClass.request)
  assert.equal(toHex(m.txId), 'b7e7a701bc34d686fa87dfae')
  assert.equal(new TextDecoder().decode(getAttr(m, Attr.USERNAME)), 'evtj:h6vY')
  assert.ok(verifyFingerprint(m))
  assert.ok(verifyIntegrity(m, PASS))
  assert.ok(!verifyIntegrity(m, utf8('wrong')))
})

test('RFC 5769 sample response: XOR-MAPPED-ADDRESS, integrity, fingerprint', () => {
  const m = decodeStun(RESP)
  assert.equal(m.cls, StunClass.success)
  assert.deepEqual(decodeAddress(getAttr(m, Attr.XOR_MAPPED_ADDRESS)!, true, m.txId), { family: 4, host: '192.0.2.1', port: 32853 })
  assert.ok(verifyIntegrity(m, PASS))
  assert.ok(verifyFingerprint(m))
})

test('encoder reproduces the RFC 5769 response bytes exactly', () => {
  const m = decodeStun(RESP)
  const out = encodeStun({
    method: m.method, cls: m.cls, txId: m.txId,
    attrs: [
      { type: Attr.SOFTWARE, value: utf8('test vector') },
      { type: Attr.XOR_MAPPED_ADDRESS, value: encodeAddress({ family: 4, host: '192.0.2.1', port: 32853 }, true, m.txId) },
    ],
  }, { integrityKey: PASS })
  // SOFTWARE is 11 bytes: the RFC pads with 0x20, we pad with zeros; compare everything else.
  const norm = (b: Uint8Array): string => { const c = b.slice(); c[35] = 0; return toHex(c.subarray(0, 44)) }
  assert.equal(norm(out), norm(RESP))
  assert.ok(verifyIntegrity(decodeStun(out), PASS))
  assert.ok(verifyFingerprint(decodeStun(out)))
})

test('IPv6 XOR address round trip and long-term key', () => {
  const tx = fromHex('b7e7a701bc34d686fa87dfae')
  const a = { family: 6 as const, host: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 }
  assert.equal(toHex(encodeAddress(a, true, tx)), '0002a1470113a9faa5d3f179bc25f4b5bed2b9d9' /* RFC 5769 §2.3 */)
  assert.deepEqual(decodeAddress(encodeAddress(a, true, tx), true, tx), a)
  // MD5("user:realm:pass") computed independently (python hashlib)
  assert.equal(toHex(longTermKey('user', 'realm', 'pass')), '8493fbc53ba582fb4c044c456bdc40eb')
})

test('hostile input: truncation, bad lengths, garbage, oversize, attrs after fingerprint', () => {
  for (let n = 0; n < RESP.length; n++) {
    assert.throws(() => decodeStun(RESP.subarray(0, n)))
  }
  const bad = RESP.slice(); bad[2] = 0x01; bad[3] = 0x3d
  assert.throws(() => decodeStun(bad), /not a STUN/)
  const attrLen = RESP.slice(); attrLen[23] = 0xff // SOFTWARE length runs past the end
  assert.throws(() => decodeStun(attrLen), (e: Error & { code?: string }) => e.code === 'stun_attr_len')
  assert.throws(() => decodeStun(new Uint8Array(MAX_MESSAGE_BYTES + 4)))
  assert.equal(isStun(new Uint8Array(20).fill(0xff)), false)
  const tampered = RESP.slice(); tampered[30] ^= 1
  const t = decodeStun(tampered)
  assert.ok(!verifyIntegrity(t, PASS))
  assert.ok(!verifyFingerprint(t))
  // random garbage never throws anything but a StunError
  for (let i = 0; i < 2000; i++) {
    const g = new Uint8Array(20 + 4 * Math.floor(Math.random() * 20))
    crypto.getRandomValues(g)
    g[0]! &= 0x3f; g[4] = 0x21; g[5] = 0x12; g[6] = 0xa4; g[7] = 0x42
    g[2] = ((g.length - 20) >> 8); g[3] = (g.length - 20) & 0xff
    try { decodeStun(g) } catch (e) { assert.equal((e as Error).name, 'StunError') }
  }
})

test('server core: CHANGE-REQUEST picks the reply socket, OTHER-ADDRESS and RESPONSE-ORIGIN are set', () => {
  const addrs = { primary: { host: '198.18.0.10', port: 3478 }, alternate: { host: '198.18.0.11', port: 3479 } }
  const tx = new Uint8Array(12).fill(7)
  const req = (flags?: number): Uint8Array => encodeStun({
    method: StunMethod.binding, cls: StunClass.request, txId: tx,
    attrs: flags === undefined ? [] : [{ type: Attr.CHANGE_REQUEST, value: u32(flags) }],
  })
  const from = { host: '198.18.0.101', port: 40000 }
  const plain = answerBinding(req(), from, 0, addrs)!
  assert.equal(plain.via, 0)
  const m = decodeStun(plain.reply)
  assert.deepEqual(decodeAddress(getAttr(m, Attr.XOR_MAPPED_ADDRESS)!, true, tx), { family: 4, ...from })
  assert.deepEqual(decodeAddress(getAttr(m, Attr.OTHER_ADDRESS)!, false), { family: 4, host: '198.18.0.11', port: 3479 })
  assert.equal(answerBinding(req(6), from, 0, addrs)!.via, 3)
  assert.equal(answerBinding(req(2), from, 0, addrs)!.via, 1)
  assert.equal(answerBinding(req(4), from, 1, addrs)!.via, 3)
  const r = decodeStun(answerBinding(req(4), from, 1, addrs)!.reply)
  assert.deepEqual(decodeAddress(getAttr(r, Attr.RESPONSE_ORIGIN)!, false), { family: 4, host: '198.18.0.11', port: 3479 })
  // without an alternate address a change request is an error 420
  const e = decodeStun(answerBinding(req(6), from, 0, { primary: addrs.primary })!.reply)
  assert.equal(e.cls, StunClass.error)
  // responses and indications are never answered (no reflection loops)
  assert.equal(answerBinding(plain.reply, from, 0, addrs), undefined)
})

test('RFC 5780 classification logic', () => {
  const a = { family: 4 as const, host: '1.2.3.4', port: 1000 }
  const b = { family: 4 as const, host: '1.2.3.4', port: 2000 }
  const c = { family: 4 as const, host: '1.2.3.4', port: 3000 }
  assert.equal(classifyMapping(a, a, a, true), 'none')
  assert.equal(classifyMapping(a, a, b, false), 'endpoint-independent')
  assert.equal(classifyMapping(a, b, b, false), 'address-dependent')
  assert.equal(classifyMapping(a, b, c, false), 'address-port-dependent')
  assert.equal(classifyMapping(a, undefined, undefined, false), 'unknown')
  assert.equal(classifyFiltering(true, true, true), 'endpoint-independent')
  assert.equal(classifyFiltering(true, false, true), 'address-dependent')
  assert.equal(classifyFiltering(true, false, false), 'address-port-dependent')
  assert.equal(classifyFiltering(false, false, false), 'unknown')
})
