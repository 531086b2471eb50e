/**
 * The VPN exit market: the announcement an exit puts in its signed DHT provider record under
 * SHA-1("service:vpn_exit"), and how a client ranks the exits it found. Pure.
 *
 * Ranking (lower is better): rtt_ms * (1 + price / maxPrice) / (0.25 + trust). Exits priced over the client's
 * maximum, with less stake than `capacity_mbps * 100 ZEO` (the contracts' stake rule), or marked dead are left out.
 */
import { sha1 } from '../../crypto/hash.js'
import { decode, encode } from '../../wire/cbor.js'

export const VPN_EXIT_KEY = sha1(new TextEncoder().encode('service:vpn_exit'))
export const ZEO = 10n ** 18n
/** Stake an exit needs per Mbps of announced capacity (ZEO wei). */
export const STAKE_PER_MBPS = 100n * ZEO
const MAX_REGION = 32

export interface ExitAnnouncement {
  /** Micro-credits per MiB carried (both directions). */
  pricePerMiB: bigint
  /** Announced capacity in Mbps. */
  capacityMbps: number
  region: string
  /** SHA-256 hex of the exit policy (ExitPolicy.digest). */
  policyDigest: string
  /** Stake the exit claims (ZEO wei; whole ZEO on the wire); the client checks the chain's figure when it has one. */
  stake: bigint
}

export function encodeAnnouncement(a: ExitAnnouncement): Uint8Array {
  return encode({ v: 1, price: a.pricePerMiB, cap: a.capacityMbps, region: a.region.slice(0, MAX_REGION), policy: Buffer.from(a.policyDigest, 'hex'), stake: a.stake / ZEO })
}

/** Decodes a provider record's data; null for anything that is not a valid v1 announcement. */
export function decodeAnnouncement(data: Uint8Array): ExitAnnouncement | null {
  try {
    const o = decode(data, { maxDepth: 1, maxItems: 8, maxStringBytes: 64 }) as Record<string, unknown>
    if (!o || typeof o !== 'object' || Array.isArray(o) || o instanceof Uint8Array) return null
    const keys = Object.keys(o)
    if (o.v !== 1 || keys.some((k) => !['v', 'price', 'cap', 'region', 'policy', 'stake'].includes(k))) return null
    const big = (x: unknown): bigint | null => (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 ? BigInt(x) : typeof x === 'bigint' && x >= 0n ? x : null)
    const price = big(o.price)
    const stake = big(o.stake)
    if (price === null || stake === null) return null
    if (typeof o.cap !== 'number' || !Number.isInteger(o.cap) || o.cap < 0 || o.cap > 1_000_000) return null
    if (typeof o.region !== 'string' || o.region.length > MAX_REGION) return null
    if (!(o.policy instanceof Uint8Array) || o.policy.length !== 32) return null
    return { pricePerMiB: price, capacityMbps: o.cap, region: o.region, policyDigest: Buffer.from(o.policy).toString('hex'), stake: stake * ZEO }
  } catch { return null }
}

export interface RankInput {
  ann: ExitAnnouncement
  /** Measured round trip (ms); undefined = not measured yet (ranked as 1000 ms). */
  rttMs?: number
  /** Effective trust 0..1 (0.5 when unknown). */
  trust?: number
  /** Stake read from the chain, if any; else the announced one counts. */
  verifiedStake?: bigint
  dead?: boolean
}

export function requiredStake(capacityMbps: number): bigint {
  return BigInt(Math.ceil(capacityMbps)) * STAKE_PER_MBPS
}

/** Why an exit is not eligible, or undefined if it is. */
export function ineligible(x: RankInput, maxPricePerMiB: bigint, requireStake: boolean): string | undefined {
  if (x.dead) return 'dead'
  if (x.ann.pricePerMiB > maxPricePerMiB) return `price ${x.ann.pricePerMiB} over ${maxPricePerMiB}`
  const stake = x.verifiedStake ?? x.ann.stake
  if (requireStake && stake < requiredStake(x.ann.capacityMbps)) return `stake ${stake} under ${requiredStake(x.ann.capacityMbps)} for ${x.ann.capacityMbps} Mbps`
  return undefined
}

export function score(x: RankInput, maxPricePerMiB: bigint): number {
  const rtt = x.rttMs ?? 1000
  const priceShare = maxPricePerMiB > 0n ? Number(x.ann.pricePerMiB) / Number(maxPricePerMiB) : 0
  return (Math.max(rtt, 0.01) * (1 + priceShare)) / (0.25 + (x.trust ?? 0.5))
}
