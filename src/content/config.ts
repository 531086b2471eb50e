import { z } from 'zod'

/** Config section `content` (owned by src/content). Every field has a default so an empty section is valid. */
export const contentConfigSchema = z.object({
  /** Chunk size for `zeone publish`: a power of two, 16 KiB..16 MiB. @default 1048576 */
  chunkSize: z.number().int().min(16384).max(16777216).refine((n) => (n & (n - 1)) === 0, 'chunkSize must be a power of two').default(1048576),
  /** Pipelined chunk requests per provider while downloading. @default 8 */
  window: z.number().int().min(1).max(64).default(8),
  /** Per-request timeout of chunk-protocol requests (ms). @default 30000 */
  requestTimeoutMs: z.number().int().min(100).max(600000).default(30000),
  /** Transport failures before a provider is dropped for one download. @default 3 */
  maxFailures: z.number().int().min(1).max(100).default(3),
  /** Most providers used for one download. @default 16 */
  maxProviders: z.number().int().min(1).max(256).default(16),
  /**
   * Re-hash chunks before serving them: 'always', or 'if-changed' (only when the file's size or mtime differs from
   * when it was published; an edited file is then never served as the published one). @default 'if-changed'
   */
  verifyOnServe: z.enum(['always', 'if-changed']).default('if-changed'),
  /** Most publications served at once. @default 4096 */
  maxPublications: z.number().int().min(1).max(1000000).default(4096),
  /** Seed (serve and announce) content after fetching it. @default true */
  seedAfterFetch: z.boolean().default(true),
  /** CDN cache ("Amplifier") of verified chunks. */
  cache: z.object({
    /** Serve CACHE_REQUEST and cache chunks this node downloads. @default true */
    enabled: z.boolean().default(true),
    /** Bytes of chunk data held in memory. @default 268435456 (256 MiB) */
    maxBytes: z.number().int().min(0).max(2 ** 40).default(268435456),
    /** Most chunks held. @default 65536 */
    maxEntries: z.number().int().min(1).max(10000000).default(65536),
  }).strict().prefault({}),
}).strict()

export type ContentConfig = z.infer<typeof contentConfigSchema>
