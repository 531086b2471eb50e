/**
 * Flags -> config for the commands that need the whole validated config (start, model serve, chain). This module
 * loads the config schema (zod and every layer's section): import it lazily, never from a command list.
 */
import type { ParsedArgs } from './command.js'
import { flagBool, flagList, flagString } from './args.js'
import { configFromAssignments, loadConfig, mergeConfig, type PlainObject } from '../ops/config.js'
import type { ZeoneConfig } from '../ops/config-schema.js'
import { ZeoneError } from '../util/errors.js'

export const intFlag = (args: ParsedArgs, name: string): number | undefined => {
  const v = flagString(args, name)
  if (v === undefined) return undefined
  if (!/^-?\d+$/.test(v)) throw new ZeoneError('bad_flag', `--${name} expects an integer, got '${v}'`)
  return Number(v)
}

/** Turns the common flags into a partial config (the highest-precedence source). */
export function flagsToConfig(args: ParsedArgs): PlainObject {
  const node: PlainObject = {}
  const ops: PlainObject = {}
  const out: PlainObject = {}
  const port = intFlag(args, 'port')
  if (port !== undefined) node.port = port
  const host = flagString(args, 'host')
  if (host !== undefined) node.host = host
  const boot = flagList(args, 'bootstrap')
  if (boot.length > 0) {
    node.bootstrap = boot.filter((b) => !b.startsWith('legacy://'))
    const legacy = boot.filter((b) => b.startsWith('legacy://')).map((b) => b.slice('legacy://'.length))
    if (legacy.length > 0) out.legacy = { bootstrap: legacy }
  }
  const legacyOn = flagBool(args, 'legacy')
  if (legacyOn !== undefined) node.legacy = legacyOn
  const dataDir = flagString(args, 'data-dir')
  if (dataDir !== undefined) out.dataDir = dataDir
  const httpPort = intFlag(args, 'http-port')
  if (httpPort !== undefined) ops.httpPort = httpPort
  const level = flagString(args, 'log-level')
  if (level !== undefined) ops.logLevel = level
  if (Object.keys(node).length > 0) out.node = node
  if (Object.keys(ops).length > 0) out.ops = ops
  return mergeConfig(out, configFromAssignments(flagList(args, 'set')))
}

export function configFromArgs(args: ParsedArgs, env: NodeJS.ProcessEnv = process.env): { config: ZeoneConfig; file: string | undefined } {
  const file = flagString(args, 'config') ?? env.ZEONE_CONFIG
  return { config: loadConfig({ ...(file ? { file } : {}), env, flags: flagsToConfig(args) }), file }
}
