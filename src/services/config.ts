import { z } from 'zod'

/** Config section `services` (owned by src/services). Every field has a default so an empty section is valid. */
export const servicesConfigSchema = z.object({
  /** Most requests served at once (all services, all peers); more are refused with `busy`. @default 64 */
  maxConcurrent: z.number().int().min(1).max(10_000).default(64),
  /** A service call that takes longer is aborted. @default 30000 */
  timeoutMs: z.number().int().min(100).default(30_000),
  /** Largest request payload. @default 1 MiB */
  maxPayloadBytes: z.number().int().min(1).max(16 << 20).default(1 << 20),
  echo: z.object({
    /** Serve `echo`. @default true */
    enabled: z.boolean().default(true),
    /** Price of one echo request in micro-credits. @default 0 */
    price: z.number().int().min(0).default(0),
    /** Largest echo payload. @default 65536 */
    maxPayloadBytes: z.number().int().min(0).max(1 << 20).default(65_536),
  }).strict().prefault({}),
}).strict()

export type ServicesConfig = z.infer<typeof servicesConfigSchema>
