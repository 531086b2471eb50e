/** Computes the docs/protocol.md test vectors from fixed keys, nonces and timestamps. */
import { AeadKey } from '../../src/crypto/aead.js'
import { Identity } from '../../src/crypto/identity.js'
import { x25519KeyPair } from '../../src/crypto/x25519.js'
import { toHex } from '../../src/util/bytes.js'
import { encodePing } from '../../src/wire/core-messages.js'
import { encodeHandshakeFrame } from '../../src/wire/frame.js'
import { V1Sealer } from '../../src/wire/frame-v1.js'
import { V2Sealer } from '../../src/wire/frame-v2.js'
import { HandshakeInitiator, HandshakeResponder, type HandshakeConfig } from '../../src/wire/handshake.js'
import { MessageType } from '../../src/wire/message-types.js'

export const fill = (b: number, n = 32): Uint8Array => new Uint8Array(n).fill(b)
export const VECTOR_TIME = 1_700_000_000_000

export function vectorConfigs(): { i: HandshakeConfig; r: HandshakeConfig } {
  const base = { versions: [2, 1], preferredVersion: 2, capabilities: ['DHT'], suites: ['chacha20-poly1305', 'aes-256-gcm'] as const, maxFrame: 16 * 1024 * 1024, now: () => VECTOR_TIME }
  return {
    i: { ...base, suites: [...base.suites], identity: Identity.fromSeed(fill(1)), listenPort: 8468, ephemeral: x25519KeyPair(fill(3)), nonce: fill(5) },
    r: { ...base, suites: [...base.suites], identity: Identity.fromSeed(fill(2)), listenPort: 8469, ephemeral: x25519KeyPair(fill(4)), nonce: fill(6) },
  }
}

export function computeVectors(): Record<string, string> {
  const { i, r } = vectorConfigs()
  const ini = new HandshakeInitiator(i)
  const res = new HandshakeResponder(r)
  const hello = ini.hello()
  const ack = res.onHello(hello)
  const { verify, session } = ini.onHelloAck(ack)
  const rs = res.onVerify(verify)
  const pt = new Uint8Array([0, ...encodePing({ timestamp: VECTOR_TIME })])
  const v2 = new V2Sealer(new AeadKey('chacha20-poly1305', session.sendKey)).seal(MessageType.PING, pt)
  const v2gcm = new V2Sealer(new AeadKey('aes-256-gcm', session.sendKey)).seal(MessageType.PING, pt)
  const v1 = new V1Sealer({ key: session.sendKey, identity: i.identity, fixedRandom: fill(7, 16) }).seal(MessageType.PING, pt)
  if (toHex(rs.recvKey) !== toHex(session.sendKey)) throw new Error('key mismatch')
  return {
    hello_frame: toHex(encodeHandshakeFrame(MessageType.HELLO, hello)),
    hello_ack_frame: toHex(encodeHandshakeFrame(MessageType.HELLO_ACK, ack)),
    verify_frame: toHex(encodeHandshakeFrame(MessageType.VERIFY, verify)),
    transcript_hash: toHex(session.transcriptHash),
    key_i2r: toHex(session.sendKey),
    key_r2i: toHex(session.recvKey),
    ping_plaintext: toHex(pt),
    v2_chacha_frame: toHex(v2),
    v2_gcm_frame: toHex(v2gcm),
    v1_frame: toHex(v1),
  }
}

if (process.argv[1]?.endsWith('vectors.ts')) {
  for (const [k, v] of Object.entries(computeVectors())) console.log(`${k} ${v}`)
}
