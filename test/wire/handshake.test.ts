import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { ReplayGuard } from '../../src/transport/replay-guard.js'
import { decode, encode } from '../../src/wire/cbor.js'
import { HandshakeInitiator, HandshakeResponder, chooseVersion, type HandshakeConfig } from '../../src/wire/handshake.js'
import { HandshakeError } from '../../src/wire/handshake-errors.js'
import { encodeHelloAck } from '../../src/wire/handshake-messages.js'
import { sha256 } from '../../src/crypto/hash.js'
import { computeVectors, vectorConfigs, VECTOR_TIME } from './vectors.js'

function docVectors(): Map<string, string> {
  const doc = readFileSync('docs/protocol.md', 'utf8')
  const out = new Map<string, string>()
  for (const m of doc.matchAll(/^vector ([a-z0-9_]+) ([0-9a-f]+)$/gm)) out.set(m[1]!, m[2]!)
  return out
}

function cfg(over: Partial<HandshakeConfig> = {}): HandshakeConfig {
  return {
    identity: Identity.fromSeed(randomBytes(32)), versions: [2, 1], preferredVersion: 2, capabilities: ['DHT', 'RELAY'],
    suites: ['chacha20-poly1305', 'aes-256-gcm'], listenPort: 1234, maxFrame: 1 << 20, now: () => Date.now(), ...over,
  }
}

const code = (c: string) => (e: unknown) => e instanceof HandshakeError && e.code === c

test('handshake vectors in docs/protocol.md match the implementation', () => {
  const doc = docVectors()
  const got = computeVectors()
  assert.ok(doc.size >= Object.keys(got).length, 'docs/protocol.md lists every vector')
  for (const [k, v] of Object.entries(got)) assert.equal(doc.get(k), v, `vector ${k}`)
})

test('both sides derive the same per-direction keys and learn each other', () => {
  const i = cfg()
  const r = cfg({ versions: [1, 2], suites: ['aes-256-gcm'] })
  const ini = new HandshakeInitiator(i, { expectNodeId: r.identity.publicKey })
  const res = new HandshakeResponder(r)
  const { verify, session: si } = ini.onHelloAck(res.onHello(ini.hello()))
  const sr = res.onVerify(verify)
  assert.deepEqual(si.sendKey, sr.recvKey)
  assert.deepEqual(si.recvKey, sr.sendKey)
  assert.notDeepEqual(si.sendKey, si.recvKey)
  assert.equal(si.version, 2)
  assert.equal(si.suite, 'aes-256-gcm')
  assert.deepEqual(sr.remoteNodeId, i.identity.publicKey)
  assert.deepEqual(si.remoteNodeId, r.identity.publicKey)
  assert.equal(sr.remoteListenPort, 1234)
  assert.deepEqual(sr.remoteCapabilities, ['DHT', 'RELAY'])
})

test('version choice: highest common not above preferred', () => {
  assert.equal(chooseVersion([2, 1], 2, [1, 2]), 2)
  assert.equal(chooseVersion([2, 1], 1, [1, 2]), 1)
  assert.equal(chooseVersion([2, 1], 2, [1]), 1)
  assert.equal(chooseVersion([2], 2, [1]), undefined)
})

test('a MITM that rewrites the version list in HELLO is detected (transcript mismatch)', () => {
  const ini = new HandshakeInitiator(cfg())
  const res = new HandshakeResponder(cfg())
  const hello = decode(ini.hello()) as Record<string, unknown>
  hello.supported_versions = [1]
  const ack = res.onHello(encode(hello as never))
  assert.throws(() => ini.onHelloAck(ack), code('transcript_mismatch'))
})

test('a MITM that rewrites the version list in HELLO_ACK is detected', () => {
  const ini = new HandshakeInitiator(cfg())
  const res = new HandshakeResponder(cfg())
  const ack = decode(res.onHello(ini.hello())) as Record<string, unknown>
  ack.supported_versions = [1]
  ack.version = 1
  assert.throws(() => ini.onHelloAck(encode(ack as never)), code('transcript_mismatch'))
})

test('a responder that signs a lower version than the common maximum is refused as a downgrade', () => {
  const ini = new HandshakeInitiator(cfg())
  const hello = ini.hello()
  const evil = Identity.fromSeed(randomBytes(32))
  const core = {
    node_id: evil.publicKey, ephemeral: randomBytes(32), supported_versions: [2, 1], version: 1, suite: 'chacha20-poly1305',
    capabilities: [], listen_port: 1, timestamp: Date.now(), nonce: randomBytes(32), max_frame: 1 << 20,
  }
  const th2 = sha256(sha256(new TextEncoder().encode('ZEONE-HS-1\0'), hello), encodeHelloAck(core))
  const signature = evil.sign(new TextEncoder().encode('ZEONE-HS-ACK\0'), th2)
  assert.throws(() => ini.onHelloAck(encodeHelloAck({ ...core, signature })), code('downgrade'))
})

test('a wrong identity is refused (expectNodeId)', () => {
  const ini = new HandshakeInitiator(cfg(), { expectNodeId: randomBytes(32) })
  const res = new HandshakeResponder(cfg())
  assert.throws(() => ini.onHelloAck(res.onHello(ini.hello())), code('identity_mismatch'))
})

test('an impostor without the identity key cannot finish VERIFY', () => {
  const victim = cfg()
  const ini = new HandshakeInitiator({ ...cfg(), identity: victim.identity })
  const res = new HandshakeResponder(cfg())
  const { verify } = ini.onHelloAck(res.onHello(ini.hello()))
  const forged = decode(verify) as Record<string, unknown>
  forged.signature = randomBytes(64)
  assert.throws(() => res.onVerify(encode(forged as never)), code('transcript_mismatch'))
})

test('a replayed HELLO from a recorded session does not yield a session', () => {
  const guard = new ReplayGuard({ bits: 1 << 12 })
  const rc = cfg()
  const ini = new HandshakeInitiator(cfg())
  const hello = ini.hello()
  const res1 = new HandshakeResponder(rc, { isReplay: (n) => guard.checkAndAdd(n) })
  const { verify } = ini.onHelloAck(res1.onHello(hello))
  res1.onVerify(verify)
  const res2 = new HandshakeResponder(rc, { isReplay: (n) => guard.checkAndAdd(n) })
  assert.throws(() => res2.onHello(hello), code('replayed_hello'))
  // even without the filter, the recorded VERIFY does not fit the new responder's fresh ephemeral key
  const res3 = new HandshakeResponder(rc)
  res3.onHello(hello)
  assert.throws(() => res3.onVerify(verify), code('transcript_mismatch'))
})

test('timestamps older or newer than 30 s are refused', () => {
  for (const skew of [-30_001, 30_001]) {
    const ini = new HandshakeInitiator(cfg({ now: () => VECTOR_TIME + skew }))
    const res = new HandshakeResponder(cfg({ now: () => VECTOR_TIME }))
    assert.throws(() => res.onHello(ini.hello()), code('stale_timestamp'))
  }
  const ini = new HandshakeInitiator(cfg({ now: () => VECTOR_TIME + 29_000 }))
  const res = new HandshakeResponder(cfg({ now: () => VECTOR_TIME }))
  assert.doesNotThrow(() => res.onHello(ini.hello()))
})

test('no common version or suite, self-connect and malformed HELLOs are refused', () => {
  assert.throws(() => new HandshakeResponder(cfg({ versions: [1] })).onHello(new HandshakeInitiator(cfg({ versions: [2] })).hello()), code('no_common_version'))
  assert.throws(() => new HandshakeResponder(cfg({ suites: ['aes-256-gcm'] })).onHello(new HandshakeInitiator(cfg({ suites: ['chacha20-poly1305'] })).hello()), code('no_common_suite'))
  const me = cfg()
  assert.throws(() => new HandshakeResponder(me).onHello(new HandshakeInitiator(me).hello()), code('self_connect'))
  const res = () => new HandshakeResponder(cfg())
  assert.throws(() => res().onHello(new Uint8Array([0xff])), code('bad_handshake'))
  const h = decode(new HandshakeInitiator(cfg()).hello()) as Record<string, unknown>
  for (const bad of [{ ...h, extra: 1 }, { ...h, node_id: randomBytes(31) }, { ...h, listen_port: 70000 }, { ...h, supported_versions: [] }, { ...h, capabilities: Array(40).fill('X') }]) {
    assert.throws(() => res().onHello(encode(bad as never)), code('bad_handshake'))
  }
  const { node_id: _n, ...missing } = h
  assert.throws(() => res().onHello(encode(missing as never)), code('bad_handshake'))
  void vectorConfigs
})
