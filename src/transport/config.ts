import { z } from 'zod'
import { CIPHER_SUITES } from '../crypto/aead.js'

const limitsSchema = z.object({
  /** Most open connections (handshaking and established). @default 256 */
  maxConnections: z.number().int().min(1).default(256),
  /**
   * Inbound sessions (handshaking or established) from one IP. Loopback is not exempt: tests with many nodes on
   * 127.0.0.1 that dial one node raise it. @default 16
   */
  maxSessionsPerIp: z.number().int().min(1).default(16),
  /** Inbound sessions from one /24 (IPv4) or /48 (IPv6). @default 64 */
  maxSessionsPerSubnet: z.number().int().min(1).default(64),
  /** Share of maxConnections that only peers with trust or stake may use (strangers get the rest). @default 0.25 */
  reservedShare: z.number().min(0).max(0.9).default(0.25),
  /**
   * When full, a newcomer evicts the lowest-value inbound session that sent or got no application message for this
   * long (a new session is protected for as long). @default 10000
   */
  evictIdleMs: z.number().int().min(0).default(10_000),
  /** New inbound connections per second allowed from one IP. @default 10 */
  connectsPerSecPerIp: z.number().positive().default(10),
  /** Burst of new connections from one IP. @default 30 */
  connectBurstPerIp: z.number().int().min(1).default(30),
  /**
   * Bytes all connections together may hold in unfinished frames; past it the slowest holders are closed.
   * @default 256 MiB
   */
  maxBufferedFrameBytes: z.number().int().min(64 * 1024).default(256 * 1024 * 1024),
  /**
   * Bytes one connection may hold in an unfinished frame; the frame size we announce is lowered to fit.
   * @default maxFrameBytes plus a frame header
   */
  maxBufferedPerConnection: z.number().int().min(64 * 1024).optional(),
  /** Messages per second per peer. @default 20000 */
  messagesPerSec: z.number().positive().default(20_000),
  /** @default 50000 */
  messageBurst: z.number().int().min(1).default(50_000),
  /** Payload bytes per second per peer. @default 256 MiB */
  bytesPerSec: z.number().positive().default(256 * 1024 * 1024),
  /** @default 512 MiB */
  byteBurst: z.number().int().min(1).default(512 * 1024 * 1024),
  /** Invalid frames/handshakes within `strikeWindowMs` that ban the node id (or, before a handshake, the IP). @default 5 */
  strikes: z.number().int().min(1).default(5),
  /** @default 60000 */
  strikeWindowMs: z.number().int().min(1).default(60_000),
  /** First ban of a node id (abuse after the handshake); doubles with each further ban of the same id. @default 60000 */
  banBaseMs: z.number().int().min(1).default(60_000),
  /** @default 3600000 */
  banMaxMs: z.number().int().min(1).default(3_600_000),
  /**
   * First ban of an IP, for garbage before any handshake (the only case where no identity is known); doubles with
   * each further ban of the same IP. Short, because every identity behind that IP (a NAT, a campus) shares it.
   * @default 5000
   */
  ipBanBaseMs: z.number().int().min(1).default(5_000),
  /** @default 600000 */
  ipBanMaxMs: z.number().int().min(1).default(600_000),
}).strict()

/** Config section `node`: listening, bootstrap, limits, wire versions. */
export const transportConfigSchema = z.object({
  /** TCP listening port. @default 8468 */
  port: z.number().int().min(0).max(65535).default(8468),
  /** Listening address. @default '0.0.0.0' */
  host: z.string().default('0.0.0.0'),
  /** host:port of peers to connect to at start. */
  bootstrap: z.array(z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port')).default([]),
  /** Accept legacy (v0, Python network) peers. false = hard fork: streams without the magic are closed. @default true */
  legacy: z.boolean().default(true),
  /** Wire versions offered in the handshake. @default [2, 1] */
  wireVersions: z.array(z.union([z.literal(1), z.literal(2)])).min(1).default([2, 1]),
  /** Version we prefer (the highest common one not above it is chosen). @default 2 */
  preferredVersion: z.union([z.literal(1), z.literal(2)]).default(2),
  /** v2 cipher suites in order of preference. @default ['chacha20-poly1305', 'aes-256-gcm'] */
  cipherSuites: z.array(z.enum(CIPHER_SUITES)).min(1).default([...CIPHER_SUITES]),
  /** Largest frame body we accept (the smaller of both sides' values applies). @default 16 MiB */
  maxFrameBytes: z.number().int().min(1024).max(0xffffffff).default(16 * 1024 * 1024),
  /** @default 10000 */
  handshakeTimeoutMs: z.number().int().min(1).default(10_000),
  /** Send PING after this much silence from a peer. @default 30000 */
  keepAliveMs: z.number().int().min(1).default(30_000),
  /** Drop a link after this much silence. @default 90000 */
  idleTimeoutMs: z.number().int().min(1).default(90_000),
  /** Maximum age and future skew of a timestamped message (HELLO, PING). @default 30000 */
  maxClockSkewMs: z.number().int().min(1).default(30_000),
  /** Ask every new peer for its peers (DISCOVER). @default true */
  discover: z.boolean().default(true),
  /** Peers returned in one PEER_LIST. @default 32 */
  peerListSize: z.number().int().min(0).max(256).default(32),
  /** Send buffer high-water mark per link, bytes. @default 4 MiB */
  sendHighWaterMark: z.number().int().min(1024).default(4 * 1024 * 1024),
  /** Replay Bloom filter: bits per generation (power of two) and how often it is saved. */
  replayFilterBits: z.number().int().min(64).default(1 << 20),
  /** @default 60000 */
  replayFilterSaveMs: z.number().int().min(1).default(60_000),
  /**
   * Non-public addresses (loopback, private, link-local, CGNAT) that peers name in DHT contacts, PEER_LIST, NAT
   * candidates or relay requests: 'deny' never dials or probes them, 'allow' does (private networks, labs), 'auto'
   * allows only the classes of the hosts configured here (bootstrap, a non-wildcard listening host).
   * See src/util/address-class.ts. @default 'auto'
   */
  privateAddresses: z.enum(['auto', 'allow', 'deny']).default('auto'),
  limits: limitsSchema.prefault({}),
}).strict()

export type TransportConfig = z.infer<typeof transportConfigSchema>
