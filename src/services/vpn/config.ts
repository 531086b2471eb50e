import { z } from 'zod'
import { parseRule } from './policy.js'

const rule = z.string().max(128).refine((s) => { try { parseRule(s); return true } catch { return false } },
  { message: "expected an exit policy rule 'accept|reject ADDR[:PORTS]'" })
const amount = z.union([z.number().int().nonnegative(), z.string().regex(/^\d{1,20}$/, 'expected a decimal integer')])
const exitRef = z.string().regex(/^[A-Za-z0-9+/=_-]{43,44}@\S+:\d{1,5}$/, 'expected NODE_ID_B64@host:port')

/** Config section `vpn` (owned by src/services/vpn). Both sides are off by default. */
export const vpnConfigSchema = z.object({
  exit: z.object({
    /** Serve as an exit: open TCP connections for clients and announce under `service:vpn_exit`. @default false */
    enabled: z.boolean().default(false),
    /**
     * Exit policy rules, first match wins: `accept|reject ADDR[:PORTS]` (ADDR `*`, `*4`, `*6`, an address or a
     * CIDR, `[v6]/n` with ports). Loopback, private, link-local, CGNAT and metadata ranges stay refused unless a
     * rule names a prefix inside them. @default []
     */
    policy: z.array(rule).max(256).default([]),
    /** @default 1024 */
    maxStreams: z.number().int().min(1).max(100_000).default(1024),
    /** @default 128 */
    maxStreamsPerClient: z.number().int().min(1).max(100_000).default(128),
    /** Total bytes/s carried (0 = unlimited). @default 0 */
    bytesPerSec: z.number().int().min(0).default(0),
    /** Bytes/s per client (0 = unlimited). @default 0 */
    bytesPerSecPerClient: z.number().int().min(0).default(0),
    /** @default 10000 */
    connectTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    /** @default 300000 */
    idleTimeoutMs: z.number().int().min(1000).default(300_000),
    /** Flow-control window per stream, bytes. @default 524288 */
    window: z.number().int().min(65_536).max(16 << 20).default(512 * 1024),
    /**
     * A stream whose client keeps up grows its window up to this (bytes): on a loaded machine a bulk stream that
     * waited for credit with 4 MiB windows used ~1.5x the CPU per GiB it uses with 16 MiB. @default 16777216
     */
    maxWindow: z.number().int().min(65_536).max(16 << 20).default(16 << 20),
    /** All streams' window growth together (bytes). @default 67108864 */
    windowBudget: z.number().int().min(0).default(64 << 20),
    /**
     * UDP ASSOCIATE for clients: datagrams sent from this node under the same exit policy (each destination checked,
     * names after resolving). `enabled: false` answers every association request with SOCKS reply 2.
     */
    udp: z.object({
      /** @default true */
      enabled: z.boolean().default(true),
      /** @default 256 */
      maxAssociations: z.number().int().min(1).max(100_000).default(256),
      /** @default 8 */
      maxAssociationsPerClient: z.number().int().min(1).max(10_000).default(8),
      /** An association without a datagram either way for this long is closed. @default 120000 */
      idleTimeoutMs: z.number().int().min(1000).default(120_000),
    }).strict().prefault({}),
    /** Announced capacity (Mbps); the stake the market expects is capacity * 100 ZEO. @default 100 */
    capacityMbps: z.number().int().min(0).max(1_000_000).default(100),
    /** Free-text region label in the announcement. @default '' */
    region: z.string().max(32).default(''),
    /** Announce in the DHT (when one is attached). @default true */
    announce: z.boolean().default(true),
    /**
     * Re-announce the provider record this often (ms); it is also re-announced as the routing table fills.
     * @default 600000
     */
    announceIntervalMs: z.number().int().min(1000).default(600_000),
  }).strict().prefault({}),
  socks: z.object({
    /** SOCKS5 port on this node; -1 = off, 0 = any free port. @default -1 */
    port: z.number().int().min(-1).max(65535).default(-1),
    /** Listening address: loopback unless configured. @default 127.0.0.1 */
    host: z.string().min(1).default('127.0.0.1'),
    /** RFC 1929 username/password (both or neither). */
    username: z.string().min(1).max(255).optional(),
    password: z.string().min(1).max(255).optional(),
    /** Exits to use besides those found in the DHT: `NODE_ID_B64@host:port`. @default [] */
    exits: z.array(exitRef).max(64).default([]),
    /** Exits priced above this (micro-credits per MiB) are never used. @default 10485760 (10 credits/MiB) */
    maxPricePerMiB: amount.default(10 * 1024 * 1024),
    /** Leave out DHT exits whose stake is under capacity * 100 ZEO. @default true */
    requireStake: z.boolean().default(true),
    /** @default 10000 */
    connectTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    /** @default 300000 */
    idleTimeoutMs: z.number().int().min(1000).default(300_000),
    /** SOCKS handshake deadline. @default 10000 */
    handshakeTimeoutMs: z.number().int().min(100).default(10_000),
    /** SOCKS connections open at once; more are closed at accept. @default 1024 */
    maxConnections: z.number().int().min(1).max(100_000).default(1024),
    /** Flow-control window per stream, bytes. @default 524288 */
    window: z.number().int().min(65_536).max(16 << 20).default(512 * 1024),
    /** A stream whose reader keeps up grows its window up to this (bytes). @default 16777216 */
    maxWindow: z.number().int().min(65_536).max(16 << 20).default(16 << 20),
    /** All streams' window growth together (bytes). @default 67108864 */
    windowBudget: z.number().int().min(0).default(64 << 20),
    /** Offer SOCKS5 UDP ASSOCIATE (a UDP relay port on this node per control connection). @default true */
    udp: z.boolean().default(true),
    /** An exit that failed stays out of rotation this long. @default 60000 */
    deadMs: z.number().int().min(0).default(60_000),
  }).strict().refine((s) => (s.username === undefined) === (s.password === undefined), { message: 'vpn.socks.username and password go together' }).prefault({}),
}).strict()

export type VpnConfig = z.infer<typeof vpnConfigSchema>
