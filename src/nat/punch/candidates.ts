/**
 * Signed candidate sets: what one peer tells another (through a rendezvous) about how to reach it. The set is
 * signed with the sender's Ed25519 identity and names both ends, so a rendezvous can neither forge nor redirect it;
 * it carries an ephemeral X25519 key from which both ends derive the probe MAC key (the rendezvous cannot).
 * Layout: docs/protocol/nat.md §Candidate set.
 */
import { isIP } from 'node:net'
import sodium from 'sodium-native'
import type { Identity } from '../../crypto/identity.js'
import { blake2b } from '../../crypto/hash.js'
import { verify } from '../../crypto/sign.js'
import { equalBytes } from '../../util/bytes.js'
import { addressClass } from '../../util/address-class.js'
import { encode, type CborValue } from '../../wire/cbor.js'
import { bytes, decodeWith, list, message, oneOf, refine, struct, text, tuple, uint, type SchemaError, type Schema } from '../../wire/schema.js'
import { NatError } from '../errors.js'

export type CandidateKind = 'host' | 'srflx' | 'relay' | 'tcp'
const KINDS: readonly CandidateKind[] = ['host', 'srflx', 'relay', 'tcp']

export interface Candidate { kind: CandidateKind; host: string; port: number; priority: number }

export interface CandidateSet {
  from: Uint8Array
  to: Uint8Array
  /** 16-byte punch session id, chosen by the initiator, echoed by the answer. */
  sid: Uint8Array
  /** Ephemeral X25519 public key. */
  eph: Uint8Array
  /** udx stream id the sender will use locally. */
  streamId: number
  /** RFC 5780 behaviour of the sender's NAT. */
  mapping: string
  filtering: string
  candidates: Candidate[]
  /** Unix ms when signed. */
  ts: number
}

export const MAX_CANDIDATES = 16
const DOMAIN = new TextEncoder().encode('zeone-nat-candidates-v1')
/** How old (or how far in the future) a set may be. */
export const MAX_SET_AGE_MS = 30_000

function body(s: CandidateSet): CborValue {
  return {
    v: 1, from: s.from, to: s.to, sid: s.sid, eph: s.eph, stream: s.streamId, map: s.mapping, filt: s.filtering,
    cands: s.candidates.map((c) => [KINDS.indexOf(c.kind), c.host, c.port, c.priority]), ts: s.ts,
  }
}

export function encodeCandidateSet(s: CandidateSet, identity: Identity): Uint8Array {
  if (s.candidates.length > MAX_CANDIDATES) throw new NatError('nat_candidates', 'too many candidates')
  const unsigned = encode(body(s))
  return encode({ set: unsigned, sig: identity.sign(DOMAIN, unsigned) })
}

const MAPPINGS = ['none', 'endpoint-independent', 'address-dependent', 'address-port-dependent', 'unknown'] as const
const FILTERINGS = ['endpoint-independent', 'address-dependent', 'address-port-dependent', 'unknown'] as const
/** Longest textual IPv6 address (8 groups of 4 and 7 colons); IPv4 is shorter. */
const MAX_HOST_CHARS = 39

/** IP version of a candidate host, or undefined unless it is a plain IPv4 or IPv6 literal a datagram can be sent to. */
export function candidateFamily(host: string): 4 | 6 | undefined {
  // no hostnames (a send would resolve or throw), no brackets, zone ids or IPv4-in-IPv6 forms (their family is
  // ambiguous), no unspecified or multicast address (never a peer)
  if (host.length > MAX_HOST_CHARS || host.includes('%') || (host.includes(':') && host.includes('.'))) return undefined
  const family = isIP(host)
  if (family !== 4 && family !== 6) return undefined
  const cls = addressClass(host)
  if (cls === 'not-ip' || cls === 'unspecified' || cls === 'multicast') return undefined
  return family
}

/** A host a datagram may be sent to (candidateFamily), as a schema: what candidates and `obs` fields carry. */
export const ipLiteral = (): Schema<string> => refine(text(1, 64), (h) => candidateFamily(h) !== undefined, 'expected an IP literal')

const ID = bytes(32)
/** Outer envelope: `{set, sig}`; `set` is verified before it is decoded. */
const envelope = message('candidate set', struct({ set: bytes(1, 4096), sig: bytes(64) }))
/** The signed body; a candidate is the tuple `[kind index, host, port, priority]`. */
const setBody = message('set', struct({
  v: uint(1, 1), from: ID, to: ID, sid: bytes(16), eph: bytes(32), stream: uint(0xffffffff),
  map: oneOf(MAPPINGS), filt: oneOf(FILTERINGS),
  cands: list(tuple<[number, string, number, number]>(uint(KINDS.length - 1), ipLiteral(), uint(65535, 1), uint(0xffffffff)), MAX_CANDIDATES),
  ts: uint(),
}))

const invalid = (e: SchemaError): NatError => new NatError('nat_bad_candidates', `invalid candidate set: ${e.message}`)

/**
 * Decodes and verifies a signed set: the signature must be by `expectFrom`, the set addressed to `expectTo`, and
 * fresh (|now - ts| <= 30 s). Every field is checked strictly by its schema (no unknown keys; each candidate an IP
 * literal of family 4 or 6, port 1..65535, at most MAX_CANDIDATES of them), so nothing a peer signs reaches a socket
 * unchecked. Throws NatError otherwise.
 */
export function decodeCandidateSet(bytes: Uint8Array, expectFrom: Uint8Array, expectTo: Uint8Array, now: number): CandidateSet {
  if (bytes.length > 4096) throw new NatError('nat_bad_candidates', 'invalid candidate set: too large')
  const outer = decodeWith(envelope, bytes, invalid)
  if (!verify(expectFrom, outer.sig, DOMAIN, outer.set)) {
    throw new NatError('nat_signature', 'candidate set signature does not verify for the expected peer')
  }
  const b = decodeWith(setBody, outer.set, invalid)
  if (!equalBytes(b.from, expectFrom)) throw new NatError('nat_bad_candidates', 'invalid candidate set: from')
  if (!equalBytes(b.to, expectTo)) throw new NatError('nat_redirected', 'candidate set addressed to another node')
  if (Math.abs(now - b.ts) > MAX_SET_AGE_MS) throw new NatError('nat_stale', 'candidate set is stale')
  return {
    from: b.from, to: b.to, sid: b.sid, eph: b.eph, streamId: b.stream, mapping: b.map, filtering: b.filt, ts: b.ts,
    candidates: b.cands.map(([k, host, port, priority]) => ({ kind: KINDS[k]!, host, port, priority })),
  }
}

export interface EphemeralKey { publicKey: Uint8Array; secretKey: Uint8Array }

export function ephemeralKey(): EphemeralKey {
  const pk = Buffer.alloc(32)
  const sk = Buffer.alloc(32)
  sodium.randombytes_buf(sk)
  sodium.crypto_scalarmult_base(pk, sk)
  return { publicKey: new Uint8Array(pk), secretKey: new Uint8Array(sk) }
}

/** Probe MAC key: BLAKE2b(X25519(own, remote) || sid || offer eph || answer eph). Both ends get the same key. */
export function deriveProbeKey(own: EphemeralKey, remoteEph: Uint8Array, sid: Uint8Array, offerEph: Uint8Array, answerEph: Uint8Array): Uint8Array {
  const shared = Buffer.alloc(32)
  sodium.crypto_scalarmult(shared, Buffer.from(own.secretKey), Buffer.from(remoteEph))
  const input = Buffer.concat([shared, sid, offerEph, answerEph])
  return blake2b(input, 32)
}

/** RFC 8445 §5.1.2.1 priority: (2^24)*type pref + (2^8)*local pref + (256 - component). */
export function candidatePriority(kind: CandidateKind, localPref = 65535): number {
  const typePref = kind === 'host' ? 126 : kind === 'srflx' ? 100 : kind === 'tcp' ? 50 : 0
  return typePref * 2 ** 24 + localPref * 2 ** 8 + (256 - 1)
}
