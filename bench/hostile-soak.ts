/**
 * Hostile soak: a live node (its own process) under a mix of every hostile-peers attack at a bounded rate while an
 * honest peer (another process) does handshakes, PINGs, DHT gets and a 100 MiB fetch. First a baseline phase with
 * no attack, then the attack phase, in the same run; prints honest success rate per phase, honest handshake
 * p50/p99 in both phases, the victim's peak RSS, whether it survived, and what each attack got back.
 *   npm run bench -- hostile-soak [--seconds 300] [--baseline-seconds 60] [--fetch-mib 100]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { createNode, type ZeoneNode } from '../src/node.js'
import { validateConfig } from '../src/ops/config.js'
import { randomBytes } from '../src/crypto/sign.js'
import { fromB64, toHex } from '../src/util/bytes.js'
import { sha256 } from '../src/crypto/hash.js'
import {
  dhtPoisonContacts, dhtSybil, garbage, httpForeign, moneyForgery, natOffers, replayedHello, runAttacks, slotHold,
  unfinishedFrames, type Attack, type Victim,
} from './hostile/attacks.js'
import { benchNode, percentile } from './wire-common.js'
import { onJsonLines } from './content/proc.js'

const SELF = fileURLToPath(import.meta.url)
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : dflt
}
const ATTACK_S = arg('seconds', 300)
const BASELINE_S = arg('baseline-seconds', 60)
const FETCH_MIB = arg('fetch-mib', 100)

function line(v: unknown): void { process.stdout.write(JSON.stringify(v) + '\n') }
/** Progress on stderr (ZEONE_SOAK_DEBUG=1). */
function debug(...a: unknown[]): void { if (process.env.ZEONE_SOAK_DEBUG) console.error(new Date().toISOString(), process.argv[2] ?? 'main', ...a) }

/** Resolves with the first JSON line `child` prints that `pred` accepts (lines read by the content benches' helper). */
function waitLine(child: ChildProcess, pred: (v: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    onJsonLines(child, (v) => { if (pred(v)) resolve(v) })
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before reporting`)))
  })
}

function spawnRole(role: string, args: string[] = []): ChildProcess {
  const flags = ['--seconds', String(ATTACK_S), '--baseline-seconds', String(BASELINE_S), '--fetch-mib', String(FETCH_MIB)]
  return spawn(process.execPath, ['--expose-gc', SELF, role, ...args, ...flags], { stdio: ['pipe', 'pipe', 'inherit'] })
}

/** Writes `mib` MiB of pseudo-random bytes (content differs per run) without holding them in memory. */
async function writeFile(path: string, mib: number): Promise<void> {
  const out = createWriteStream(path)
  const block = randomBytes(1 << 20)
  for (let i = 0; i < mib; i++) {
    block[0] = i & 255
    if (!out.write(Buffer.from(block))) await new Promise<void>((r) => out.once("drain", () => r()))
  }
  await new Promise<void>((r, j) => { out.once('error', j); out.end(() => r()) })
}

// ---- victim: a full node with every layer, legacy on, HTTP API on ----
async function victim(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'zeone-soak-victim-'))
  const config = validateConfig({
    dataDir: join(dir, 'data'), node: { port: 0, host: '127.0.0.1', legacy: true },
    ops: { httpPort: 0, httpHost: '127.0.0.1', logLevel: 'silent' },
  })
  const node = createNode(config)
  await node.start()
  const file = join(dir, 'payload.bin')
  await writeFile(file, FETCH_MIB)
  const content = node.services.get('content')!
  const { pub } = await content.publish(file)
  const dht = node.services.get('dht')!
  const dhtKey = sha256(new TextEncoder().encode('soak-key')).subarray(0, 20)
  const providerKey = sha256(new TextEncoder().encode('soak-provider')).subarray(0, 20)
  const value = randomBytes(48)
  // (re)publish until a peer holds them: a put with no peer yet reaches nobody
  const publish = async (): Promise<void> => {
    const r = await dht.put(dhtKey, value).catch(() => undefined)
    await dht.provide(providerKey).catch(() => 0)
    if (!r || r.stored === 0) setTimeout(() => void publish(), 2000).unref()
  }
  void publish()
  line({
    role: 'victim', pid: process.pid, port: node.listenAddress!.port, httpPort: node.httpAddress?.port ?? 0,
    nodeId: node.identity.nodeIdB64, contentId: pub.idHex, dhtKey: toHex(dhtKey), providerKey: toHex(providerKey), value: toHex(value),
  })
  const stop = () => { node.stop().finally(() => { rmSync(dir, { recursive: true, force: true }); process.exit(0) }) }
  process.on('SIGTERM', stop)
  process.stdin.on('end', stop)
  process.stdin.resume()
}

// ---- honest peer: handshakes + PING, DHT gets, one fetch per phase ----
interface PhaseStats { ok: number; fail: number; handshakeMs: number[]; failures: Record<string, number>; fetch?: { ok: boolean; mibPerSec?: number; error?: string } }

async function honest(): Promise<void> {
  const hello = JSON.parse(process.argv[3]!) as Record<string, string | number>
  const t0 = Number(process.argv[4])
  const baselineEnd = t0 + BASELINE_S * 1000
  const end = baselineEnd + ATTACK_S * 1000
  const dir = mkdtempSync(join(tmpdir(), 'zeone-soak-honest-'))
  const victimAddr = `127.0.0.1:${hello.port}`
  const config = validateConfig({
    dataDir: join(dir, 'data'), node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap: [victimAddr] },
    ops: { httpPort: -1, logLevel: 'silent' }, nat: { enabled: false },
  })
  const node: ZeoneNode = createNode(config)
  await node.start()
  const phases: Record<'baseline' | 'attack', PhaseStats> = {
    baseline: { ok: 0, fail: 0, handshakeMs: [], failures: {} }, attack: { ok: 0, fail: 0, handshakeMs: [], failures: {} },
  }
  const phase = () => (Date.now() < baselineEnd ? phases.baseline : phases.attack)
  const fail = (p: PhaseStats, what: string) => { p.fail++; p.failures[what] = (p.failures[what] ?? 0) + 1 }
  const victimId = fromB64(String(hello.nodeId))
  const dhtKey = Buffer.from(String(hello.dhtKey), 'hex')
  const dht = node.services.get('dht')!
  const content = node.services.get('content')!
  const fetchOnce = async (p: PhaseStats): Promise<void> => {
    const out = join(dir, `dl-${Date.now()}`)
    const ts = performance.now()
    try {
      const j = await content.fetch(String(hello.contentId), out, [victimAddr])
      for (;;) {
        const s = content.job(j.job)
        if (!s || s.state === 'failed') throw new Error(s?.error?.code ?? 'job lost')
        if (s.state === 'done') break
        await new Promise((r) => setTimeout(r, 50))
      }
      p.fetch = { ok: true, mibPerSec: FETCH_MIB / ((performance.now() - ts) / 1000) }
      p.ok++
    } catch (err) {
      p.fetch = { ok: false, error: (err as Error).message }
      fail(p, 'fetch')
    } finally { rmSync(out, { recursive: true, force: true }) }
  }
  const fetches: Array<Promise<void>> = []
  let fetchedBaseline = false
  let fetchedAttack = false
  const bare = benchNode({ limits: {} })
  while (Date.now() < end) {
    const p = phase()
    debug('loop', p === phases.baseline ? 'baseline' : 'attack', p.ok, p.fail)
    if (p === phases.baseline && !fetchedBaseline && Date.now() > t0 + 5000) { fetchedBaseline = true; fetches.push(fetchOnce(p)) }
    if (p === phases.attack && !fetchedAttack && Date.now() > baselineEnd + (ATTACK_S * 1000) / 3) { fetchedAttack = true; fetches.push(fetchOnce(p)) }
    // a fresh handshake to the first PONG, from a fresh identity each time
    const ts = performance.now()
    try {
      const link = await bare.cm.dial({ host: '127.0.0.1', port: Number(hello.port) }, { expectNodeId: victimId })
      await bare.cm.ping(link)
      p.handshakeMs.push(performance.now() - ts)
      p.ok++
      link.close('soak')
    } catch (err) { fail(p, `handshake:${(err as { code?: string }).code ?? (err as Error).message}`) }
    try {
      const r = await dht.get(dhtKey, { publisher: victimId })
      if (r.record && toHex(r.record.value) === hello.value) p.ok++
      else fail(p, r.record ? 'dht_get_wrong_value' : 'dht_get_missing')
    } catch (err) { fail(p, `dht_get:${(err as Error).message}`) }
    await new Promise((r) => setTimeout(r, 200))
  }
  debug('loop over, waiting for fetches')
  await Promise.all(fetches)
  debug('fetches done')
  await bare.cleanup()
  await node.stop()
  rmSync(dir, { recursive: true, force: true })
  const summary = (s: PhaseStats) => {
    const hs = [...s.handshakeMs].sort((a, b) => a - b)
    return {
      ok: s.ok, fail: s.fail, successRate: s.ok / Math.max(1, s.ok + s.fail), failures: s.failures, fetch: s.fetch,
      handshakes: hs.length, handshakeP50Ms: hs.length ? percentile(hs, 50) : null, handshakeP99Ms: hs.length ? percentile(hs, 99) : null,
    }
  }
  line({ role: 'honest', baseline: summary(phases.baseline), attack: summary(phases.attack) })
  process.exit(0)
}

// ---- attacker: every attack on its own cadence from its own loopback source address ----
async function attacker(): Promise<void> {
  const hello = JSON.parse(process.argv[3]!) as Record<string, string | number>
  const v: Victim = {
    host: '127.0.0.1', port: Number(hello.port), nodeId: fromB64(String(hello.nodeId)), httpPort: Number(hello.httpPort),
    dhtKey: Buffer.from(String(hello.dhtKey), 'hex'), providerKey: Buffer.from(String(hello.providerKey), 'hex'),
  }
  const nat = natOffers(v, '127.0.0.6')
  await nat.start()
  const attacks: Attack[] = [
    slotHold(v, '127.0.0.2'), unfinishedFrames(v, '127.0.0.3'), garbage(v, '127.0.0.4'), replayedHello(v, '127.0.0.5'),
    nat, dhtSybil(v, '127.0.0.7'), dhtPoisonContacts(v, '127.0.0.8'), moneyForgery(v, '127.0.0.10'),
    ...(v.httpPort > 0 ? [httpForeign(v)] : []),
  ]
  const ac = new AbortController()
  const running = runAttacks(attacks, ac.signal)
  const report = async () => {
    ac.abort()
    await Promise.race([running, new Promise((r) => setTimeout(r, 20_000))])
    const out: Record<string, unknown> = {}
    for (const a of attacks) out[a.name] = a.tally
    await Promise.race([Promise.all(attacks.map((a) => a.close().catch(() => {}))), new Promise((r) => setTimeout(r, 10_000))])
    line({ role: 'attacker', attacks: out })
    process.exit(0)
  }
  process.stdin.on('data', () => { void report() })
  process.stdin.resume()
  line({ role: 'attacker', started: attacks.map((a) => a.name) })
}

function procStatus(pid: number): { rssMiB: number; hwmMiB: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN)
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 }
  } catch { return undefined }
}

async function main(): Promise<void> {
  const role = process.argv[2]
  if (role === 'victim') return victim()
  if (role === 'honest') return honest()
  if (role === 'attacker') return attacker()
  const v = spawnRole('victim')
  let victimExit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  v.once('exit', (code, signal) => { victimExit = { code, signal } })
  const hello = await waitLine(v, (x) => x.role === 'victim')
  const pid = Number(hello.pid)
  const t0 = Date.now() + 2000
  const h = spawnRole('honest', [JSON.stringify(hello), String(t0)])
  const honestDone = waitLine(h, (x) => x.role === 'honest' && 'baseline' in x)
  let peakBaseline = 0
  let peakAttack = 0
  const sampler = setInterval(() => {
    const s = procStatus(pid)
    if (!s) return
    if (Date.now() < t0 + BASELINE_S * 1000) peakBaseline = Math.max(peakBaseline, s.rssMiB)
    else peakAttack = Math.max(peakAttack, s.rssMiB)
  }, 250)
  await new Promise((r) => setTimeout(r, Math.max(0, t0 + BASELINE_S * 1000 - Date.now())))
  debug('starting attacker')
  const atk = spawnRole('attacker', [JSON.stringify(hello)])
  const atkStarted = await waitLine(atk, (x) => x.role === 'attacker')
  const atkReport = waitLine(atk, (x) => x.role === 'attacker' && 'attacks' in x)
  const honestResult = await honestDone
  debug('honest done')
  atk.stdin!.write('stop\n')
  const attackResult = await atkReport.catch((e: Error) => ({ error: e.message }))
  clearInterval(sampler)
  const final = procStatus(pid)
  const survived = victimExit === undefined && final !== undefined
  v.stdin!.end()
  await new Promise<void>((r) => { if (v.exitCode !== null) r(); else { v.once('exit', () => r()); setTimeout(() => { v.kill('SIGKILL'); r() }, 15_000) } })
  // a node that survived the attack must also stop cleanly (exit 0) afterwards
  const cleanStop = survived && victimExit?.code === 0
  const base = honestResult.baseline as { handshakeP99Ms: number | null; successRate: number }
  const att = honestResult.attack as { handshakeP99Ms: number | null; successRate: number }
  const p99Ratio = base.handshakeP99Ms && att.handshakeP99Ms ? att.handshakeP99Ms / base.handshakeP99Ms : null
  line({
    bench: 'hostile-soak',
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    seconds: { baseline: BASELINE_S, attack: ATTACK_S }, fetchMiB: FETCH_MIB,
    attacks: atkStarted.started,
    honest: honestResult,
    victim: { survived, cleanStop, exit: victimExit ?? null, peakRssMiBBaseline: peakBaseline, peakRssMiBAttack: peakAttack, vmHwmMiB: final?.hwmMiB ?? null },
    attackerView: (attackResult as { attacks?: unknown }).attacks ?? attackResult,
    goals: { honestSuccessRate: 1, handshakeP99Ratio: 3, peakRssMiB: 512 },
    handshakeP99Ratio: p99Ratio,
    meetsGoals: survived && cleanStop && att.successRate === 1 && p99Ratio !== null && p99Ratio <= 3 && peakAttack <= 512,
  })
  process.exit(0)
}

main().catch((err) => { console.error(err); process.exit(1) })
