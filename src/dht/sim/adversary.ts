/**
 * How the simulator's adversaries answer DHT requests (honest nodes answer with `Dht.handleRequest`). Every kind
 * passes the puzzles and the handshake (it is a real identity); all but `drop` answer every lookup with the
 * colluders closest to the target (routing eclipse) and ack STOREs without keeping them.
 *
 * - drop: accepts connections, never answers.
 * - collude: only the routing lie.
 * - forge: plus a record claiming the real publisher with a huge seq and a made-up signature (fails verification).
 * - own: plus a record under the key that it validly signed itself (huge seq): a competing value for the key.
 * - rollback: plus the publisher's older, validly signed record (a replay of an old seq; it also STOREs it around).
 * - eclipse: the routing lie from ids ground to sit next to the target keys (placed by the scenario).
 */
import { toHex } from '../../util/bytes.js'
import type { Contact } from '../contact.js'
import { compareDistance } from '../id.js'
import { ackTypeFor, decodeMessage, encodeMessage, type DhtMessage } from '../messages.js'
import { signRecord, type SignedRecord } from '../record.js'
import type { SimNode, SimWorld } from './world.js'

export type Behaviour = 'honest' | 'drop' | 'collude' | 'forge' | 'own' | 'rollback' | 'eclipse'

export const ADVERSARY_KINDS: readonly Behaviour[] = ['drop', 'collude', 'forge', 'own', 'rollback', 'eclipse']

export interface AdversaryState {
  world: SimWorld
  /** Every lying adversary (not `drop`), sorted by id, for colluding answers. */
  sorted: SimNode[]
  /** Publisher of each key the scenario published (hex key -> public key). */
  publisherOf: Map<string, Uint8Array>
  /** The publisher's older record of each key, as rollback attackers replay it. */
  oldRecords: Map<string, SignedRecord>
  /** Records own-value attackers signed, per attacker and key. */
  ownCache: Map<string, SignedRecord>
}

const OWN_SEQ = 2 ** 40

export function answerAs(adv: AdversaryState, from: SimNode, to: SimNode, type: number, body: Uint8Array): { type: number; body: Uint8Array } | undefined {
  void from
  if (to.behaviour === 'drop') return undefined
  const dht = to.dht!
  const m = decodeMessage(type, body, dht.config.maxValueBytes)
  const x = dht.puzzle
  const target = targetOf(m)
  if (!target) return { type: ackTypeFor(type), body: encodeMessage({ t: 'ack', x, ok: true }).body }
  const nodes = colluders(adv, target, dht.config.k).map((c) => ({ nodeId: c.nodeId, addr: c.addr }))
  if (m.t === 'find_value') return encodeMessage({ t: 'nodes', x, nodes, records: recordsOf(adv, to, target) })
  if (m.t === 'get_providers') return encodeMessage({ t: 'nodes', x, nodes, providers: [] })
  return encodeMessage({ t: 'nodes', x, nodes })
}

function recordsOf(adv: AdversaryState, to: SimNode, key: Uint8Array): SignedRecord[] {
  const hex = toHex(key)
  const now = adv.world.clock.now()
  switch (to.behaviour) {
    case 'forge': {
      const publisher = adv.publisherOf.get(hex)
      if (!publisher) return []
      return [{ key, value: new TextEncoder().encode('forged value'), seq: OWN_SEQ, expires: now + 3_600_000, publisher, sig: new Uint8Array(64).fill(7) }]
    }
    case 'own': {
      const memo = `${to.idx}/${hex}`
      let r = adv.ownCache.get(memo)
      if (!r || r.expires <= now) {
        r = signRecord(to.identity, key, new TextEncoder().encode(`own value of attacker ${to.idx}`), OWN_SEQ, now + to.dht!.config.recordTtlMs)
        adv.ownCache.set(memo, r)
      }
      return [r]
    }
    case 'rollback': {
      const old = adv.oldRecords.get(hex)
      return old && old.expires > now ? [old] : []
    }
    default: return []
  }
}

/** The k lying adversaries closest to `target`. */
export function colluders(adv: AdversaryState, target: Uint8Array, k: number): Contact[] {
  const arr = adv.sorted
  if (arr.length === 0) return []
  let lo = 0, hi = arr.length
  while (lo < hi) { const m = (lo + hi) >> 1; if (Buffer.compare(arr[m]!.contact.dhtId, target) < 0) lo = m + 1; else hi = m }
  const win = arr.slice(Math.max(0, lo - 2 * k), lo + 2 * k).filter((n) => n.online).map((n) => n.contact)
  win.sort((a, b) => compareDistance(a.dhtId, b.dhtId, target))
  return win.slice(0, k)
}

function targetOf(m: DhtMessage): Uint8Array | undefined {
  if (m.t === 'find_node') return m.target
  if (m.t === 'find_value' || m.t === 'get_providers') return m.key
  return undefined
}
