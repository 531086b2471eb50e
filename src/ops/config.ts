/**
 * Config sources and precedence: defaults < file (YAML/TOML/JSON by extension) < ZEONE_* environment < CLI flags.
 * The merged object is validated by `configSchema` (one section per layer); errors name every bad key path.
 *
 * Environment mapping: strip `ZEONE_`, split on `__` for nesting, lower snake_case -> camelCase per segment:
 *   ZEONE_NODE__PORT=9000 -> node.port = 9000      ZEONE_OPS__LOG_LEVEL=debug -> ops.logLevel = 'debug'
 *   ZEONE_DATA_DIR=/var/lib/zeone -> dataDir        ZEONE_NODE__BOOTSTRAP='["a:8468","b:8468"]' (JSON)
 * Values: `true`/`false` -> boolean, a decimal number -> number, text starting with `[` or `{` -> JSON, else a string.
 */
import { readFileSync } from 'node:fs'
import { extname } from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { createRequire } from 'node:module'
import type { z } from 'zod'
import { ZeoneError } from '../util/errors.js'
import { configSchema, type ZeoneConfig } from './config-schema.js'

/** Largest config file we read. */
export const MAX_CONFIG_BYTES = 1 << 20

export interface ConfigIssue { path: string; message: string }

export class ConfigError extends ZeoneError {
  override readonly name = 'ConfigError'
  readonly issues: ConfigIssue[]
  constructor(code: string, message: string, issues: ConfigIssue[] = [], options?: { cause?: unknown }) {
    super(code, message, options)
    this.issues = issues
  }
}

export type PlainObject = Record<string, unknown>

export interface ConfigSources {
  /** Path of a .yaml/.yml/.toml/.json file. */
  file?: string
  /** Environment (only ZEONE_* keys are read). @default {} */
  env?: Record<string, string | undefined>
  /** Partial config from CLI flags (highest precedence). */
  flags?: PlainObject
}

const isPlain = (v: unknown): v is PlainObject => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Deep merge: objects merge key by key, everything else (arrays included) is replaced by the later source. */
export function mergeConfig(...layers: (PlainObject | undefined)[]): PlainObject {
  const out: PlainObject = {}
  for (const layer of layers) {
    if (!layer) continue
    for (const [k, v] of Object.entries(layer)) {
      if (k === '__proto__' || k === 'constructor' || k === 'prototype') continue
      out[k] = isPlain(v) && isPlain(out[k]) ? mergeConfig(out[k] as PlainObject, v) : isPlain(v) ? mergeConfig(v) : v
    }
  }
  return out
}

/** yaml is ~70 CommonJS files: loaded (synchronously, as loadConfig is) only when a .yaml/.yml file is read. */
const parseYaml = (text: string, opts: { maxAliasCount: number }): unknown =>
  (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text, opts)

/** Parses a config file's text by its extension. */
export function parseConfigText(text: string, file: string): PlainObject {
  const ext = extname(file).toLowerCase()
  let value: unknown
  try {
    if (ext === '.yaml' || ext === '.yml') value = parseYaml(text, { maxAliasCount: 100 })
    else if (ext === '.toml') value = parseToml(text)
    else if (ext === '.json') value = JSON.parse(text)
    else throw new ConfigError('config_format', `config file ${file}: unsupported extension '${ext}' (use .yaml, .yml, .toml or .json)`)
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError('config_parse', `config file ${file}: ${(err as Error).message}`, [], { cause: err })
  }
  if (value === null || value === undefined) return {}
  if (!isPlain(value)) throw new ConfigError('config_parse', `config file ${file}: the top level must be a mapping`)
  return value
}

export function readConfigFile(file: string): PlainObject {
  let buf: Buffer
  try {
    buf = readFileSync(file)
  } catch (err) {
    throw new ConfigError('config_read', `cannot read config file ${file}: ${(err as Error).message}`, [], { cause: err })
  }
  if (buf.length > MAX_CONFIG_BYTES) throw new ConfigError('config_too_large', `config file ${file} is over ${MAX_CONFIG_BYTES} bytes`)
  return parseConfigText(buf.toString('utf8'), file)
}

const camel = (s: string): string => s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())

/** Converts a textual value (env var, `--set`) to a config value. */
export function coerceValue(raw: string): unknown {
  const t = raw.trim()
  if (t === 'true') return true
  if (t === 'false') return false
  if (/^-?\d+(\.\d+)?$/.test(t) && Number.isFinite(Number(t))) return Number(t)
  if (t.startsWith('[') || t.startsWith('{')) {
    try { return JSON.parse(t) } catch { /* keep as string: validation names the key */ }
  }
  return raw
}

/** Sets `a.b.c` in `obj` (creating objects on the way). */
export function setPath(obj: PlainObject, path: string[], value: unknown): void {
  let cur = obj
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i]!
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') return
    if (!isPlain(cur[k])) cur[k] = {}
    cur = cur[k] as PlainObject
  }
  const last = path[path.length - 1]!
  if (last === '__proto__' || last === 'constructor' || last === 'prototype') return
  cur[last] = value
}

/** Reads ZEONE_* variables into a partial config (see the mapping at the top of this file). */
export function configFromEnv(env: Record<string, string | undefined>): PlainObject {
  const out: PlainObject = {}
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('ZEONE_') || raw === undefined) continue
    if (name === 'ZEONE_TEST' || name === 'ZEONE_CONFIG') continue
    const segments = name.slice('ZEONE_'.length).split('__').filter((s) => s.length > 0).map(camel)
    if (segments.length === 0) continue
    setPath(out, segments, coerceValue(raw))
  }
  return out
}

/** Parses `--set a.b=value` assignments into a partial config. */
export function configFromAssignments(assignments: string[]): PlainObject {
  const out: PlainObject = {}
  for (const a of assignments) {
    const eq = a.indexOf('=')
    if (eq <= 0) throw new ConfigError('config_flag', `--set expects key.path=value, got '${a}'`)
    setPath(out, a.slice(0, eq).split('.'), coerceValue(a.slice(eq + 1)))
  }
  return out
}

function issuesOf(err: z.ZodError): ConfigIssue[] {
  const out: ConfigIssue[] = []
  for (const issue of err.issues) {
    const base = issue.path.map(String)
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push({ path: [...base, k].join('.'), message: 'unknown key' })
    } else {
      out.push({ path: base.join('.') || '(root)', message: issue.message })
    }
  }
  return out
}

/** Validates a merged raw config; throws ConfigError naming each bad key. */
export function validateConfig(raw: unknown, origin = 'config'): ZeoneConfig {
  const r = configSchema.safeParse(raw)
  if (r.success) return r.data
  const issues = issuesOf(r.error)
  const lines = issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')
  throw new ConfigError('config_invalid', `invalid ${origin}:\n${lines}`, issues)
}

/** Loads and validates the config from all sources (file < env < flags). */
export function loadConfig(sources: ConfigSources = {}): ZeoneConfig {
  const file = sources.file ? readConfigFile(sources.file) : undefined
  const env = configFromEnv(sources.env ?? {})
  return validateConfig(mergeConfig(file, env, sources.flags), sources.file ? `config (file ${sources.file}, env, flags)` : 'config (env, flags)')
}
