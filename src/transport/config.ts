import { z } from 'zod'

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
}).strict()
