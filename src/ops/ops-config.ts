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
  /** OpenTelemetry tracing (off unless `endpoint` is set). */
  tracing: z.object({
    /** OTLP/HTTP traces URL (e.g. http://127.0.0.1:4318/v1/traces); unset = off, at no cost. */
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    /** Share of traces this node starts that are recorded (0..1); traces continued from a peer follow its choice, operator requests (`zeone dht get`) are always recorded. @default 0.01 */
    sampleRatio: z.number().min(0).max(1).default(0.01),
    /** `service.name` of the node's spans. @default 'zeone' */
    serviceName: z.string().min(1).max(128).default('zeone'),
    /** Extra HTTP headers for the collector (e.g. an auth token). @default {} */
    headers: z.record(z.string().max(128), z.string().max(4096)).default({}),
  }).strict().prefault({}),
}).strict()
