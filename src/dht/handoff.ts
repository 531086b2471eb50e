/**
 * Replication hand-off to a newly added contact (sans-I/O part): for each stored key, should the newcomer get it?
 * Only when it is one of the s closest nodes to the key that we know, and we are one of them too (a sibling hands
 * off; a far node that merely cached the key does not). One pass over the table per key, no sort.
 */
import type { Contact } from './contact.js'
import { compareDistance } from './id.js'

export function shouldHandOff(key: Uint8Array, selfId: Uint8Array, c: Contact, known: readonly Contact[], s: number): boolean {
  let closerThanC = 0
  // c counts against us: it is in the table now
  let closerThanSelf = compareDistance(c.dhtId, selfId, key) < 0 ? 1 : 0
  for (const x of known) {
    if (x.idHex === c.idHex) continue
    if (compareDistance(x.dhtId, c.dhtId, key) < 0) closerThanC++
    if (compareDistance(x.dhtId, selfId, key) < 0) closerThanSelf++
    if (closerThanC >= s || closerThanSelf >= s) return false
  }
  return true
}
