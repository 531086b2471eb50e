#!/usr/bin/env node
// Issue 18's "how good" figures in one run, as a new operator meets them: clone this checkout's HEAD into a temp dir,
// `npm ci`, then time `npm start` to the banner (first start mints the identity; then a restart), `zeone help` and
// `zeone dht get` against the running node. Prints a markdown table (and JSON with --json) with the machine and its
// load, since on a shared VM wall time mostly measures the neighbours: CPU seconds (user+sys) are reported beside it.
//
//   node scripts/measure-first-hour.mjs [--repo DIR] [--runs N] [--keep] [--json] [--omit-optional] [--empty-cache]
//
// --empty-cache: `npm ci` with a new, empty npm cache (every tarball downloaded), as a first install on a new machine.
//
// Only committed files are measured (it clones). Every process it starts is stopped before it exits, also on failure.
import { spawn, spawnSync } from 'node:child_process'
import { cpus, loadavg, tmpdir } from 'node:os'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'

const argv = process.argv.slice(2)
const flag = (n) => argv.includes(`--${n}`)
const opt = (n, d) => { const i = argv.indexOf(`--${n}`); return i >= 0 && argv[i + 1] ? argv[i + 1] : d }
const repo = resolve(opt('repo', new URL('..', import.meta.url).pathname))
const runs = Math.max(1, Number(opt('runs', '5')))
const work = mkdtempSync(join(tmpdir(), 'zeone-first-hour-'))
const dir = join(work, 'zeone')
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined
const children = new Set()
const cleanup = () => {
  for (const c of children) { try { process.kill(-c.pid, 'SIGKILL') } catch { /* gone */ } }
  if (!flag('keep')) rmSync(work, { recursive: true, force: true })
}
process.on('exit', cleanup)
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(130))

const load = () => loadavg()[0].toFixed(1)
const sec = (ms) => (ms / 1000).toFixed(2)

/** Runs a command to completion: wall seconds and, with /usr/bin/time, user+sys CPU seconds of it and its children. */
function timed(cmd, args, opts = {}) {
  const started = performance.now()
  const full = TIME ? [TIME, ['-f', '@@cpu %U %S', cmd, ...args]] : [cmd, args]
  const r = spawnSync(full[0], full[1], { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20, ...opts })
  const wall = performance.now() - started
  const m = /@@cpu ([\d.]+) ([\d.]+)/.exec(r.stderr ?? '')
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${(r.stderr ?? '').slice(-2000)}`)
  return { wall, cpu: m ? (Number(m[1]) + Number(m[2])) * 1000 : undefined, stdout: r.stdout }
}

/** user+sys CPU ms of a live process (Linux /proc; undefined elsewhere). */
function procCpu(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10 // clock ticks of 10 ms, children included
  } catch { return undefined }
}

/** Starts a long-running command, resolves with its wall ms to the `listening:` banner line; `stop()` ends it. */
function toBanner(cmd, args) {
  const started = performance.now()
  const c = spawn(cmd, args, { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(c)
  let out = ''
  let err = ''
  const exit = new Promise((res) => c.on('exit', (code, sig) => { children.delete(c); res(code ?? sig) }))
  const stop = async () => { try { process.kill(-c.pid, 'SIGTERM') } catch { /* gone */ } return exit }
  return new Promise((res, rej) => {
    c.stderr.on('data', (d) => { err += d })
    c.stdout.on('data', (d) => {
      out += d
      if (/^listening: /m.test(out)) {
        const wall = performance.now() - started
        // npm start: the node is the deepest process of the group; sum the whole group's CPU
        const cpu = groupCpu(c.pid)
        res({ wall, cpu, out, stop })
      }
    })
    exit.then((code) => rej(new Error(`${cmd} ${args.join(' ')} exited ${code} before its banner:\n${err.slice(-2000)}`)))
  })
}

/** CPU ms of every live process in the process group `pgid` (npm, sh, node). */
function groupCpu(pgid) {
  let total = 0
  let any = false
  try {
    for (const p of spawnSync('ps', ['-o', 'pid=', '-g', String(pgid)], { encoding: 'utf8' }).stdout.split('\n')) {
      const ms = p.trim() ? procCpu(Number(p)) : undefined
      if (ms !== undefined) { total += ms; any = true }
    }
  } catch { /* no ps */ }
  return any ? total : undefined
}

/**
 * npm ci's split from its --timing log: download+unpack (reify:unpack), the better-sqlite3 install script (a
 * source build when no prebuilt binary is reachable), the other install scripts, and what follows reify (this
 * package's `prepare`, the tsc build), plus the registry requests made.
 */
function npmPhases(dir, clone) {
  try {
    const log = readdirSync(dir).filter((f) => f.endsWith('-debug-0.log')).sort().pop()
    const text = readFileSync(join(dir, log), 'utf8')
    const steps = new Map()
    for (const m of text.matchAll(/timing (\S+) Completed in (\d+)ms/g)) steps.set(m[1], Number(m[2]))
    const fetches = [...text.matchAll(/http fetch GET \d+ (\S+) (\d+)ms/g)]
    const packuments = fetches.filter((m) => !m[1].includes('/-/')).length
    const sqlite = steps.get('build:run:install:node_modules/better-sqlite3') ?? 0
    const scripts = (steps.get('build') ?? 0) - sqlite
    const after = (steps.get('command:ci') ?? 0) - (steps.get('reify') ?? 0)
    // object files are left only by a source build (a downloaded prebuilt binary comes without them)
    const prebuilt = existsSync(join(clone, 'node_modules', 'better-sqlite3', 'build', 'Release', 'obj.target')) ? ' (compiled from source: no prebuilt binary reachable)' : ''
    return {
      text: `download+unpack ${sec(steps.get('reify:unpack') ?? 0)} s, better-sqlite3 install${prebuilt} ${sec(sqlite)} s, other install scripts ${sec(scripts)} s, prepare (tsc build) ${sec(after)} s; ${fetches.length} registry GETs (${packuments} package metadata)`,
      unpack: steps.get('reify:unpack'), sqlite, scripts, prepare: after, gets: fetches.length,
    }
  } catch (err) { return { text: `(no npm timing log: ${err.message})` } }
}

function repeat(n, f) {
  const rs = []
  for (let i = 0; i < n; i++) rs.push(f())
  const walls = rs.map((r) => r.wall).sort((a, b) => a - b)
  const cpus = rs.map((r) => r.cpu).filter((x) => x !== undefined).sort((a, b) => a - b)
  return { min: walls[0], median: walls[Math.floor(walls.length / 2)], max: walls[walls.length - 1], cpuMedian: cpus[Math.floor(cpus.length / 2)], runs: n }
}

const rows = []
const row = (what, wall, cpu, target, extra = '') => rows.push({ what, wall, cpu, target, extra, load: load() })
const machine = `${cpus().length} vCPU ${cpus()[0]?.model.trim() ?? '?'}, Node ${process.version}`
const t0 = Date.now()

spawnSync('git', ['clone', '--quiet', repo, dir], { stdio: 'inherit' })
if (!existsSync(join(dir, 'package.json'))) throw new Error(`git clone ${repo} failed`)
const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: dir, encoding: 'utf8' }).stdout.trim()

// its own logs dir: npm keeps 10 logs per dir and other npm runs on the machine would rotate this one away
const logs = join(work, 'npm-logs')
const cache = flag('empty-cache') ? ['--cache', join(work, 'npm-cache')] : []
const ci = timed('npm', ['ci', '--no-audit', '--no-fund', '--timing', `--logs-dir=${logs}`, ...cache, ...(flag('omit-optional') ? ['--omit=optional'] : [])])
const phases = npmPhases(logs, dir)
const size = spawnSync('du', ['-sm', 'node_modules'], { cwd: dir, encoding: 'utf8' }).stdout.split('\t')[0]
row(`\`npm ci\`${flag('omit-optional') ? ' --omit=optional' : ''}${cache.length ? ' with an empty npm cache' : ''} (builds dist/ in \`prepare\`)`, ci.wall, ci.cpu, 180_000, `node_modules ${size} MB; ${phases.text}`)
const fresh = spawnSync(process.execPath, ['scripts/build-if-stale.mjs', '--check'], { cwd: dir, encoding: 'utf8' }).stdout.trim()
if (fresh !== 'fresh') { const b = timed(process.execPath, ['scripts/build-if-stale.mjs']); row('build left for `npm start`', b.wall, b.cpu, undefined) }

// the literal first start: npm start in the clone, data in ./.zeone, a new identity (S/Kademlia puzzle)
const first = await toBanner('npm', ['start', '--silent'])
row('`npm start` to the banner, first start (new identity)', first.wall, first.cpu, 5000)
try {
  const dataDir = join(dir, '.zeone')
  const zeone = (...a) => timed(process.execPath, ['bin/zeone.js', ...a])
  zeone('dht', 'put', '--data-dir', dataDir, 'first-hour', 'hello')
  const help = repeat(runs, () => zeone('help'))
  const get = repeat(runs, () => zeone('dht', 'get', '--data-dir', dataDir, 'first-hour'))
  row(`\`zeone help\` (median of ${runs}; min ${sec(help.min)} s)`, help.median, help.cpuMedian, 300)
  row(`\`zeone dht get\` against the node (median of ${runs}; min ${sec(get.min)} s)`, get.median, get.cpuMedian, 500)
} finally {
  const code = await first.stop()
  if (code !== 0 && code !== 'SIGTERM') console.error(`npm start exited ${code} on SIGTERM`)
}
const again = await toBanner('npm', ['start', '--silent'])
row('`npm start` to the banner, restart', again.wall, again.cpu, 5000)
await again.stop()
const bare = await toBanner(process.execPath, ['bin/zeone.js', 'start'])
row('`zeone start` to the banner, restart (no npm)', bare.wall, bare.cpu, undefined)
await bare.stop()
const node0 = repeat(runs, () => timed(process.execPath, ['-e', '0']))
row(`\`node -e 0\` (the floor; median of ${runs})`, node0.median, node0.cpuMedian, undefined)

const when = new Date(t0).toISOString().slice(0, 16).replace('T', ' ')
const lines = [
  `Measured by \`node scripts/measure-first-hour.mjs\` on ${when} UTC, clone of ${head}: ${machine}.`,
  '',
  '| what | wall | CPU (user+sys) | load | target |',
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.what}${r.extra ? `; ${r.extra}` : ''} | ${sec(r.wall)} s | ${r.cpu === undefined ? '-' : `${sec(r.cpu)} s`} | ${r.load} | ${r.target === undefined ? '-' : `<= ${sec(r.target).replace(/\.00$/, '')} s${r.wall <= r.target ? ': met' : ': not met'}`} |`),
]
console.log(lines.join('\n'))
if (flag('json')) console.log(JSON.stringify({ machine, head, when, rows }, null, 2))
