/**
 * The ZEONE handshake as a sans-I/O state machine (docs/protocol.md §4.4): it is fed message bodies and returns
 * the bodies to send, the session keys, or a HandshakeError. No sockets, no timers (the caller owns the 10 s timeout).
 *
 *   I -> R  HELLO     {node_id, ephemeral, supported_versions, preferred_version, capabilities, suites, ...}
 *   R -> I  HELLO_ACK {node_id, ephemeral, supported_versions, version, suite, ..., signature = Sig_R(ACK || th2)}
 *   I -> R  VERIFY    {signature = Sig_I(VERIFY || th3)}
 *
 *   th1 = SHA-256("ZEONE-HS-1\0" || HELLO)   th2 = SHA-256(th1 || ACK core)   th3 = SHA-256(th2 || Sig_R)
 *   keys = HKDF-SHA256(ikm = X25519(e_I, e_R), salt = th3, info = "ZEONE i2r" | "ZEONE r2i", 32 bytes)
 *
 * Every byte of both HELLO and ACK is under both signatures, so a rewritten version list (downgrade), a swapped
 * ephemeral key or identity breaks the transcript. The responder refuses a HELLO whose nonce it has seen (replay)
 * or whose timestamp is outside the skew window.
 */
import { hkdfSync } from 'node:crypto'
import { isCipherSuite, type CipherSuite } from '../crypto/aead.js'
import { sha256 } from '../crypto/hash.js'
import type { Identity } from '../crypto/identity.js'
import { randomBytes, verify } from '../crypto/sign.js'
import { x25519, x25519KeyPair, type X25519KeyPair } from '../crypto/x25519.js'
import { equalBytes } from '../util/bytes.js'
import { HandshakeError } from './handshake-errors.js'
import { decodeHello, decodeHelloAck, decodeVerify, encodeHello, encodeHelloAck, encodeVerify, type Hello, type HelloAck } from './handshake-messages.js'

const enc = new TextEncoder()
const TH1_LABEL = enc.encode('ZEONE-HS-1\0')
const ACK_LABEL = enc.encode('ZEONE-HS-ACK\0')
const VERIFY_LABEL = enc.encode('ZEONE-HS-VERIFY\0')
export const DEFAULT_MAX_SKEW_MS = 30_000
/** Smallest max_frame a peer may announce. */
export const MIN_MAX_FRAME = 1024

export interface HandshakeConfig {
  identity: Identity
  /** Wire versions we speak, e.g. [2, 1]. */
  versions: readonly number[]
  preferredVersion: number
  capabilities: readonly string[]
  /** v2 cipher suites in order of preference. */
  suites: readonly CipherSuite[]
  /** Port we listen on (0 = not listening). */
  listenPort: number
  /** Largest frame body we accept. */
  maxFrame: number
  now: () => number
  /** @default 30000 */
  maxSkewMs?: number
  /** Test vectors only: fixed ephemeral key and nonce. */
  ephemeral?: X25519KeyPair
  nonce?: Uint8Array
}

export interface SessionParams {
  version: number
  suite: CipherSuite
  sendKey: Uint8Array
  recvKey: Uint8Array
  remoteNodeId: Uint8Array
  remoteCapabilities: string[]
  remoteListenPort: number
  /** min(our max_frame, theirs) */
  maxFrame: number
  transcriptHash: Uint8Array
}

/** Highest common version not above the initiator's preferred one (or the highest common one if none is). */
export function chooseVersion(initiatorVersions: readonly number[], preferred: number, responderVersions: readonly number[]): number | undefined {
  const common = initiatorVersions.filter((v) => responderVersions.includes(v)).sort((a, b) => b - a)
  return common.find((v) => v <= preferred) ?? common[0]
}

function deriveKeys(dh: Uint8Array, th3: Uint8Array): { i2r: Uint8Array; r2i: Uint8Array } {
  const k = (info: string): Uint8Array => new Uint8Array(hkdfSync('sha256', dh, th3, info, 32))
  return { i2r: k('ZEONE i2r'), r2i: k('ZEONE r2i') }
}

function checkTime(cfg: HandshakeConfig, ts: number, what: string): void {
  const skew = cfg.maxSkewMs ?? DEFAULT_MAX_SKEW_MS
  const now = cfg.now()
  if (ts < now - skew || ts > now + skew) throw new HandshakeError('stale_timestamp', `${what} timestamp outside ±${skew} ms`)
}

export class HandshakeInitiator {
  readonly #cfg: HandshakeConfig
  readonly #expect: Uint8Array | undefined
  readonly #eph: X25519KeyPair
  #hello: Uint8Array | undefined
  #helloMsg: Hello | undefined
  #done = false

  constructor(cfg: HandshakeConfig, opts: { expectNodeId?: Uint8Array } = {}) {
    this.#cfg = cfg
    this.#expect = opts.expectNodeId
    this.#eph = cfg.ephemeral ?? x25519KeyPair()
  }

  /** The HELLO body to send first. */
  hello(): Uint8Array {
    if (this.#hello) return this.#hello
    const c = this.#cfg
    this.#helloMsg = {
      node_id: c.identity.publicKey,
      ephemeral: this.#eph.publicKey,
      supported_versions: [...c.versions],
      preferred_version: c.preferredVersion,
      capabilities: [...c.capabilities],
      suites: [...c.suites],
      listen_port: c.listenPort,
      timestamp: c.now(),
      nonce: c.nonce ?? randomBytes(32),
      max_frame: c.maxFrame,
    }
    this.#hello = encodeHello(this.#helloMsg)
    return this.#hello
  }

  /** Processes HELLO_ACK; returns the VERIFY body to send and the session. */
  onHelloAck(body: Uint8Array): { verify: Uint8Array; session: SessionParams } {
    if (!this.#hello || !this.#helloMsg || this.#done) throw new HandshakeError('bad_handshake', 'unexpected HELLO_ACK')
    this.#done = true
    const ack = decodeHelloAck(body)
    const c = this.#cfg
    if (this.#expect && !equalBytes(ack.node_id, this.#expect)) throw new HandshakeError('identity_mismatch', 'peer is not the expected node')
    if (equalBytes(ack.node_id, c.identity.publicKey)) throw new HandshakeError('self_connect', 'connected to ourselves')
    const th1 = sha256(TH1_LABEL, this.#hello)
    const { signature, ...core } = ack
    const th2 = sha256(th1, encodeHelloAck(core))
    if (!verify(ack.node_id, signature!, ACK_LABEL, th2)) {
      throw new HandshakeError('transcript_mismatch', 'HELLO_ACK signature does not cover our HELLO (tampered transcript or wrong key)')
    }
    checkTime(c, ack.timestamp, 'HELLO_ACK')
    const expected = chooseVersion(this.#helloMsg.supported_versions, this.#helloMsg.preferred_version, ack.supported_versions)
    if (expected === undefined) throw new HandshakeError('no_common_version', 'no common wire version')
    if (ack.version !== expected) throw new HandshakeError('downgrade', `peer chose version ${ack.version}, expected ${expected}`)
    if (!isCipherSuite(ack.suite) || !c.suites.includes(ack.suite)) throw new HandshakeError('no_common_suite', `peer chose unknown suite ${ack.suite}`)
    if (ack.max_frame < MIN_MAX_FRAME) throw new HandshakeError('bad_handshake', 'max_frame too small')
    const dh = x25519(this.#eph.secretKey, ack.ephemeral)
    const th3 = sha256(th2, signature!)
    const sig = c.identity.sign(VERIFY_LABEL, th3)
    const keys = deriveKeys(dh, th3)
    return {
      verify: encodeVerify({ signature: sig }),
      session: {
        version: ack.version,
        suite: ack.suite,
        sendKey: keys.i2r,
        recvKey: keys.r2i,
        remoteNodeId: ack.node_id,
        remoteCapabilities: ack.capabilities,
        remoteListenPort: ack.listen_port,
        maxFrame: Math.min(c.maxFrame, ack.max_frame),
        transcriptHash: th3,
      },
    }
  }
}

export interface ResponderOptions {
  /** Returns true if the HELLO nonce was seen before (and records it). */
  isReplay?: (nonce: Uint8Array) => boolean
  expectNodeId?: Uint8Array
}

export class HandshakeResponder {
  readonly #cfg: HandshakeConfig
  readonly #opts: ResponderOptions
  readonly #eph: X25519KeyPair
  #hello: Hello | undefined
  #th2: Uint8Array | undefined
  #ack: HelloAck | undefined
  #dh: Uint8Array | undefined
  #done = false

  constructor(cfg: HandshakeConfig, opts: ResponderOptions = {}) {
    this.#cfg = cfg
    this.#opts = opts
    this.#eph = cfg.ephemeral ?? x25519KeyPair()
  }

  /** The node id the HELLO claims (not yet proven), once a HELLO was accepted. */
  get claimedNodeId(): Uint8Array | undefined { return this.#hello?.node_id }

  /** Processes HELLO; returns the HELLO_ACK body to send. */
  onHello(body: Uint8Array): Uint8Array {
    if (this.#hello) throw new HandshakeError('bad_handshake', 'duplicate HELLO')
    const h = decodeHello(body)
    const c = this.#cfg
    checkTime(c, h.timestamp, 'HELLO')
    if (equalBytes(h.node_id, c.identity.publicKey)) throw new HandshakeError('self_connect', 'connected to ourselves')
    if (this.#opts.expectNodeId && !equalBytes(h.node_id, this.#opts.expectNodeId)) throw new HandshakeError('identity_mismatch', 'peer is not the expected node')
    const version = chooseVersion(h.supported_versions, h.preferred_version, c.versions)
    if (version === undefined) throw new HandshakeError('no_common_version', 'no common wire version')
    const suite = c.suites.find((s) => h.suites.includes(s))
    if (!suite) throw new HandshakeError('no_common_suite', 'no common cipher suite')
    if (h.max_frame < MIN_MAX_FRAME) throw new HandshakeError('bad_handshake', 'max_frame too small')
    this.#dh = x25519(this.#eph.secretKey, h.ephemeral)
    if (this.#opts.isReplay?.(h.nonce)) throw new HandshakeError('replayed_hello', 'HELLO nonce seen before')
    this.#hello = h
    const core: HelloAck = {
      node_id: c.identity.publicKey,
      ephemeral: this.#eph.publicKey,
      supported_versions: [...c.versions],
      version,
      suite,
      capabilities: [...c.capabilities],
      listen_port: c.listenPort,
      timestamp: c.now(),
      nonce: c.nonce ?? randomBytes(32),
      max_frame: c.maxFrame,
    }
    const th1 = sha256(TH1_LABEL, body)
    this.#th2 = sha256(th1, encodeHelloAck(core))
    const signature = c.identity.sign(ACK_LABEL, this.#th2)
    this.#ack = { ...core, signature }
    return encodeHelloAck(this.#ack)
  }

  /** Processes VERIFY; returns the session once the initiator proved its identity over the transcript. */
  onVerify(body: Uint8Array): SessionParams {
    if (!this.#hello || !this.#ack || !this.#th2 || !this.#dh || this.#done) throw new HandshakeError('bad_handshake', 'unexpected VERIFY')
    this.#done = true
    const v = decodeVerify(body)
    const th3 = sha256(this.#th2, this.#ack.signature!)
    if (!verify(this.#hello.node_id, v.signature, VERIFY_LABEL, th3)) {
      throw new HandshakeError('transcript_mismatch', 'VERIFY signature does not match the transcript')
    }
    const keys = deriveKeys(this.#dh, th3)
    return {
      version: this.#ack.version,
      suite: this.#ack.suite as CipherSuite,
      sendKey: keys.r2i,
      recvKey: keys.i2r,
      remoteNodeId: this.#hello.node_id,
      remoteCapabilities: this.#hello.capabilities,
      remoteListenPort: this.#hello.listen_port,
      maxFrame: Math.min(this.#cfg.maxFrame, this.#hello.max_frame),
      transcriptHash: th3,
    }
  }
}
