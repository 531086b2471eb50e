/**
 * The data dir a client command talks to, without loading the config schema: `--data-dir`, else `--set dataDir=`,
 * else ZEONE_DATA_DIR, else the default. Only with a config file (--config / ZEONE_CONFIG) is the whole config
 * loaded and validated, since the file may name the data dir. Keeps `zeone dht get` and friends fast.
 */
import { resolve } from 'node:path'
import type { ParsedArgs } from './command.js'
import { flagList, flagString } from './args.js'

/** Same as the schema's default (src/ops/config-schema.ts). */
export const DEFAULT_DATA_DIR = '.zeone'

export async function dataDirOf(args: ParsedArgs, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (flagString(args, 'config') === undefined && env.ZEONE_CONFIG === undefined) {
    const set = flagList(args, 'set').filter((s) => s.startsWith('dataDir=')).pop()
    const dir = flagString(args, 'data-dir') ?? set?.slice('dataDir='.length) ?? env.ZEONE_DATA_DIR ?? DEFAULT_DATA_DIR
    if (dir.length > 0) return resolve(dir)
  }
  const { configFromArgs } = await import('./config-args.js')
  return resolve(configFromArgs(args, env).config.dataDir)
}
