import { z } from 'zod'

/** Config section `ops`: logging, metrics/health HTTP port, tracing. */
export const opsConfigSchema = z.object({
  /** pino level. @default 'info' */
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** Local HTTP API (/metrics, /healthz, layer endpoints) port; 0 = ephemeral, -1 = disabled. @default 9468 */
  httpPort: z.number().int().min(-1).max(65535).default(9468),
  /** Bind address of the local HTTP API. @default '127.0.0.1' */
  httpHost: z.string().default('127.0.0.1'),
  /** Host names (besides localhost and IP literals) the HTTP API answers to; others are refused (DNS rebinding). @default [] */
  httpAllowedHosts: z.array(z.string().min(1).max(253)).max(32).default([]),
}).strict()
