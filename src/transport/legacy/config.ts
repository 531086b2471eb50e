import { z } from 'zod'

const hostPort = z.string().regex(/^[^\s:/]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/, 'expected host:port')

/**
 * Config section `legacy`: the v0 (Python network) bridge. It is switched on and off by `node.legacy`; this section
 * tunes it. See docs/protocol/legacy.md.
 */
export const legacyConfigSchema = z.object({
  /** v0 peers (host:port) to dial at start; the CLI's `--bootstrap legacy://host:port` lands here. */
  bootstrap: z.array(hostPort).default([]),
  /**
   * Largest v0 frame accepted (the v0 protocol has no limit). v1.2.4 nodes send 500 KiB echo payloads, and JSON
   * escaping grows non-ASCII text up to 6x (`é` is `\u00e9`), so 3 MB frames are real traffic. @default 4 MiB
   */
  maxFrameBytes: z.number().int().min(1024).max(16 << 20).default(4 << 20),
  /**
   * A frame over maxFrameBytes but at most this is skipped without buffering and answered with an error reply
   * (SERVICE_RESPONSE / STORE_RESPONSE); a larger one closes the link. @default 16 MiB
   */
  maxSkippedFrameBytes: z.number().int().min(1024).max(256 << 20).default(16 << 20),
  /** Most simultaneous v0 connections. @default 64 */
  maxPeers: z.number().int().min(0).max(10_000).default(64),
  /** Most connections kept to one v0 peer (a v1.2.4 node dials its bootstrap twice). @default 4 */
  maxConnectionsPerPeer: z.number().int().min(1).max(16).default(4),
  /** PING after this much silence. @default 30000 */
  keepAliveMs: z.number().int().min(100).default(30_000),
  /** Drop a peer silent for this long. @default 90000 */
  idleTimeoutMs: z.number().int().min(200).default(90_000),
  /** Handshake (PING/PONG) deadline. @default 10000 */
  handshakeTimeoutMs: z.number().int().min(100).default(10_000),
  /** Largest message age and future skew accepted, in ms. @default 30000 */
  maxSkewMs: z.number().int().min(1000).default(30_000),
  /** DISCOVER on every v0 link at connect and then this often. @default 30000 */
  discoverIntervalMs: z.number().int().min(50).default(30_000),
  /** v0 addresses learned from PEER_LIST / DHT sender fields dialled at once. @default 4 */
  maxDialsInFlight: z.number().int().min(0).max(64).default(4),
  /** A learned v0 address that failed is not dialled again for this long. @default 60000 */
  redialBackoffMs: z.number().int().min(100).default(60_000),
  /** BALANCE_CLAIM to every v0 peer this often (besides the one after each handshake). @default 60000 */
  claimIntervalMs: z.number().int().min(100).default(60_000),
  /** Bytes by which a v0 peer's claimed totals may differ from our meter (frames in flight) and still agree. @default 65536 */
  claimToleranceBytes: z.number().int().min(0).default(65_536),
  /** Most credit (micro-credits) a v0 peer may owe us. @default 1000000 */
  creditLimit: z.number().int().min(0).default(1_000_000),
  /** Messages per second one v0 peer may send (checked before the signature; a v1.2.4 node signs ~350/s). @default 1000 */
  messagesPerSec: z.number().positive().default(1000),
  /** @default 2000 */
  messageBurst: z.number().int().min(1).default(2000),
  /** Frame bytes per second one v0 peer may send. @default 4 MiB */
  bytesPerSec: z.number().positive().default(4 << 20),
  /** @default 8 MiB */
  byteBurst: z.number().int().min(1).default(8 << 20),
  /** Service names v0 peers may call. @default ['echo'] */
  services: z.array(z.string()).default(['echo']),
}).strict()

export type LegacyConfig = z.infer<typeof legacyConfigSchema>
