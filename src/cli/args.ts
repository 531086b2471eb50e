/**
 * A tiny argument parser: `--flag value`, `--flag=value`, `--flag` (true when the next word is another flag or
 * absent), `--no-flag` (false), repeated flags collect into arrays, `--` ends flags. Flags named in `booleans` never
 * take a value.
 */
import type { ParsedArgs } from './command.js'

export function parseArgs(argv: string[], booleans: ReadonlySet<string> = new Set()): ParsedArgs {
  const positionals: string[] = []
  const flags: ParsedArgs['flags'] = {}
  const put = (name: string, value: string | boolean): void => {
    const prev = flags[name]
    if (prev === undefined) flags[name] = value
    else if (Array.isArray(prev)) prev.push(String(value))
    else flags[name] = [String(prev), String(value)]
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') { positionals.push(...argv.slice(i + 1)); break }
    if (!a.startsWith('--') || a.length === 2) { positionals.push(a); continue }
    const body = a.slice(2)
    const eq = body.indexOf('=')
    if (eq >= 0) { put(body.slice(0, eq), body.slice(eq + 1)); continue }
    if (body.startsWith('no-') && !booleans.has(body)) { put(body.slice(3), false); continue }
    const next = argv[i + 1]
    if (booleans.has(body) || next === undefined || next.startsWith('--')) { put(body, true); continue }
    put(body, next)
    i++
  }
  return { positionals, flags }
}

/** The last value of a flag as a string (undefined if absent or boolean). */
export function flagString(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name]
  const last = Array.isArray(v) ? v[v.length - 1] : v
  return typeof last === 'string' ? last : undefined
}

/** Every value of a repeatable flag. */
export function flagList(args: ParsedArgs, name: string): string[] {
  const v = args.flags[name]
  if (v === undefined || typeof v === 'boolean') return []
  return Array.isArray(v) ? v : [v]
}

export function flagBool(args: ParsedArgs, name: string): boolean | undefined {
  const v = args.flags[name]
  if (typeof v === 'boolean') return v
  if (v === 'true') return true
  if (v === 'false') return false
  return undefined
}
