/**
 * Issue 24 item 3: a 16 MiB content fetch over a punched UDX link vs the same fetch over a TCP link (TCP simultaneous
 * open through the same NATs), with loss and delay on both NAT uplinks, in one run.
 *
 * Impairment: `tc ... netem` is not available on this kernel (CONFIG_NET_SCH_NETEM is not set; `tc qdisc add dev lo
 * root netem delay 10ms loss 2%` answers "Specified qdisc kind is unknown"; there is no modprobe or modules tree). The
 * lab puts a userspace hop on each NAT router instead (NatLab.impair, test/nat/impair.py): every forwarded packet goes
 * through a TUN device where what leaves the LAN is dropped with a seeded 2% probability and delayed 80 ms (so each
 * direction between the hosts sees one impaired uplink: +80 ms one way, 160 ms added RTT, ~2% loss per direction).
 */
import type { Agent, NatLab } from '../test/nat/lab.js'
import { UDX_QUEUE_BYTES } from '../src/transport/stream-adapter.js'

export interface LossyResult {
  impairment: string
  bytes: number
  udx: { method: string; fetch_ms: number; MBps: number }[]
  tcp: { method: string; fetch_ms: number; MBps: number }[]
  udx_vs_tcp: number
  /** With compareQueue: the same fetch with a UDX queue budget (stream-adapter.ts UDX_QUEUE_BYTES). */
  udx_queue_budget?: { method: string; fetch_ms: number; MBps: number }[]
  udx_queue_budget_vs_tcp?: number
}

const round = (x: number): number => Math.round(x * 100) / 100

export async function lossyFetch(lab: NatLab, a: Agent, b: Agent, boot: { node: Record<string, unknown>; nat: Record<string, unknown> }, o: {
  lossPct: number; delayMs: number; mib: number; rounds: number; log: (s: string) => void; compareQueue?: boolean
}): Promise<LossyResult> {
  lab.nat('A', 'cone'); lab.nat('B', 'cone')
  const hops = [await lab.impair('A', { lossPct: o.lossPct, delayMs: o.delayMs, seed: 24 }), await lab.impair('B', { lossPct: o.lossPct, delayMs: o.delayMs, seed: 42 })]
  const bytes = o.mib * 1024 * 1024
  const udx: LossyResult['udx'] = []
  const udxBudget: LossyResult['udx'] = []
  const tcp: LossyResult['tcp'] = []
  try {
    const once = async (kind: 'udx' | 'tcp', queue?: number): Promise<void> => {
      lab.nat('A', 'cone'); lab.nat('B', 'cone')
      if (queue !== undefined) await Promise.all([a.call('udx-queue', { bytes: queue }), b.call('udx-queue', { bytes: queue })])
      if (kind === 'tcp') lab.blockUdpBetweenNats('A') // UDP between the hosts dropped: the link is TCP simultaneous open
      const [, nb] = await Promise.all([a.call('node-start', { config: boot, links: 1 }, 120_000), b.call('node-start', { config: boot, links: 1 }, 120_000)])
      const c = await a.call('node-connect', { nodeId: nb.nodeId, bytes: 100 }, 120_000)
      const pub = await b.call('content-publish', { mib: o.mib }, 120_000)
      const f = await a.call('content-fetch', { cid: pub.cid, nodeId: nb.nodeId }, 600_000)
      if (f.sha !== pub.sha) throw new Error(`${kind} fetch: bytes differ`)
      const r = { method: c.method as string, fetch_ms: Math.round(f.ms as number), MBps: round(bytes / 1e6 / ((f.ms as number) / 1000)) }
      o.log(`lossy ${kind}${queue ? ` queue ${queue}` : ''}: ${JSON.stringify(r)}\n`)
      if (queue === UDX_QUEUE_BYTES) udxBudget.push(r)
      else (kind === 'udx' ? udx : tcp).push(r)
    }
    // interleaved, so a change in machine load falls on all; o.compareQueue adds a UDX writer with a queue budget
    // (stream-adapter.ts UDX_QUEUE_BYTES instead of waiting for 'drain' after every write that returned false)
    for (let i = 0; i < o.rounds; i++) {
      await once('udx', o.compareQueue ? 0 : undefined)
      if (o.compareQueue) await once('udx', UDX_QUEUE_BYTES)
      await once('tcp')
    }
    if (o.compareQueue) await Promise.all([a.call('udx-queue', { bytes: 0 }), b.call('udx-queue', { bytes: 0 })])
  } finally {
    for (const h of hops) h.kill('SIGKILL')
    lab.unimpair('A'); lab.unimpair('B')
    lab.nat('A', 'cone'); lab.nat('B', 'cone')
  }
  const mean = (xs: { MBps: number }[]): number => xs.reduce((s, x) => s + x.MBps, 0) / Math.max(1, xs.length)
  return {
    impairment: `userspace TUN hop on each NAT uplink (netem missing): ${o.lossPct}% loss (seeded) + ${o.delayMs} ms delay`,
    bytes, udx, tcp, udx_vs_tcp: round(mean(udx) / mean(tcp)),
    ...(udxBudget.length > 0 ? { udx_queue_budget: udxBudget, udx_queue_budget_vs_tcp: round(mean(udxBudget) / mean(tcp)) } : {}),
  }
}
