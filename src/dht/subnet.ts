/** Subnet diversity groups for the routing table's limits (routing-table.ts). */
import { ipv6Groups } from '../util/address-class.js'

/**
 * The diversity group of a contact's host, or undefined for loopback (127/8, ::1, localhost: exempt, one machine's
 * test networks). IPv4 /24; IPv6 /48 (one site's usual allocation, the transport's session caps use the same; an
 * IPv4-mapped address counts as its IPv4); a name by its last two labels, so a wildcard domain does not give an
 * attacker unlimited groups.
 */
export function subnetOf(host: string): string | undefined {
  let h = host.trim().toLowerCase()
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1)
  const zone = h.indexOf('%')
  if (zone >= 0) h = h.slice(0, zone)
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}$/.exec(h)
  if (v4) return v4[1] === '127' ? undefined : `${Number(v4[1])}.${Number(v4[2])}.${Number(v4[3])}`
  const g = ipv6Groups(h)
  if (g) {
    if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return undefined
    if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return subnetOf(`${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`)
    return `v6:${g.slice(0, 3).map((x) => x.toString(16)).join(':')}`
  }
  const name = h.replace(/\.+$/, '')
  if (name === 'localhost' || name.endsWith('.localhost')) return undefined
  return `name:${name.split('.').slice(-2).join('.')}`
}
