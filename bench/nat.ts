/**
 * NAT traversal benchmark in a namespace lab (needs root, iptables; run with `npm run bench -- nat`).
 * Prints JSON: time to a working link (signalling through a rendezvous + punching + handshake) for cone<->cone and
 * cone<->symmetric (p50, max), and throughput over the punched path: the encrypted ZEONE link vs bare udx-native
 * (same lab, same run), plus a relayed link as a ratio of direct.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { Agent, canRunLab, NatLab, startRendezvousLab, type NatMode } from '../test/nat/lab.js'
import { toHex } from '../src/util/bytes.js'
import { randomBytes } from '../src/crypto/sign.js'

const RUNS = Number(process.env.NAT_BENCH_RUNS ?? 10)
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
  const result: Record<string, unknown> = { machine: '2 vCPU shared dev VM, veth lab (no latency emulation)', runs: RUNS }
  try {
    const { pub, a, b, boot } = await startRendezvousLab(lab, agents, { stunServers: ['198.18.0.10:3478'] })
    const connectTimes = async (ma: NatMode, mb: NatMode): Promise<Record<string, number | string>> => {
      lab.nat('A', ma); lab.nat('B', mb)
      const ms: number[] = []
      let method = ''
      for (let i = 0; i < RUNS; i++) {
        const [, nb] = await Promise.all([a.call('node-start', { config: boot, links: 1 }, 60_000), b.call('node-start', { config: boot, links: 1 }, 60_000)])
        const res = await a.call('node-connect', { nodeId: nb.nodeId, bytes: 100 }, 60_000)
        ms.push(res.ms as number)
        process.stderr.write(`${ma}-${mb} run ${i}: ${Math.round(res.ms as number)} ms ${String(res.method)}\n`)
        method = res.method as string
      }
      return { method, p50_ms: round(pct(ms, 0.5)), max_ms: round(Math.max(...ms)), min_ms: round(Math.min(...ms)) }
    }
    result.connect_cone_cone = await connectTimes('cone', 'cone')
    result.connect_cone_symmetric = await connectTimes('cone', 'symmetric')

    // throughput through both NATs (cone<->cone): encrypted link vs bare udx on a punched path vs relayed link
    lab.nat('A', 'cone'); lab.nat('B', 'cone')
    const mbps = (bytes: number, ms: number): number => round(bytes / 1e6 / (ms / 1000))
    const [, nbT] = await Promise.all([a.call('node-start', { config: boot, links: 1 }, 60_000), b.call('node-start', { config: boot, links: 1 }, 60_000)])
    await a.call('node-connect', { nodeId: nbT.nodeId, bytes: 100 }, 60_000)
    const rx = b.call('bulk-recv', { bytes: BULK }, 300_000)
    await a.call('bulk-send', { bytes: BULK, nodeId: nbT.nodeId }, 300_000)
    const enc = await rx
    // bare udx-native over a punched path in the same lab (no encryption, no framing)
    const [ia, ib] = await Promise.all([a.call('init', { seed: toHex(randomBytes(32)) }), b.call('init', { seed: toHex(randomBytes(32)) })])
    await Promise.all([a.call('discover', { server: STUN }), b.call('discover', { server: STUN })])
    const { offer } = await a.call('offer', { remoteId: ib.nodeId })
    const { answer } = await b.call('answer', { remoteId: ia.nodeId, offer })
    const cb = b.call('connect')
    await a.call('accept', { answer })
    await Promise.all([a.call('connect'), cb])
    const rxRaw = b.call('bulk-recv', { bytes: BULK, raw: true }, 300_000)
    await a.call('bulk-send', { bytes: BULK, raw: true }, 300_000)
    const raw = await rxRaw
    // relayed link (through the rendezvous node's relay service)
    const [, nb3] = await Promise.all([a.call('node-start', { config: boot, links: 1 }, 60_000), b.call('node-start', { config: boot, links: 1 }, 60_000)])
    await a.call('node-connect', { nodeId: nb3.nodeId, bytes: 100, relayOnly: true }, 60_000)
    const relayBytes = Math.min(BULK, 32 * 1024 * 1024)
    const rxRel = b.call('bulk-recv', { bytes: relayBytes }, 300_000)
    await a.call('bulk-send', { bytes: relayBytes, nodeId: nb3.nodeId }, 300_000)
    const rel = await rxRel
    const encMBs = mbps(enc.bytes as number, enc.ms as number)
    const rawMBs = mbps(raw.bytes as number, raw.ms as number)
    const relMBs = mbps(rel.bytes as number, rel.ms as number)
    result.throughput = {
      bytes: BULK, encrypted_link_MBps: encMBs, bare_udx_MBps: rawMBs, encrypted_vs_bare: ratio(encMBs, rawMBs),
      relayed_link_MBps: relMBs, relayed_vs_direct: ratio(relMBs, encMBs),
    }
    const rtc = await webrtc(lab, Math.min(BULK, 32 * 1024 * 1024))
    const t = result.throughput as Record<string, unknown>
    t.webrtc_datachannel_MBps = rtc
    if (typeof rtc === 'number') t.encrypted_vs_webrtc = ratio(encMBs, rtc)
  } finally {
    await Promise.all(agents.map((x) => x.stop()))
    lab.down()
  }
  console.log(JSON.stringify(result, null, 2))
}

await main()
