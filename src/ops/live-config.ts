/**
 * Which config keys a running node really applies on reload. Every layer reads its config when it attaches, so a
 * changed key takes effect live only where something re-reads it; every other change is held back (the running
 * value stays in the node's config, so what `config` shows is what runs) and logged as needing a restart.
 */
import type { ZeoneConfig } from './config-schema.js'

/** Keys (dotted paths, or a prefix ending in '.') that the node applies without a restart. */
export const LIVE_KEYS: readonly string[] = [
  'ops.logLevel', // the node sets its logger's level on reload
]

export interface ConfigDiff {
  /** the config the node now runs with: the new one, with restart-only keys kept at their running values */
  effective: ZeoneConfig
  live: string[]
  restartRequired: string[]
}

/** Whether `path` is one of `keys` (exact, or under a prefix ending in '.'). */
export const matchesKey = (keys: readonly string[], path: string): boolean => keys.some((k) => (k.endsWith('.') ? path.startsWith(k) : path === k))
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Leaf paths whose values differ (arrays compare as one value). */
export function changedPaths(a: unknown, b: unknown, prefix = ''): string[] {
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)])
    return [...keys].sort().flatMap((k) => changedPaths(a[k], b[k], prefix ? `${prefix}.${k}` : k))
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix]
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.')
  let o = target
  for (const p of parts.slice(0, -1)) {
    if (!isObject(o[p])) o[p] = {}
    o = o[p] as Record<string, unknown>
  }
  const last = parts.at(-1)!
  if (value === undefined) delete o[last]
  else o[last] = value
}

function getPath(source: unknown, path: string): unknown {
  let o = source
  for (const p of path.split('.')) o = isObject(o) ? o[p] : undefined
  return o
}

/** Splits a reload into keys applied live (the node's own plus `layerKeys`, what attached layers declare) and keys
 *  held at their running values until a restart. */
export function diffConfig(running: ZeoneConfig, next: ZeoneConfig, layerKeys: readonly string[] = []): ConfigDiff {
  const keys = [...LIVE_KEYS, ...layerKeys]
  const isLive = (p: string): boolean => matchesKey(keys, p)
  const changed = changedPaths(running, next)
  const live = changed.filter(isLive)
  const restartRequired = changed.filter((p) => !isLive(p))
  const effective = structuredClone(next) as unknown as Record<string, unknown>
  for (const p of restartRequired) setPath(effective, p, structuredClone(getPath(running, p)))
  return { effective: effective as unknown as ZeoneConfig, live, restartRequired }
}
