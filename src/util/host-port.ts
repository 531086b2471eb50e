/**
 * The one parser of `host:port` strings (config entries, CLI arguments): `[v6]:port`, `v4:port` or `name:port`.
 * A bare IPv6 address without brackets is refused (its last group would be read as the port), as is a port outside
 * 1-65535 (0 too, unless `allowAnyPort` for "bind to any port").
 */
import { InvalidInputError } from './errors.js'

export interface HostPort { host: string; port: number }

const BRACKETED = /^\[([0-9a-fA-F:.]+(?:%[\w.-]+)?)\]:(\d{1,5})$/
const PLAIN = /^([^\s:/[\]@]+):(\d{1,5})$/

export function parseHostPort(s: string, opts: { allowAnyPort?: boolean; what?: string } = {}): HostPort {
  const m = BRACKETED.exec(s) ?? PLAIN.exec(s)
  const port = m ? Number(m[2]) : NaN
  const min = opts.allowAnyPort ? 0 : 1
  if (!m || !(port >= min && port <= 65535)) {
    const hint = s.split(':').length > 2 && !s.startsWith('[') ? ' (write an IPv6 address in brackets: [::1]:8468)' : ''
    throw new InvalidInputError('bad_address', `${opts.what ?? 'address'}: expected host:port, got '${s.slice(0, 100)}'${hint}`)
  }
  return { host: m[1]!, port }
}

/** `host:port` for display and config, brackets around IPv6. */
export function formatHostPort(e: HostPort): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`
}
