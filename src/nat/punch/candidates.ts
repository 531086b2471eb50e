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
import { decode, encode, type CborValue } from '../../wire/cbor.js'
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

const isBytes = (v: unknown, n?: number): v is Uint8Array => v instanceof Uint8Array && (n === undefined || v.length === n)
const isU = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max
const bad = (what: string): never => { throw new NatError('nat_bad_candidates', `invalid candidate set: ${what}`) }

const ENVELOPE_KEYS = ['set', 'sig']
const SET_KEYS = ['v', 'from', 'to', 'sid', 'eph', 'stream', 'map', 'filt', 'cands', 'ts']
const MAPPINGS = ['none', 'endpoint-independent', 'address-dependent', 'address-port-dependent', 'unknown']
const FILTERINGS = ['endpoint-independent', 'address-dependent', 'address-port-dependent', 'unknown']
/** Longest textual IPv6 address (8 groups of 4 and 7 colons); IPv4 is shorter. */
const MAX_HOST_CHARS = 39

const onlyKeys = (m: Record<string, unknown>, keys: readonly string[]): boolean => Object.keys(m).every((k) => keys.includes(k))

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

/**
 * Decodes and verifies a signed set: the signature must be by `expectFrom`, the set addressed to `expectTo`, and
 * fresh (|now - ts| <= 30 s). Every field is checked strictly (no unknown keys; each candidate an IP literal of
 * family 4 or 6, port 1..65535, at most MAX_CANDIDATES of them), so nothing a peer signs reaches a socket unchecked.
 * Throws NatError otherwise.
 */
export function decodeCandidateSet(bytes: Uint8Array, expectFrom: Uint8Array, expectTo: Uint8Array, now: number): CandidateSet {
  if (bytes.length > 4096) bad('too large')
  const outer = decode(bytes, { maxDepth: 2, maxItems: 4, maxStringBytes: 4096 }) as Record<string, unknown>
  if (!outer || typeof outer !== 'object' || Array.isArray(outer) || !onlyKeys(outer, ENVELOPE_KEYS) || !isBytes(outer.set) || !isBytes(outer.sig, 64)) bad('envelope')
  const setBytes = outer.set as Uint8Array
  if (!verify(expectFrom, outer.sig as Uint8Array, DOMAIN, setBytes)) {
    throw new NatError('nat_signature', 'candidate set signature does not verify for the expected peer')
  }
  const b = decode(setBytes, { maxDepth: 4, maxItems: 32, maxStringBytes: 256 }) as Record<string, unknown>
  if (!b || typeof b !== 'object' || Array.isArray(b) || b.v !== 1) bad('version')
  if (!onlyKeys(b, SET_KEYS)) bad('unknown key')
  if (!isBytes(b.from, 32) || !equalBytes(b.from, expectFrom)) bad('from')
  if (!isBytes(b.to, 32) || !equalBytes(b.to, expectTo)) throw new NatError('nat_redirected', 'candidate set addressed to another node')
  if (!isBytes(b.sid, 16) || !isBytes(b.eph, 32)) bad('sid/eph')
  if (!isU(b.stream, 0xffffffff) || !isU(b.ts, Number.MAX_SAFE_INTEGER)) bad('stream/ts')
  if (Math.abs(now - (b.ts as number)) > MAX_SET_AGE_MS) throw new NatError('nat_stale', 'candidate set is stale')
  if (typeof b.map !== 'string' || typeof b.filt !== 'string' || !MAPPINGS.includes(b.map) || !FILTERINGS.includes(b.filt)) bad('nat type')
  if (!Array.isArray(b.cands) || b.cands.length > MAX_CANDIDATES) bad('candidates')
  const candidates = (b.cands as unknown[]).map((c): Candidate => {
    if (!Array.isArray(c) || c.length !== 4) return bad('candidate')
    const [k, host, port, prio] = c as [unknown, unknown, unknown, unknown]
    if (!isU(k, KINDS.length - 1) || !isU(port, 65535) || port === 0 || !isU(prio, 0xffffffff)) return bad('candidate fields')
    if (typeof host !== 'string' || candidateFamily(host) === undefined) return bad('candidate host is not an IP literal')
    return { kind: KINDS[k]!, host, port, priority: prio }
  })
  return {
    from: b.from as Uint8Array, to: b.to as Uint8Array, sid: b.sid as Uint8Array, eph: b.eph as Uint8Array,
    streamId: b.stream as number, mapping: b.map as string, filtering: b.filt as string, candidates, ts: b.ts as number,
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
