/**
 * The dashboard's snapshot: one JSON object with what the page shows, gathered from the services the layers
 * registered. It is built once per tick for every open stream, so it reads in-memory state only; the parts that
 * touch SQLite (cheques) or the chain are refreshed on their own slower cadence and served from a cache.
 */
import type { Endpoint, Link, LegacyLink } from '../../interfaces/link.js'
import type { NodeContext } from '../../interfaces/node-context.js'
import { addressClass } from '../../util/address-class.js'
import { toB64 } from '../../util/bytes.js'
// chain-view (and viem behind it) loads on the first chain read, so a node without a chain never loads it
import type { ProposalRow } from './chain-view.js'

/** Rows the page gets per list: enough for a screen, bounded so a node with many peers stays cheap. */
export const MAX_ROWS = 200
const MAX_CHEQUES = 20

export interface PeerRow {
  id: string
  address: string
  listen: string | null
  outbound: boolean
  version: number
  /**
   * What carries the link ('tcp', 'udx' after hole punching, 'turn', 'relay'; the transport's `peer.route`), or
   * 'v0' for a legacy link, '?' when the transport does not say. `wire` is the negotiated wire version; `net` the
   * class of the remote address (loopback, private, public, ...).
   */
  path: string
  wire: string
  net: string
  capabilities: string[]
  trust: { effective: number; blacklisted: boolean; events: number } | null
  /** What the peer owes us in micro-credits (negative: we owe it), as a decimal string; null without economy. */
  balance: string | null
}

export interface Snapshot {
  v: 1
  at: number
  node: { id: string; dhtId: string; listen: string | null; uptimeS: number; services: string[]; nat: string | null }
  peerCount: number
  peers: PeerRow[]
  dht: { size: number; buckets: Array<{ bucket: number; size: number; replacements: number }>; storedKeys: number } | null
  transfers: Array<{ job: string; id: string; state: string; bytesDone: number; bytesTotal: number; rate: number; error?: string }> | null
  economy: { unit: string; debtLimit: string; owedToUs: string; weOwe: string; cheques: Array<{ direction: string; peer: string; amount: string; status: string }> } | null
  chain: { chainId: number; stakeWei: string | null; params: Record<string, string> | null; proposals: ProposalRow[] | null } | null
  vpn: {
    pinned: string | null; openStreams: number
    exits: Array<{ id: string; source: string; region: string | null; pricePerMiB: string | null; rttMs: number | null; usable: boolean }>
    exit: { streams: number; opened: number } | null
  } | null
  cortex: { models: Array<{ id: string; start: number; end: number; layers: number }>; stages: Array<{ model: string; start: number; end: number; sessions: number; capacity: number }> } | null
}

const ep = (e: Endpoint | undefined): string | null => (e ? `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}` : null)
const s = (v: unknown): string => (typeof v === 'bigint' ? v.toString() : String(v))

/** What the snapshot reads besides the context: the legacy links (not in ctx.links) and the start time. */
export interface SnapshotSources {
  ctx: NodeContext
  startedAt: number
  legacyLinks?: () => LegacyLink[]
  now?: () => number
}

export class SnapshotBuilder {
  #src: SnapshotSources
  #now: () => number
  #cheques: { at: number; rows: NonNullable<Snapshot['economy']>['cheques'] } = { at: -Infinity, rows: [] }
  #chain: { stakeWei: string | null; proposals: ProposalRow[] | null; pending: boolean; at: number } = { stakeWei: null, proposals: null, pending: false, at: -Infinity }
  /** How long the SQLite and chain reads are reused. */
  slowRefreshMs = 5_000

  constructor(src: SnapshotSources) {
    this.#src = src
    this.#now = src.now ?? Date.now
  }

  build(): Snapshot {
    const { ctx } = this.#src
    const now = this.#now()
    const svc = ctx.services
    const eco = svc.get('economy')
    const links: Array<Link | LegacyLink> = [...ctx.links.links(), ...(this.#src.legacyLinks?.() ?? [])].filter((l) => !l.closed)
    const peers: PeerRow[] = []
    let owedToUs = 0n, weOwe = 0n
    for (const l of links) {
      const p = l.peer
      let trust: PeerRow['trust'] = null
      let balance: string | null = null
      if (eco) {
        const t = eco.trust.view(p.nodeId)
        trust = { effective: +t.effective.toFixed(4), blacklisted: t.blacklisted, events: t.events }
        const b = eco.owed(p.nodeId)
        if (b > 0n) owedToUs += b
        else weOwe -= b
        balance = b.toString()
      }
      if (peers.length < MAX_ROWS) {
        peers.push({
          id: p.nodeIdB64, address: ep(p.remoteAddr) ?? '', listen: ep(p.listenAddr), outbound: p.outbound, version: p.version,
          path: p.route?.via ?? (p.version === 0 ? 'v0' : '?'), wire: `v${p.version}`, net: addressClass(p.remoteAddr.host), capabilities: [...p.capabilities].sort(), trust, balance,
        })
      }
    }
    const dht = svc.get('dht')
    const content = svc.get('content')
    const cortex = svc.get('cortex')
    const nat = svc.get('nat')
    const chain = svc.get('chain')
    const router = svc.get('serviceRouter')
    const behavior = nat?.behavior
    const vpn = svc.get('vpnClient')
    const vpnExit = svc.get('vpnExit')
    return {
      v: 1, at: now,
      node: {
        id: ctx.identity.nodeIdB64, dhtId: Buffer.from(ctx.identity.dhtId).toString('hex'), listen: null,
        uptimeS: Math.round((now - this.#src.startedAt) / 1000), services: router ? router.names().slice(0, MAX_ROWS) : [],
        nat: behavior ? `${behavior.mapping}/${behavior.filtering}` : null,
      },
      peerCount: links.length,
      peers,
      dht: dht ? { size: dht.table.size, buckets: dht.table.summary(), storedKeys: dht.store.keyCount } : null,
      transfers: content ? content.jobs().slice(-MAX_ROWS).map((j) => ({
        job: j.job, id: j.id, state: j.state, bytesDone: j.progress?.bytesDone ?? 0, bytesTotal: j.progress?.bytesTotal ?? 0,
        rate: Math.round(j.progress?.rate ?? 0), ...(j.error ? { error: j.error.message } : {}),
      })) : null,
      economy: eco ? { unit: 'micro-credits', debtLimit: s(eco.debtLimit), owedToUs: s(owedToUs), weOwe: s(weOwe), cheques: this.#chequeRows(now) } : null,
      chain: chain ? { chainId: chain.client.dep.chainId, ...this.#chainReads(now), params: paramsOf(chain.params()) } : null,
      vpn: vpn ? {
        pinned: vpn.pinned ?? null, openStreams: vpn.openStreams,
        exits: vpn.exits().slice(0, MAX_ROWS).map((e) => ({
          id: toB64(e.nodeId), source: e.source, region: e.ann?.region ?? null, pricePerMiB: e.ann ? s(e.ann.pricePerMiB) : null,
          rttMs: e.rttMs === undefined ? null : Math.round(e.rttMs), usable: e.excluded === undefined && e.deadUntil <= now,
        })),
        exit: vpnExit ? { streams: vpnExit.streams, opened: vpnExit.counts.opened } : null,
      } : null,
      cortex: cortex ? {
        models: cortex.models().slice(0, MAX_ROWS),
        stages: cortex.init.stages.slice(0, MAX_ROWS).map((st) => { const i = st.server.info(); return { model: i.model, start: i.start, end: i.end, sessions: i.sessions, capacity: i.capacity } }),
      } : null,
    }
  }

  /** Held cheques, newest first, re-read from the ledger at most every slowRefreshMs. */
  #chequeRows(now: number): NonNullable<Snapshot['economy']>['cheques'] {
    const eco = this.#src.ctx.services.get('economy')
    if (!eco || eco.store.closed || now - this.#cheques.at < this.slowRefreshMs) return this.#cheques.rows
    const self = toB64(this.#src.ctx.identity.publicKey)
    const rows = eco.store.listCheques().slice(0, MAX_CHEQUES).map((c) => {
      const out = toB64(c.debtor) === self
      return { direction: out ? 'out' : 'in', peer: toB64(out ? c.creditor : c.debtor), amount: s(c.amount), status: String(c.status) }
    })
    this.#cheques = { at: now, rows }
    return rows
  }

  /** Our bonded stake and the latest proposals, read from the chain in the background; the last values until the next. */
  #chainReads(now: number): { stakeWei: string | null; proposals: ProposalRow[] | null } {
    const chain = this.#src.ctx.services.get('chain')
    const c = this.#chain
    if (chain && !c.pending && now - c.at >= this.slowRefreshMs) {
      c.pending = true
      c.at = now
      const id = this.#src.ctx.identity.publicKey
      void Promise.all([
        chain.client.stakeOf(id).then((v) => { c.stakeWei = v.toString() }),
        import('./chain-view.js').then((m) => m.recentProposals(chain.client)).then((p) => { c.proposals = p }),
      ]).catch(() => { /* chain unreachable: keep the last values */ }).finally(() => { c.pending = false })
    }
    return { stakeWei: c.stakeWei, proposals: c.proposals }
  }
}

/** Governed parameters as strings (bigints do not survive JSON). */
function paramsOf(p: object | undefined): Record<string, string> | null {
  if (!p) return null
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(p)) if (typeof v !== 'object' || v === null) out[k] = s(v)
  return out
}
