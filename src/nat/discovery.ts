/**
 * NAT behaviour discovery (RFC 5780 §4.3, §4.4) from ONE local socket, so the mapping seen by the tests is the one
 * the node will punch with. `classifyMapping`/`classifyFiltering` are pure; `discoverNat` drives a StunClient.
 */
import { networkInterfaces } from 'node:os'
import type { Rinfo } from './socket.js'
import { encodeChangeRequest, Attr, type StunAddress } from './stun/codec.js'
import type { BindingResult, StunClient } from './stun/client.js'

export type MappingBehavior = 'none' | 'endpoint-independent' | 'address-dependent' | 'address-port-dependent' | 'unknown'
export type FilteringBehavior = 'endpoint-independent' | 'address-dependent' | 'address-port-dependent' | 'unknown'

export interface NatBehavior {
  mapping: MappingBehavior
  filtering: FilteringBehavior
  /** Server-reflexive address seen by the primary server address. */
  publicAddr: Rinfo
}

const same = (a?: StunAddress, b?: StunAddress): boolean => !!a && !!b && a.host === b.host && a.port === b.port

/**
 * Test I mapped address `m1`, test II (alternate IP, primary port) `m2`, test III (alternate IP and port) `m3`.
 * `isLocal` tells whether `m1` is one of our own addresses (no NAT).
 */
export function classifyMapping(m1: StunAddress, m2: StunAddress | undefined, m3: StunAddress | undefined, isLocal: boolean): MappingBehavior {
  if (isLocal) return 'none'
  if (!m2) return 'unknown'
  if (same(m1, m2)) return 'endpoint-independent'
  if (!m3) return 'unknown'
  return same(m2, m3) ? 'address-dependent' : 'address-port-dependent'
}

/** `changedBoth`: a reply to CHANGE-REQUEST(ip+port) arrived; `changedPort`: one to CHANGE-REQUEST(port) arrived. */
export function classifyFiltering(haveAlternate: boolean, changedBoth: boolean, changedPort: boolean): FilteringBehavior {
  if (!haveAlternate) return 'unknown'
  if (changedBoth) return 'endpoint-independent'
  return changedPort ? 'address-dependent' : 'address-port-dependent'
}

export interface DiscoverOptions {
  /** Our own addresses, for the "no NAT" case. @default every address of the local interfaces */
  localHosts?: string[]
  localPort: number
  signal?: AbortSignal
}

const ok = async (p: Promise<BindingResult>): Promise<BindingResult | undefined> => {
  try { return await p } catch { return undefined }
}

/** Runs the RFC 5780 tests against `server` (which must report OTHER-ADDRESS for a full answer). */
export async function discoverNat(client: StunClient, server: Rinfo, opts: DiscoverOptions): Promise<NatBehavior> {
  const sig = opts.signal ? { signal: opts.signal } : {}
  const t1 = await client.binding(server, sig)
  const m1 = t1.mapped
  const localHosts = opts.localHosts ?? Object.values(networkInterfaces()).flat().map((i) => i?.address ?? '')
  const isLocal = m1.port === opts.localPort && localHosts.includes(m1.host)
  const other = t1.otherAddress
  const publicAddr = { host: m1.host, port: m1.port }
  if (!other) return { mapping: isLocal ? 'none' : 'unknown', filtering: 'unknown', publicAddr }
  // Filtering tests first: once we have sent to the alternate address, its replies would pass any NAT filter.
  const changeBoth = { attrs: [{ type: Attr.CHANGE_REQUEST, value: encodeChangeRequest(true, true) }], ...sig }
  const changePort = { attrs: [{ type: Attr.CHANGE_REQUEST, value: encodeChangeRequest(false, true) }], ...sig }
  const [f2, f3] = await Promise.all([ok(client.binding(server, changeBoth)), ok(client.binding(server, changePort))])
  const [t2, t3] = isLocal ? [] : await Promise.all([
    ok(client.binding({ host: other.host, port: server.port }, sig)),
    ok(client.binding({ host: other.host, port: other.port }, sig)),
  ])
  return {
    mapping: classifyMapping(m1, t2?.mapped, t3?.mapped, isLocal),
    filtering: classifyFiltering(true, !!f2, !!f3),
    publicAddr,
  }
}
