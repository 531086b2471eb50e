import { z } from 'zod'

/**
 * Config section `dht` (owned by src/dht). Every field has a default so an empty section is valid.
 * Defaults follow the seed protocol (K = 20, alpha = 3, refresh 3600 s, TTL 86400 s, republish 3600 s,
 * cleanup 300 s, RPC timeout 5 s, value <= 64 KiB) plus the S/Kademlia parameters.
 */
export const dhtConfigSchema = z.object({
  /** Run the DHT at all. @default true */
  enabled: z.boolean().default(true),
  /** Bucket size K. @default 20 */
  k: z.number().int().min(2).max(64).default(20),
  /** Parallel requests per lookup path. @default 3 */
  alpha: z.number().int().min(1).max(16).default(3),
  /** S/Kademlia disjoint lookup paths d. @default 4 */
  disjointPaths: z.number().int().min(1).max(8).default(4),
  /** Sibling list size s: a record is stored on the s closest nodes. @default 20 */
  siblings: z.number().int().min(1).max(64).default(20),
  /** Copies a put (and republish, provide) stores: the closest nodes that answered its lookup, up to this many
   *  (0 = siblings x disjointPaths: each path's own closest answers). Beyond the s closest, so that attackers holding
   *  most sibling positions (ids ground next to the key) cannot keep the newest seq to a handful of honest copies.
   *  @default 0 */
  putCopies: z.number().int().min(0).max(512).default(0),
  /** S/Kademlia static puzzle c1: leading zero bits of SHA-1(SHA-1(pubkey)) a node id needs to enter the table.
   *  15 bits = 2^15 key generations, ~0.7 s mean on the 2-vCPU dev machine (47.8k tries/s measured). @default 15 */
  staticPuzzleBits: z.number().int().min(0).max(32).default(15),
  /** S/Kademlia dynamic puzzle c2: leading zero bits of SHA-1(dhtId XOR X) for the X carried in every DHT RPC. @default 8 */
  dynamicPuzzleBits: z.number().int().min(0).max(24).default(8),
  /** Per-RPC timeout in ms. @default 5000 */
  rpcTimeoutMs: z.number().int().min(100).max(60_000).default(5000),
  /** After this long a slow request stops holding a lookup slot (its late answer is still merged). @default 400 */
  softTimeoutMs: z.number().int().min(10).max(60_000).default(400),
  /** A get stops once the closest nodes known (in distance order, none of them unanswered) include this many that answered
   *  with a valid copy from the publisher, and returns the highest seq it saw (0 = collect from every node of the
   *  lookup). More copies make a rollback by stale replicas harder. @default 8 */
  getQuorum: z.number().int().min(0).max(64).default(8),
  /** Bucket refresh interval (random-id lookup in buckets untouched this long). @default 3600000 */
  bucketRefreshMs: z.number().int().min(1000).default(3_600_000),
  /** Record TTL set by the publisher. @default 86400000 */
  recordTtlMs: z.number().int().min(1000).max(7 * 86_400_000).default(86_400_000),
  /** Publisher republish interval (re-signed with a new expiry). @default 3600000 */
  republishMs: z.number().int().min(1000).default(3_600_000),
  /** Expired-record cleanup interval. @default 300000 */
  cleanupMs: z.number().int().min(1000).default(300_000),
  /** Largest value accepted. @default 65536 */
  maxValueBytes: z.number().int().min(1).max(65_536).default(65_536),
  /** Independently signed values kept per key (one per publisher). @default 16 */
  maxRecordsPerKey: z.number().int().min(1).max(256).default(16),
  /** Provider records kept per key (one per provider). @default 64 */
  maxProvidersPerKey: z.number().int().min(1).max(1024).default(64),
  /** Total bytes of values/provider data the store keeps. @default 134217728 */
  maxStoreBytes: z.number().int().min(1024).default(128 * 1024 * 1024),
  /** Most of maxStoreBytes one publisher (other than this node) may hold, as a fraction (at least 4 largest values). @default 0.015625 */
  maxPublisherShare: z.number().gt(0).max(1).default(1 / 64),
  /** STORE / ADD_PROVIDER requests accepted per peer per minute (bursts up to the same number). @default 1200 */
  maxWritesPerPeerPerMinute: z.number().int().min(1).default(1200),
  /** Routing-table entries allowed per subnet (IPv4 /24, IPv6 /48, a name's last two labels) within one bucket (loopback exempt). @default 2 */
  maxPerSubnetBucket: z.number().int().min(1).default(2),
  /** Routing-table entries allowed per subnet (IPv4 /24, IPv6 /48, a name's last two labels) in the whole table (loopback exempt). @default 10 */
  maxPerSubnetTable: z.number().int().min(1).default(10),
  /** Consecutive failed requests after which a routing-table entry is removed (even from a bucket that is not full). @default 3 */
  maxFailures: z.number().int().min(1).max(100).default(3),
  /** Candidates kept per bucket for when an entry stops answering. @default 10 */
  replacementCacheSize: z.number().int().min(0).max(64).default(10),
  /** Extra DHT bootstrap peers (`host:port`), in addition to `node.bootstrap`. */
  bootstrap: z.array(z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port')).default([]),
  /** Host put in our provider records; '' = the listen host, or the first external IPv4 when listening on a wildcard. @default '' */
  advertiseHost: z.string().max(253).default(''),
  /** Answer v0 DHT-in-DATA requests and keep their unsigned records apart. @default true */
  legacy: z.boolean().default(true),
}).strict()

export type DhtConfig = z.infer<typeof dhtConfigSchema>

/** The defaults, for code that builds a DHT without a parsed config (tests, simulator). */
export function defaultDhtConfig(overrides: Partial<DhtConfig> = {}): DhtConfig {
  return dhtConfigSchema.parse(overrides)
}
