/**
 * `npm run bench -- vpn [--mib N] [--rounds N] [--streams N] [--small-kib N]`: download throughput through our SOCKS5 -> exit
 * (two node processes on loopback, encrypted session, per-stream flow control) against a direct TCP copy and against
 * OpenSSH dynamic forwarding (`ssh -D`, our own sshd on a loopback port with a temporary host key), one run each on
 * the same machine; then N concurrent streams (default 100) through each proxy with p50/p99 time to first byte; and
 * the bytes both ledgers recorded (exit 'served' vs client 'consumed'). Default 1 GiB, 3 interleaved rounds (medians).
 * `--suites chacha20-poly1305,aes-256-gcm`: one exit/client pair per v2 cipher suite (both nodes offer only that
 * one), their downloads interleaved in each round; `suites` then gives each one's MB/s, CPU, system CPU and page
 * faults per GiB (the headline figures are the first suite's).
 * Without /usr/sbin/sshd (openssh-server) the ssh -D figures are null and `ssh` says why.
 * Prints JSON. Why this file is long: the sshd / ssh -D harness and the per-suite node pairs are parts of this one run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const argv = process.argv.slice(2)
const num = (name: string, d: number): number => { const i = argv.indexOf(`--${name}`); return i >= 0 ? Number(argv[i + 1]) : d }
const MIB = num('mib', 1024)
const STREAMS = num('streams', 100)
const SMALL = num('small-kib', 64) * 1024
/** Rounds of the three downloads, interleaved (direct, ours, ssh -D): the figures are medians (a shared machine). */
const ROUNDS = Math.max(1, num('rounds', 3))
/** `--zeone-only`: skip the direct copy and ssh -D (for profiling our path). */
const ONLY = argv.includes('--zeone-only')
const si = argv.indexOf('--suites')
/** Cipher suites to compare (one node pair each); [undefined] = one pair with the default preference. */
const SUITES: Array<string | undefined> = si >= 0 ? argv[si + 1]!.split(',') : [undefined]
const children: ChildProcess[] = []

function child(name: string, args: string[], suite?: string): ChildProcess {
  const self = fileURLToPath(import.meta.url)
  const ts = self.endsWith('.ts')
  const file = fileURLToPath(new URL(`./vpn/${name}.${ts ? 'ts' : 'js'}`, import.meta.url))
  // VPN_BENCH_CHILD_ARGS: extra node flags for the children (e.g. --cpu-prof)
  const extra = process.env.VPN_BENCH_CHILD_ARGS ? process.env.VPN_BENCH_CHILD_ARGS.split(' ') : []
  const env = suite ? { ...process.env, VPN_BENCH_SUITES: suite } : process.env
  const c = spawn(process.execPath, [...extra, ...(ts ? ['--import', 'tsx'] : []), file, ...args], { stdio: ['pipe', 'pipe', 'inherit'], env })
  children.push(c)
  return c
}

function lines(c: ChildProcess): () => Promise<Record<string, unknown>> {
  const queue: Array<Record<string, unknown>> = []
  const waiting: Array<(v: Record<string, unknown>) => void> = []
  createInterface({ input: c.stdout! }).on('line', (l) => {
    let v: Record<string, unknown>
    try { v = JSON.parse(l) as Record<string, unknown> } catch { return }
    const w = waiting.shift()
    if (w) w(v); else queue.push(v)
  })
  return () => new Promise((r) => { const v = queue.shift(); if (v) r(v); else waiting.push(r) })
}

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const p = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return p
}

function waitPort(port: number, tries = 200): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = (n: number): void => {
      const s = connect({ host: '127.0.0.1', port })
      s.once('connect', () => { s.destroy(); resolve() })
      s.once('error', () => { s.destroy(); if (n <= 0) reject(new Error(`port ${port} never opened`)); else setTimeout(() => attempt(n - 1), 50) })
    }
    attempt(tries)
  })
}

/** Reads exactly n bytes from a socket (collecting them). */
function readN(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0)
    const on = (b: Buffer): void => { got = Buffer.concat([got, b]); if (got.length >= n) { s.off('data', on); s.pause(); if (got.length > n) s.unshift(got.subarray(n)); resolve(got.subarray(0, n)) } }
    s.on('data', on)
    s.once('error', reject)
    s.resume()
  })
}

/** SOCKS5 CONNECT to 127.0.0.1:dport through the proxy on `proxy` (null = direct). */
async function open(proxy: number | null, dport: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port: proxy ?? dport })
  s.setNoDelay(true)
  await new Promise<void>((r, j) => { s.once('connect', () => r()); s.once('error', j) })
  if (proxy === null) return s
  s.write(Uint8Array.of(5, 1, 0))
  await readN(s, 2)
  s.write(Uint8Array.of(5, 1, 0, 1, 127, 0, 0, 1, dport >> 8, dport & 255))
  const r = await readN(s, 10)
  if (r[1] !== 0) throw new Error(`SOCKS reply ${r[1]}`)
  return s
}

/** Downloads `bytes` from the source; returns seconds and time to first byte (ms, from before the connect). */
async function download(proxy: number | null, dport: number, bytes: number): Promise<{ s: number; ttfbMs: number }> {
  const t0 = performance.now()
  const s = await open(proxy, dport)
  let got = 0
  let first = 0
  await new Promise<void>((resolve, reject) => {
    s.on('data', (b: Buffer) => { if (got === 0) first = performance.now(); got += b.length })
    s.once('end', () => resolve())
    s.once('error', reject)
    s.write(`${bytes}\n`)
    s.resume()
  })
  s.destroy()
  if (got !== bytes) throw new Error(`got ${got} of ${bytes} bytes`)
  return { s: (performance.now() - t0) / 1000, ttfbMs: first - t0 }
}

async function concurrent(proxy: number | null, dport: number): Promise<{ p50: number; p99: number; max: number; wallS: number }> {
  const t0 = performance.now()
  const r = await Promise.all(Array.from({ length: STREAMS }, () => download(proxy, dport, SMALL)))
  const t = r.map((x) => x.ttfbMs).sort((a, b) => a - b)
  const q = (p: number): number => Math.round(t[Math.min(t.length - 1, Math.ceil(p * t.length) - 1)]! * 100) / 100
  return { p50: q(0.5), p99: q(0.99), max: q(1), wallS: Math.round((performance.now() - t0) / 10) / 100 }
}

/** Our own sshd on a loopback port (temporary host and user keys, no system file touched) and `ssh -D`. */
const SSHD = '/usr/sbin/sshd'

async function startSsh(): Promise<{ socks: number; stop: () => void; version: string; cpuMs: () => number }> {
  const dir = mkdtempSync(join(tmpdir(), 'zeone-vpn-bench-ssh-'))
  chmodSync(dir, 0o700)
  for (const k of ['host', 'user']) spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, k)], { stdio: 'ignore' })
  writeFileSync(join(dir, 'authorized_keys'), spawnSync('cat', [join(dir, 'user.pub')]).stdout)
  chmodSync(join(dir, 'authorized_keys'), 0o600)
  const port = await freePort()
  writeFileSync(join(dir, 'sshd_config'), [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host')}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `PidFile ${join(dir, 'sshd.pid')}`, 'UsePAM no', 'StrictModes no', 'PermitRootLogin prohibit-password', 'PasswordAuthentication no',
    'AllowTcpForwarding yes', 'PermitOpen any', 'LogLevel ERROR',
  ].join('\n') + '\n')
  // sshd as root wants /run/sshd: give it one in a private mount namespace (a tmpfs over /run seen only by it)
  const sshd = spawn('unshare', ['-m', 'sh', '-c', `mount -t tmpfs -o mode=755 tmpfs /run && mkdir /run/sshd && exec ${SSHD} -D -e -f ${join(dir, 'sshd_config')}`],
    { stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(sshd)
  await waitPort(port)
  const socks = await freePort()
  const user = spawnSync('id', ['-un']).stdout.toString().trim()
  const ssh = spawn('ssh', ['-N', '-D', `127.0.0.1:${socks}`, '-i', join(dir, 'user'), '-p', `${port}`, '-o', 'StrictHostKeyChecking=no',
    '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', `${user}@127.0.0.1`], { stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(ssh)
  await waitPort(socks)
  const version = spawnSync('ssh', ['-V']).stderr.toString().trim()
  return { socks, version, cpuMs: () => treeCpuMs(sshd.pid!) + treeCpuMs(ssh.pid!), stop: () => { ssh.kill(); sshd.kill(); rmSync(dir, { recursive: true, force: true }) } }
}

/** CPU time (user + system, ms) of a process and all its descendants now alive, from /proc (Linux). */
function treeCpuMs(root: number): number {
  const stats = new Map<number, { ppid: number; ticks: number }>()
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const t = readFileSync(`/proc/${d}/stat`, 'utf8')
      const f = t.slice(t.lastIndexOf(')') + 2).split(' ')
      stats.set(Number(d), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) })
    } catch { /* gone */ }
  }
  const inTree = (pid: number): boolean => { for (let p = pid, i = 0; p > 1 && i < 64; p = stats.get(p)?.ppid ?? 0, i++) if (p === root) return true; return false }
  let ticks = 0
  for (const [pid, st] of stats) if (inTree(pid)) ticks += st.ticks
  return ticks * 10 // USER_HZ = 100
}

const mbps = (bytes: number, s: number): number => Math.round((bytes / s / 1e6) * 10) / 10

/** One exit + client pair (both offering `suite` only, or the default preference). */
interface Pair {
  suite: string | undefined
  socks: number
  exitId: string
  clientId: string
  exit: ChildProcess
  client: ChildProcess
  exitNext: () => Promise<Record<string, unknown>>
  clientNext: () => Promise<Record<string, unknown>>
}

async function startPair(srcPort: number, suite: string | undefined): Promise<Pair> {
  const exit = child('node', ['exit', `${srcPort}`], suite)
  const exitNext = lines(exit)
  const ex = await exitNext()
  const client = child('node', ['client', `${ex.nodeId as string}@127.0.0.1:${ex.port as number}`], suite)
  const clientNext = lines(client)
  const cl = await clientNext()
  return { suite, socks: cl.socks as number, exitId: ex.nodeId as string, clientId: cl.nodeId as string, exit, client, exitNext, clientNext }
}

interface Usage { cpuMs: number; sysMs: number; faults: number }

/** CPU (user + system), system CPU and minor page faults of both nodes of a pair so far. */
async function usage(p: Pair): Promise<Usage> {
  p.exit.stdin!.write('cpu\n'); p.client.stdin!.write('cpu\n')
  const [e, c] = [await p.exitNext(), await p.clientNext()]
  const n = (k: string): number => (e[k] as number) + (c[k] as number)
  return { cpuMs: n('cpuMs'), sysMs: n('sysMs'), faults: n('faults') }
}

async function main(): Promise<void> {
  const src = child('source', [])
  const srcPort = (await lines(src)()).port as number
  const pairs: Pair[] = []
  for (const suite of SUITES) pairs.push(await startPair(srcPort, suite))
  const first = pairs[0]!
  const ours = first.socks
  const bytes = MIB * 1024 * 1024
  // without openssh-server the comparison with ssh -D is skipped (and said so), the rest still runs
  const ssh = !ONLY && existsSync(SSHD) ? await startSsh() : null

  // warm-up (session establishment, JIT), not counted
  for (const p of pairs) await download(p.socks, srcPort, 8 << 20)
  if (ssh) await download(ssh.socks, srcPort, 8 << 20)
  const runs: Record<'direct' | 'zeone' | 'sshD', number[]> = { direct: [], zeone: [], sshD: [] }
  const perSuite = pairs.map(() => ({ s: [] as number[], cpuMs: 0, sysMs: 0, faults: 0 }))
  let sshCpuMs = 0
  for (let r = 0; r < ROUNDS; r++) {
    if (!ONLY) runs.direct.push((await download(null, srcPort, bytes)).s)
    for (const [i, p] of pairs.entries()) {
      const u0 = await usage(p)
      perSuite[i]!.s.push((await download(p.socks, srcPort, bytes)).s)
      const u1 = await usage(p)
      perSuite[i]!.cpuMs += u1.cpuMs - u0.cpuMs
      perSuite[i]!.sysMs += u1.sysMs - u0.sysMs
      perSuite[i]!.faults += u1.faults - u0.faults
    }
    if (!ssh) continue
    const s0 = ssh.cpuMs()
    runs.sshD.push((await download(ssh.socks, srcPort, bytes)).s)
    sshCpuMs += ssh.cpuMs() - s0
  }
  runs.zeone = perSuite[0]!.s
  const zeoneCpuMs = perSuite[0]!.cpuMs
  const perGiB = (x: number): number => Math.round((x * (1 << 30)) / (bytes * ROUNDS))
  const median = (xs: number[]): number => { const t = [...xs].sort((a, b) => a - b); return t.length % 2 ? t[t.length >> 1]! : (t[t.length / 2 - 1]! + t[t.length / 2]!) / 2 }
  const direct = { s: ONLY ? NaN : median(runs.direct) }
  const zeone = { s: median(runs.zeone) }
  const sshD = { s: ssh ? median(runs.sshD) : NaN }
  const suites = SUITES[0] === undefined ? null : Object.fromEntries(pairs.map((p, i) => {
    const x = perSuite[i]!
    return [p.suite!, {
      MBps: mbps(bytes, median(x.s)), perRoundMBps: x.s.map((t) => mbps(bytes, t)),
      nodesCpuMsPerGiB: perGiB(x.cpuMs), nodesSysMsPerGiB: perGiB(x.sysMs), nodesPageFaultsPerGiB: perGiB(x.faults),
    }]
  }))
  const stopAll = (): void => {
    ssh?.stop()
    for (const p of pairs) { p.exit.stdin!.write('stop\n'); p.client.stdin!.write('stop\n') }
    src.stdin!.end()
  }
  const machine = { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg().map((x) => Math.round(x * 100) / 100) }
  if (ONLY) {
    console.log(JSON.stringify({
      bench: 'vpn', machine, bytes, rounds: ROUNDS, zeoneMBps: mbps(bytes, zeone.s), perRoundMBps: runs.zeone.map((x) => mbps(bytes, x)),
      nodesCpuMsPerGiB: perGiB(zeoneCpuMs), suites,
    }))
    stopAll()
    return
  }
  const manyOurs = await concurrent(ours, srcPort)
  const manySsh = ssh ? await concurrent(ssh.socks, srcPort) : null

  // let the last streams' meters settle (each stream records when it ends)
  await new Promise((r) => setTimeout(r, 300))
  first.exit.stdin!.write(`stats ${first.clientId}\n`)
  const es = await first.exitNext()
  first.client.stdin!.write(`stats ${first.exitId}\n`)
  const cs = await first.clientNext()
  const served = BigInt(es.carried as string)
  const consumed = BigInt(cs.carried as string)
  const diff = served > consumed ? served - consumed : consumed - served
  const carriedExpected = BigInt(bytes) * BigInt(ROUNDS) + 8n * 1024n * 1024n + BigInt(STREAMS * SMALL)

  const out = {
    bench: 'vpn', machine,
    bytes, ssh: ssh ? ssh.version : `skipped: no ${SSHD} (openssh-server not installed)`,
    rounds: ROUNDS,
    throughputMBps: { direct: mbps(bytes, direct.s), zeone: mbps(bytes, zeone.s), sshD: ssh ? mbps(bytes, sshD.s) : null },
    perRoundMBps: { direct: runs.direct.map((x) => mbps(bytes, x)), zeone: runs.zeone.map((x) => mbps(bytes, x)), sshD: runs.sshD.map((x) => mbps(bytes, x)) },
    /** CPU of both our nodes (exit + client) per GiB carried, over the rounds. */
    zeoneNodesCpuMsPerGiB: perGiB(zeoneCpuMs),
    /** The same for ssh -D: sshd (all its processes) + the ssh client. */
    sshDCpuMsPerGiB: ssh ? perGiB(sshCpuMs) : null,
    ratio: { zeoneVsSshD: ssh ? Math.round((sshD.s / zeone.s) * 100) / 100 : null, zeoneVsDirect: Math.round((direct.s / zeone.s) * 100) / 100 },
    goals: { vsSshD: 1.5, vsDirect: 0.5 },
    /** With --suites: each suite's pair, interleaved with the others in every round. */
    suites,
    concurrent: { streams: STREAMS, bytesEach: SMALL, zeoneTtfbMs: manyOurs, sshDTtfbMs: manySsh },
    ledger: {
      exitServedBytes: `${served}`, clientConsumedBytes: `${consumed}`, carriedAtLeast: `${carriedExpected}`,
      diffPpm: Number((diff * 1_000_000n) / (served > 0n ? served : 1n)), withinPointOnePercent: diff * 1000n <= served,
      exitCharged: es.charged, clientBilled: cs.billed,
    },
  }
  console.log(JSON.stringify(out, null, 2))
  stopAll()
}

const cleanup = (): void => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill() }
process.on('exit', cleanup)
main().then(() => setTimeout(() => { cleanup(); process.exit(0) }, 500), (err: unknown) => { console.error(err); cleanup(); process.exit(1) })
