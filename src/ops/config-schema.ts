/**
 * The whole config schema, composed from each layer's own section schema. Each section has defaults for every
 * field, so `{}` is a valid config. Sources and precedence (file < ZEONE_* env < CLI flags) live in config.ts.
 */
import { z } from 'zod'
import { transportConfigSchema } from '../transport/config.js'
import { dhtConfigSchema } from '../dht/config.js'
import { natConfigSchema } from '../nat/config.js'
import { contentConfigSchema } from '../content/config.js'
import { economyConfigSchema } from '../economy/config.js'
import { cortexConfigSchema } from '../cortex/config.js'
import { servicesConfigSchema } from '../services/config.js'
import { vpnConfigSchema } from '../services/vpn/config.js'
import { chainConfigSchema } from '../economy/chain/config.js'
import { opsConfigSchema } from './ops-config.js'
import { legacyConfigSchema } from '../transport/legacy/config.js'

export const configSchema = z.object({
  /** Node data directory (identity, SQLite files, bloom filter, control socket). */
  dataDir: z.string().min(1).default('.zeone'),
  node: transportConfigSchema.prefault({}),
  dht: dhtConfigSchema.prefault({}),
  nat: natConfigSchema.prefault({}),
  content: contentConfigSchema.prefault({}),
  economy: economyConfigSchema.prefault({}),
  chain: chainConfigSchema.prefault({}),
  cortex: cortexConfigSchema.prefault({}),
  services: servicesConfigSchema.prefault({}),
  vpn: vpnConfigSchema.prefault({}),
  ops: opsConfigSchema.prefault({}),
  /** The legacy v0 bridge (switched by node.legacy). */
  legacy: legacyConfigSchema.prefault({}),
}).strict()

export type ZeoneConfig = z.infer<typeof configSchema>
