/**
 * Network parameters for a running node (docs/protocol/params.md), attached by the economy layer:
 *  - with chain access (the `chain` handle): reads the Params contract at its canonical block and, when this node is
 *    staked, publishes the snapshot as its params DHT record (the DHT re-signs and republishes it hourly);
 *  - without: looks the params key up in the DHT, accepts a snapshot only through ParamsAgreement (quorum of
 *    distinct eligible publishers, newest block, no rollback, persisted across restarts) and applies it live to the
 *    economy (fees, debt limit, trust floor) exactly as a chain node applies its own reads.
 * Either way the `params` service tells other layers what is in force and when it changes.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Counter, Gauge } from 'prom-client'
import { staticPuzzleBits, writeFileAtomic } from '../../crypto/identity.js'
import { sha1 } from '../../crypto/hash.js'
import type { Dht } from '../../dht/dht.js'
import type { SignedRecord } from '../../dht/record.js'
import { subnetOf } from '../../dht/routing-table.js'
import type { NodeContext, Stoppable } from '../../interfaces/node-context.js'
import type { ChainConfig } from './config.js'
import { fromHex, toHex } from '../../util/bytes.js'
import type { Economy } from '../economy.js'
import type { ChainHandle } from './attach-chain.js'
import { governedEconomy } from './governed.js'
import { ParamsAgreement, type Accepted, type Decision } from './params-agree.js'
import { decodeParamsRecord, encodeParamsRecord, paramsKey, snapshotDigest, type ParamsRecord, type ParamsSnapshot } from './params-record.js'

declare module '../../interfaces/node-context.js' {
  interface ServiceMap {
    /** economy: the governed network parameters in force (from our chain reads, or agreed through the DHT). */
    params: ParamsHandle
  }
}

export const PARAMS_STATE_FILE = 'params-state.json'
/** The first round (publish or look up) waits this long for the DHT to join. */
const FIRST_ROUND_MS = 5000

export interface InForce { source: 'chain' | 'network'; snapshot: ParamsSnapshot; digest: string }

export interface ParamsHandle extends Stoppable {
  readonly source: 'chain' | 'network'
  current(): InForce | undefined
  /** Called whenever the parameters in force move to a newer snapshot. */
  onChange(cb: (p: InForce) => void): () => void
  /** One round now (chain: read and publish; network: look up and agree). Never throws. */
  poll(): Promise<Decision | undefined>
  /** Whether the snapshot in force whitelists keccak256(UTF-8 model id); false when none is in force. */
  modelAllowed(modelHash: Uint8Array): boolean
}

export interface ParamsSyncDeps { economy: Economy; chain: ChainHandle | undefined; dht: Dht }

export function attachParamsSync(ctx: NodeContext<{ chain: ChainConfig }>, deps: ParamsSyncDeps): ParamsHandle {
  const cfg = ctx.config.chain.paramsSync
  const log = ctx.logger
  const minStake = BigInt(cfg.minStakeWei)
  const listeners = new Set<(p: InForce) => void>()
  const blockGauge = new Gauge({ name: 'zeone_params_block', help: 'Block of the governed parameters in force (source: chain = read by this node, network = agreed through the DHT)', labelNames: ['source'] as const, registers: [ctx.metrics] })
  const refusedTotal = new Counter({ name: 'zeone_params_refused_total', help: 'Params DHT records that did not count toward agreement, by reason', labelNames: ['reason'] as const, registers: [ctx.metrics] })
  let inForce: InForce | undefined
  let stopped = false
  // storing nodes keep only well-formed params records for our chain under the params key
  const chainId = deps.chain ? deps.chain.client.dep.chainId : ctx.config.chain.chainId
  const key = paramsKey(chainId)
  deps.dht.setValidator(key, paramsValidator(chainId))
  const setInForce = (p: InForce): void => {
    inForce = p
    blockGauge.set({ source: p.source }, p.snapshot.blockNumber)
    for (const cb of listeners) {
      try { cb(p) } catch (err) { log.warn({ err: (err as Error).message }, 'params: a listener failed') }
    }
  }
  const apply = (s: ParamsSnapshot): void => {
    try { deps.economy.applyGoverned(governedEconomy(s.values)) } catch (err) { log.warn({ err: (err as Error).message }, 'params: agreed parameters not applied') }
  }

  let round: () => Promise<Decision | undefined>
  if (deps.chain) {
    const chain = deps.chain
    // loaded only with chain access: the reader speaks viem
    const pub = import('./params-publish.js')
    let reader: import('./params-publish.js').ParamsReader | undefined
    let published: string | undefined
    let warnedUnstaked = false
    round = async () => {
      try {
        const m = await pub
        reader ??= new m.ParamsReader(chain.client, cfg.confirmations)
        const snapshot = await reader.read()
        if (!snapshot || stopped) return undefined
        const digest = snapshotDigest(snapshot)
        if (inForce?.digest !== digest) setInForce({ source: 'chain', snapshot, digest })
        if (published === digest) return undefined
        const claim = await m.ownClaim(chain.client, ctx.identity.publicKey)
        if (!claim || claim.stakeWei < minStake) {
          if (!warnedUnstaked) log.info({ minStakeWei: cfg.minStakeWei }, 'params: this node is not staked (or not bound): it reads the parameters but does not publish them')
          warnedUnstaked = true
          if (published !== undefined) { deps.dht.unpublish(key); published = undefined }
          return undefined
        }
        const put = await deps.dht.put(key, encodeParamsRecord({ snapshot, claim }))
        // stored nowhere yet (the DHT is still joining): try again on the next round, not only at the hourly republish
        if (put.stored > 0) published = digest
        log.info({ block: snapshot.blockNumber, storedOn: put.stored }, 'params: published the governed parameters to the DHT')
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'params: cannot read or publish the governed parameters')
      }
      return undefined
    }
  } else {
    const eligible = eligibility(deps.dht, cfg.anchors, minStake)
    const statePath = join(ctx.dataDir, PARAMS_STATE_FILE)
    const restored = restoreState(statePath, ctx.config.chain.chainId, (err) => log.warn({ err }, 'params: saved state unreadable; following the network from scratch'))
    const agreement = new ParamsAgreement({
      quorum: cfg.quorum, chainId: ctx.config.chain.chainId, eligible, nowSec: () => Math.floor(Date.now() / 1000),
      ...(restored ? { accepted: restored } : {}),
    })
    if (restored) { apply(restored.snapshot); setInForce({ source: 'network', snapshot: restored.snapshot, digest: restored.digest }) }
    round = async (): Promise<Decision | undefined> => {
      try {
        const records = await deps.dht.getAll(key)
        if (stopped) return undefined
        const d = agreement.consider(records, key)
        for (const reason of d.refused.values()) refusedTotal.inc({ reason })
        if (d.accepted) {
          try { saveState(statePath, d.accepted) } catch (err) { log.warn({ err: (err as Error).message }, 'params: cannot save the agreed parameters (a restart would not remember them)') }
          apply(d.accepted.snapshot)
          setInForce({ source: 'network', snapshot: d.accepted.snapshot, digest: d.accepted.digest })
          log.info({ block: d.accepted.snapshot.blockNumber, supporters: d.accepted.supporters.length }, 'params: following the network parameters agreed by a quorum')
        }
        return d
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'params: cannot look up the network parameters')
        return undefined
      }
    }
  }
  // one round at a time: a slow lookup or chain read is joined, not doubled
  let running: Promise<Decision | undefined> | undefined
  const poll = (): Promise<Decision | undefined> => (running ??= round().finally(() => { running = undefined }))

  const first = setTimeout(() => { void poll() }, FIRST_ROUND_MS)
  const timer = setInterval(() => { void poll() }, (deps.chain ? ctx.config.chain.paramsRefreshSec : cfg.followSec) * 1000)
  first.unref(); timer.unref()
  const handle: ParamsHandle = {
    source: deps.chain ? 'chain' : 'network',
    current: () => inForce,
    onChange(cb) { listeners.add(cb); return () => { listeners.delete(cb) } },
    poll: () => poll(),
    modelAllowed: (h) => inForce?.snapshot.models.some((m) => Buffer.compare(m, h) === 0) ?? false,
    stop() { stopped = true; clearTimeout(first); clearInterval(timer); listeners.clear() },
  }
  ctx.services.provide('params', handle)
  return handle
}

/** The STORE check for the params key: only well-formed records for our chain are kept. */
export function paramsValidator(chainId: number): (r: SignedRecord) => string | undefined {
  return (r) => {
    try { return decodeParamsRecord(r.value).snapshot.chainId === chainId ? undefined : 'wrong_chain' } catch { return 'malformed' }
  }
}

/**
 * Who may vote for a follower without chain access, and in which diversity group (params.md §Trust model).
 * Anchors set: exactly those node ids, one group each. Otherwise (open mode): an id that solves the S/Kademlia static
 * puzzle, a record that claims at least `minStake`, and a contact in our routing table (its address proven by a
 * handshake and a dynamic puzzle); its group is its /24 (/48) subnet, so one network's many ids count once.
 */
export function eligibility(dht: Pick<Dht, 'config' | 'table'>, anchorIds: readonly string[], minStake: bigint): (publisher: Uint8Array, rec: ParamsRecord) => string | undefined {
  const anchors = new Set(anchorIds.map((a) => a.toLowerCase()))
  return (publisher, rec) => {
    const hex = toHex(publisher)
    if (anchors.size > 0) return anchors.has(hex) ? `anchor:${hex}` : undefined
    if (staticPuzzleBits(publisher) < dht.config.staticPuzzleBits) return undefined
    if (!rec.claim || rec.claim.stakeWei < minStake) return undefined
    const c = dht.table.get(toHex(sha1(publisher)))
    if (!c) return undefined
    // loopback is exempt from subnet limits (one machine's test network): there each node is its own group
    return subnetOf(c.addr.host) ?? `local:${c.addr.host}:${c.addr.port}`
  }
}

function saveState(path: string, a: Accepted): void {
  writeFileAtomic(path, new TextEncoder().encode(`${JSON.stringify({ record: toHex(encodeParamsRecord({ snapshot: a.snapshot })), digest: a.digest })}\n`), 0o600)
}

/** The last agreed snapshot, if the file holds a valid one for this chain (the digest is recomputed, not trusted). */
function restoreState(path: string, chainId: number, warn: (err: string) => void): Accepted | undefined {
  let text: string
  try { text = readFileSync(path, 'utf8') } catch { return undefined }
  try {
    const o = JSON.parse(text) as { record?: unknown }
    if (typeof o.record !== 'string' || o.record.length > 16_384) throw new Error('no record')
    const { snapshot } = decodeParamsRecord(fromHex(o.record))
    if (snapshot.chainId !== chainId) throw new Error(`saved for chain ${snapshot.chainId}`)
    return { snapshot, digest: snapshotDigest(snapshot), supporters: [] }
  } catch (err) {
    warn((err as Error).message)
    return undefined
  }
}
