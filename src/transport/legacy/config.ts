import { z } from 'zod'

const hostPort = z.string().regex(/^[^\s:/]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/, 'expected host:port')

/**
 * Config section `legacy`: the v0 (Python network) bridge. It is switched on and off by `node.legacy`; this section
 * tunes it. See docs/protocol/legacy.md.
 */
export const legacyConfigSchema = z.object({
  /** v0 peers (host:port) to dial at start; the CLI's `--bootstrap legacy://host:port` lands here. */
  bootstrap: z.array(hostPort).default([]),
  /** Largest v0 frame accepted (the v0 protocol has no limit). @default 1 MiB */
  maxFrameBytes: z.number().int().min(1024).max(16 << 20).default(1 << 20),
  /** Most simultaneous v0 connections. @default 64 */
  maxPeers: z.number().int().min(0).max(10_000).default(64),
  /** PING after this much silence. @default 30000 */
  keepAliveMs: z.number().int().min(100).default(30_000),
  /** Drop a peer silent for this long. @default 90000 */
  idleTimeoutMs: z.number().int().min(200).default(90_000),
  /** Handshake (PING/PONG) deadline. @default 10000 */
  handshakeTimeoutMs: z.number().int().min(100).default(10_000),
  /** Largest message age and future skew accepted, in ms. @default 30000 */
  maxSkewMs: z.number().int().min(1000).default(30_000),
  /** Most credit (micro-credits) a v0 peer may owe us. @default 1000000 */
  creditLimit: z.number().int().min(0).default(1_000_000),
  /** Messages per second one v0 peer may send (checked before the signature). @default 200 */
  messagesPerSec: z.number().positive().default(200),
  /** @default 400 */
  messageBurst: z.number().int().min(1).default(400),
  /** Frame bytes per second one v0 peer may send. @default 4 MiB */
  bytesPerSec: z.number().positive().default(4 << 20),
  /** @default 8 MiB */
  byteBurst: z.number().int().min(1).default(8 << 20),
  /** Service names v0 peers may call. @default ['echo'] */
  services: z.array(z.string()).default(['echo']),
}).strict()

export type LegacyConfig = z.infer<typeof legacyConfigSchema>
