/**
 * NAT traversal benchmark in a namespace lab (needs root, iptables; run with `npm run bench -- nat`).
 * Prints JSON: per NAT pair (matrix), the path chosen, time to a working link (signalling through a rendezvous +
 * punching + handshake; p50, max) and the rate of a content fetch over it; throughput over the punched path: the
 * encrypted ZEONE link and a content fetch vs bare udx-native (same lab, same run), a relayed link as a ratio of
 * direct; and (nat-lossy.ts) a UDX vs TCP fetch with 2% loss + 80 ms on the NAT uplinks.
 * Env: NAT_BENCH_RUNS (connects per pair, 3), NAT_BENCH_FETCH_MIB (16), NAT_BENCH_BYTES (bulk, 64 MiB),
 * NAT_BENCH_MATRIX=0 (skip the matrix), NAT_BENCH_LOSSY=0 (skip the lossy section), NAT_BENCH_LOSSY_ROUNDS (1),
 * NAT_BENCH_COMPARE_DRAIN=1 (also the fetches with a UDX writer queue budget, stream-adapter.ts, same run).
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { Agent, canRunLab, NatLab, startRendezvousLab, type NatMode } from '../test/nat/lab.js'
import { toHex } from '../src/util/bytes.js'
import { randomBytes } from '../src/crypto/sign.js'
import { lossyFetch } from './nat-lossy.js'
import { UDX_QUEUE_BYTES } from '../src/transport/stream-adapter.js'

const RUNS = Number(process.env.NAT_BENCH_RUNS ?? 3)
const FETCH_MIB = Number(process.env.NAT_BENCH_FETCH_MIB ?? 16)
/** NAT pairs of the matrix (A, B): cone = port-restricted cone, none = a host on a public address of its own; then two hosts behind one cone NAT. */
const PAIRS: Array<[NatMode, NatMode]> = [
  ['none', 'none'], ['none', 'cone'], ['none', 'full'], ['none', 'restricted'], ['none', 'symmetric'],
  ['cone', 'cone'], ['full', 'cone'], ['restricted', 'cone'], ['full', 'full'], ['restricted', 'restricted'],
  ['full', 'symmetric'], ['restricted', 'symmetric'], ['cone', 'symmetric'], ['symmetric', 'symmetric'],
]
const BULK = Number(process.env.NAT_BENCH_BYTES ?? 64 * 1024 * 1024)
const STUN = { host: '198.18.0.10', port: 3478 }

const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]! }
const round = (x: number): number => Math.round(x * 10) / 10
const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100

/** WebRTC data channel (node-datachannel, bench/peers/datachannel) between the two lab hosts; MB/s or a reason. */
async function webrtc(lab: NatLab, bytes: number): Promise<number | string> {
  const peerJs = 'bench/peers/datachannel/peer.mjs'
  if (!existsSync('bench/peers/datachannel/node_modules/node-datachannel')) return 'not installed (npm i in bench/peers/datachannel)'
  const procs = (['hostA', 'hostB'] as const).map((ns) => spawn('ip', ['netns', 'exec', lab.ns(ns), process.execPath, peerJs], { stdio: ['pipe', 'pipe', 'ignore'] }))
  const [pa, pb] = procs as [ReturnType<typeof spawn>, ReturnType<typeof spawn>]
  const send = (p: ReturnType<typeof spawn>, m: object): void => { p.stdin!.write(JSON.stringify(m) + '\n') }
  let opened = 0
  let onOpen: () => void = () => {}
  let onDone: (r: { ms: number; bytes: number }) => void = () => {}
  const route = (from: ReturnType<typeof spawn>, to: ReturnType<typeof spawn>): void => {
    createInterface({ input: from.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as { ev: string; sdp?: string; type?: string; cand?: string; mid?: string; ms?: number; bytes?: number }
      if (m.ev === 'desc') send(to, { op: 'desc', sdp: m.sdp, type: m.type })
      else if (m.ev === 'cand') send(to, { op: 'cand', cand: m.cand, mid: m.mid })
      else if (m.ev === 'open' && ++opened === 2) onOpen()
      else if (m.ev === 'done') onDone({ ms: m.ms!, bytes: m.bytes! })
    })
  }
  route(pa, pb); route(pb, pa)
  try {
    const open = new Promise<void>((r) => { onOpen = r })
    send(pb, { op: 'start', role: 'answer', stun: '198.18.0.10:3478' })
    send(pa, { op: 'start', role: 'offer', stun: '198.18.0.10:3478' })
    const timeout = (ms: number): Promise<never> => new Promise((_, rej) => setTimeout(() => rej(new Error('webrtc timeout')), ms).unref())
    await Promise.race([open, timeout(30_000)])
    const done = new Promise<{ ms: number; bytes: number }>((r) => { onDone = r })
    send(pb, { op: 'recv', bytes })
    send(pa, { op: 'send', bytes })
    const r = await Promise.race([done, timeout(240_000)])
    return round(r.bytes / 1e6 / (r.ms / 1000))
  } catch (err) {
    return `failed: ${(err as Error).message}`
  } finally {
    for (const p of procs) { p.stdin!.end(); setTimeout(() => p.kill('SIGKILL'), 2000).unref() }
  }
}

async function main(): Promise<void> {
  if (!canRunLab()) { console.log(JSON.stringify({ skipped: 'needs root, iptables and network namespaces' })); return }
  const lab = new NatLab('b')
  const agents: Agent[] = []
  const result: Record<string, unknown> = { machine: '2 vCPU shared dev VM, veth lab (no delay except the lossy section)', runs: RUNS, fetch_mib: FETCH_MIB }
  try {
    const { a, b, boot } = await startRendezvousLab(lab, agents, { stunServers: ['198.18.0.10:3478'] })
    // the matrix: per NAT pair, time to a working link (RUNS tries, fresh nodes each) and a FETCH_MIB content fetch
    // (chunks verified, file hash checked) over the link the last try made
    const matrix: Record<string, unknown>[] = []
    /** RUNS connects of `x` to `y` (fresh nodes each), then a FETCH_MIB fetch over the last link. */
    const measure = async (label: string, x: Agent, y: Agent): Promise<void> => {
      const ms: number[] = []
      const methods = new Set<string>()
      let last: { nodeId: string } | undefined
      for (let i = 0; i < RUNS; i++) {
        const [, ny] = await Promise.all([x.call('node-start', { config: boot, links: 1 }, 60_000), y.call('node-start', { config: boot, links: 1 }, 60_000)])
        const res = await x.call('node-connect', { nodeId: ny.nodeId, bytes: 100 }, 60_000)
        ms.push(res.ms as number)
        methods.add(res.method as string)
        last = { nodeId: ny.nodeId as string }
        process.stderr.write(`${label} run ${i}: ${Math.round(res.ms as number)} ms ${String(res.method)}\n`)
      }
      const pub = await y.call('content-publish', { mib: FETCH_MIB }, 120_000)
      const f = await x.call('content-fetch', { cid: pub.cid, nodeId: last!.nodeId }, 600_000)
      const row = {
        pair: label, path: [...methods].join('/'), link_p50_ms: round(pct(ms, 0.5)), link_max_ms: round(Math.max(...ms)),
        fetch_MBps: f.sha === pub.sha ? round(FETCH_MIB * 1.048576 / ((f.ms as number) / 1000)) : 'bytes differ',
      }
      process.stderr.write(`${JSON.stringify(row)}\n`)
      matrix.push(row)
    }
    if (process.env.NAT_BENCH_MATRIX !== '0') {
      for (const [ma, mb] of PAIRS) {
        // nodes stop before a mode switch (which flushes conntrack), or their rendezvous sessions stay half-open
        await Promise.all([a.call('node-stop'), b.call('node-stop')])
        lab.nat('A', ma); lab.nat('B', mb)
        await measure(`${ma}-${mb}`, a, b)
      }
      lab.nat('A', 'cone'); lab.nat('B', 'cone')
      const a2 = new Agent(lab.addSecondHost(), 'A2'); agents.push(a2)
      await measure('same-NAT (cone)', a, a2)
      await a2.stop()
    }
    result.matrix = matrix

    // throughput through both NATs (cone<->cone): encrypted link vs bare udx on a punched path vs relayed link
    lab.nat('A', 'cone'); lab.nat('B', 'cone')
    const mbps = (bytes: number, ms: number): number => round(bytes / 1e6 / (ms / 1000))
    const [, nbT] = await Promise.all([a.call('node-start', { config: boot, links: 1 }, 60_000), b.call('node-start', { config: boot, links: 1 }, 60_000)])
    await a.call('node-connect', { nodeId: nbT.nodeId, bytes: 100 }, 60_000)
    const rx = b.call('bulk-recv', { bytes: BULK }, 300_000)
    await a.call('bulk-send', { bytes: BULK, nodeId: nbT.nodeId }, 300_000)
    const enc = await rx
    // a content fetch over the same punched UDX link (what a user sees), compared with the bare stream below
    const pubT = await b.call('content-publish', { mib: Math.round(BULK / 1024 / 1024) }, 120_000)
    const fT = await a.call('content-fetch', { cid: pubT.cid, nodeId: nbT.nodeId }, 600_000)
    if (fT.sha !== pubT.sha) throw new Error('fetch over the punched link: bytes differ')
    // the same fetch with a UDX queue budget (stream-adapter.ts; a new link: the budget is taken at adoption)
    let fOld: Record<string, unknown> | undefined
    if (process.env.NAT_BENCH_COMPARE_DRAIN === '1') {
      await Promise.all([a.call('udx-queue', { bytes: UDX_QUEUE_BYTES }), b.call('udx-queue', { bytes: UDX_QUEUE_BYTES })])
      const [, nbO] = await Promise.all([a.call('node-start', { config: boot, links: 1 }, 60_000), b.call('node-start', { config: boot, links: 1 }, 60_000)])
      await a.call('node-connect', { nodeId: nbO.nodeId, bytes: 100 }, 60_000)
      const pubO = await b.call('content-publish', { mib: Math.round(BULK / 1024 / 1024) }, 120_000)
      fOld = await a.call('content-fetch', { cid: pubO.cid, nodeId: nbO.nodeId }, 600_000)
      if (fOld.sha !== pubO.sha) throw new Error('fetch over the punched link (queue budget): bytes differ')
      await Promise.all([a.call('udx-queue', { bytes: 0 }), b.call('udx-queue', { bytes: 0 })])
    }
    // bare udx-native over a punched path in the same lab (no encryption, no framing); a failed punch is retried
    let raw: Record<string, unknown> | undefined
    for (let attempt = 0; attempt < 3 && !raw; attempt++) {
      try {
        const [ia, ib] = await Promise.all([a.call('init', { seed: toHex(randomBytes(32)) }), b.call('init', { seed: toHex(randomBytes(32)) })])
        await Promise.all([a.call('discover', { server: STUN }), b.call('discover', { server: STUN })])
        const { offer } = await a.call('offer', { remoteId: ib.nodeId })
        const { answer } = await b.call('answer', { remoteId: ia.nodeId, offer, proven: ['198.18.0.101'] }) // A's public IP, as a rendezvous would observe it
        const cb = b.call('connect')
        await a.call('accept', { answer })
        await Promise.all([a.call('connect'), cb])
        const rxRaw = b.call('bulk-recv', { bytes: BULK, raw: true }, 300_000)
        await a.call('bulk-send', { bytes: BULK, raw: true }, 300_000)
        raw = await rxRaw
      } catch (err) {
        process.stderr.write(`bare udx punch failed (${(err as Error).message.slice(0, 120)}), again\n`)
      }
    }
    await a.call('reset'); await b.call('reset')
    // relayed link (through the rendezvous node's relay service)
    const [, nb3] = await Promise.all([a.call('node-start', { config: boot, links: 1 }, 60_000), b.call('node-start', { config: boot, links: 1 }, 60_000)])
    await a.call('node-connect', { nodeId: nb3.nodeId, bytes: 100, relayOnly: true }, 60_000)
    const relayBytes = Math.min(BULK, 32 * 1024 * 1024)
    const rxRel = b.call('bulk-recv', { bytes: relayBytes }, 300_000)
    await a.call('bulk-send', { bytes: relayBytes, nodeId: nb3.nodeId }, 300_000)
    const rel = await rxRel
    const encMBs = mbps(enc.bytes as number, enc.ms as number)
    const rawMBs = raw ? mbps(raw.bytes as number, raw.ms as number) : NaN
    const relMBs = mbps(rel.bytes as number, rel.ms as number)
    const fetchMBs = mbps(fT.bytes as number, fT.ms as number)
    result.throughput = {
      bytes: BULK, encrypted_link_MBps: encMBs, bare_udx_MBps: rawMBs, encrypted_vs_bare: ratio(encMBs, rawMBs),
      fetch_bytes: fT.bytes, fetch_over_punched_udx_MBps: fetchMBs, fetch_vs_bare_udx: ratio(fetchMBs, rawMBs),
      ...(fOld ? { fetch_udx_queue_budget_MBps: mbps(fOld.bytes as number, fOld.ms as number), fetch_udx_queue_budget_vs_bare_udx: ratio(mbps(fOld.bytes as number, fOld.ms as number), rawMBs) } : {}),
      relayed_link_MBps: relMBs, relayed_vs_direct: ratio(relMBs, encMBs),
    }
    const rtc = await webrtc(lab, Math.min(BULK, 32 * 1024 * 1024))
    const t = result.throughput as Record<string, unknown>
    t.webrtc_datachannel_MBps = rtc
    if (typeof rtc === 'number') t.encrypted_vs_webrtc = ratio(encMBs, rtc)
    // issue 24 item 3: 2% loss + 80 ms on both NAT uplinks, UDX fetch vs TCP fetch in the same run
    if (process.env.NAT_BENCH_LOSSY !== '0') {
      result.lossy = await lossyFetch(lab, a, b, boot, {
        lossPct: 2, delayMs: 80, mib: FETCH_MIB, rounds: Number(process.env.NAT_BENCH_LOSSY_ROUNDS ?? 1), log: (x) => process.stderr.write(x),
        compareQueue: process.env.NAT_BENCH_COMPARE_DRAIN === '1',
      })
    }
  } finally {
    await Promise.all(agents.map((x) => x.stop()))
    lab.down()
  }
  console.log(JSON.stringify(result, null, 2))
}

await main()
