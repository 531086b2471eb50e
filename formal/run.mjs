#!/usr/bin/env node
// Runs every configuration of formal/handshake.m with Rumur: the design runs must be proven (no invariant fails),
// the flawed variants and the documented findings must fail on the named invariant. Each counterexample trace is
// written to <out>/<name>.trace. Prints one line per run (result, states, rules, seconds) and exits 1 on any
// surprise. Usage: node formal/run.mjs [--out DIR] [--json FILE] [name-substring ...]
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const MODEL = join(here, 'handshake.m')

const HANDSHAKE_CHECKS = {
  CHECK_SECRECY: 1, CHECK_AGREE_I: 1, CHECK_AGREE_R: 1, CHECK_NO_DOWNGRADE: 1, CHECK_NO_REPLAY_SESSION: 1,
}
const NONE = {
  CHECK_SECRECY: 0, CHECK_AGREE_I: 0, CHECK_AGREE_R: 0, CHECK_NO_DOWNGRADE: 0, CHECK_NO_REPLAY_SESSION: 0,
  CHECK_NO_REPLAY_ANSWER: 0, CHECK_NO_REPLAY_ANSWER_CLEAN: 0, CHECK_DATA_ORDER: 0, CHECK_DATA_NO_GAP: 0,
}

/** expect: 'pass' = every invariant holds; otherwise the start of the invariant's name that must fail. */
export const RUNS = [
  { name: 'design-handshake', expect: 'pass', what: 'the code: store saved periodically and on stop, one restart of B (graceful or kill -9), no data phase',
    set: { ...NONE, ...HANDSHAKE_CHECKS, CHECK_NO_REPLAY_ANSWER_CLEAN: 1, STORE_MODE: 1, RESTARTS: 1, DATA_PHASE: 0 } },
  { name: 'design-data', expect: 'pass', what: 'the code: 2 frames each way per session, replay and reorder by the intruder',
    set: { ...NONE, ...HANDSHAKE_CHECKS, CHECK_DATA_ORDER: 1, STORE_MODE: 1, RESTARTS: 0, DATA_PHASE: 1, FRAMES: 2 } },
  { name: 'design-no-store', expect: 'pass', what: 'replay store in memory only, lost on restart: the session properties still hold',
    set: { ...NONE, ...HANDSHAKE_CHECKS, STORE_MODE: 0, RESTARTS: 1, DATA_PHASE: 0, SAME_RESPONDER: 1 } },
  { name: 'design-write-through', expect: 'pass', what: 'store written before each HELLO_ACK: no replay is even answered, also after kill -9',
    set: { ...NONE, CHECK_NO_REPLAY_ANSWER: 1, STORE_MODE: 2, RESTARTS: 1, DATA_PHASE: 0, SAME_RESPONDER: 1 } },
  { name: 'finding-kill9-answers-replay', expect: 'no HELLO_ACK for a replayed HELLO (a node', what: 'the code after kill -9: a replayed HELLO gets a HELLO_ACK (but no session)',
    set: { ...NONE, CHECK_NO_REPLAY_ANSWER: 1, STORE_MODE: 1, RESTARTS: 1, DATA_PHASE: 0, SAME_RESPONDER: 1 } },
  { name: 'finding-seq-gap', expect: 'data: every accepted frame is the next', what: 'the code accepts seq 1 when seq 0 never arrived: a frame the intruder drops goes unnoticed',
    set: { ...NONE, CHECK_DATA_NO_GAP: 1, RESTARTS: 0, DATA_PHASE: 1, FRAMES: 2 } },
  { name: 'flaw-versions-unsigned', expect: 'no downgrade', what: 'version fields outside th1/th2',
    set: { ...NONE, CHECK_NO_DOWNGRADE: 1, FLAW_VERSIONS_UNSIGNED: 1, RESTARTS: 0, DATA_PHASE: 0 } },
  { name: 'flaw-sign-own-nonce-mitm', expect: 'secrecy', what: 'each side signs only its own nonce (original Python design): man in the middle',
    set: { ...NONE, CHECK_SECRECY: 1, FLAW_SIGN_OWN_NONCE: 1, RESTARTS: 0, DATA_PHASE: 0 } },
  { name: 'flaw-sign-own-nonce-replay', expect: 'no replayed HELLO completes', what: 'each side signs only its own nonce: HELLO + VERIFY replayed after a restart (store not persisted)',
    set: { ...NONE, CHECK_NO_REPLAY_SESSION: 1, FLAW_SIGN_OWN_NONCE: 1, TAMPER: 0, STORE_MODE: 0, RESTARTS: 1, DATA_PHASE: 0, SAME_RESPONDER: 1 } },
  { name: 'flaw-no-seq-check', expect: 'data: no replayed or reordered', what: 'the receiver does not check seq',
    set: { ...NONE, CHECK_DATA_ORDER: 1, FLAW_NO_SEQ_CHECK: 1, RESTARTS: 0, DATA_PHASE: 1, FRAMES: 2 } },
]

/** The model text with the @config constants replaced. */
export function configure(text, set) {
  let out = text
  for (const [k, v] of Object.entries(set)) {
    const re = new RegExp(`^(\\s*${k}:\\s*)\\d+;`, 'm')
    if (!re.test(out)) throw new Error(`model has no constant ${k}`)
    out = out.replace(re, `$1${v};`)
  }
  return out
}

export function haveChecker() {
  const r = spawnSync('rumur', ['--version'], { encoding: 'utf8' })
  const c = spawnSync('cc', ['--version'], { encoding: 'utf8' })
  return r.status === 0 && c.status === 0
}

/** The trace without the start state's full variable dump: the start rule (its configuration), then every step. */
export function compactTrace(full) {
  const ss = /^Startstate [^\n]*$/m.exec(full)
  const first = full.search(/^Rule "/m)
  const end = full.indexOf('End of the error trace.')
  if (!ss || first < 0) return full
  return `${ss[0]}\n\n${full.slice(first, end >= 0 ? end : undefined).replace(/\n-{10}\n/g, '\n').trimEnd()}\n`
}

/** Generates, compiles and runs one configuration; returns the parsed outcome. */
export function runOne(run, dir) {
  const m = join(dir, `${run.name}.m`), c = join(dir, `${run.name}.c`), bin = join(dir, run.name)
  writeFileSync(m, configure(readFileSync(MODEL, 'utf8'), run.set))
  execFileSync('rumur', ['--deadlock-detection', 'off', '--threads', '1', '--counterexample-trace', 'diff', '--colour', 'off', m, '--output', c], { stdio: 'pipe' })
  execFileSync('cc', ['-O2', '-o', bin, c, '-lpthread'], { stdio: 'pipe' })
  const t0 = process.hrtime.bigint()
  const r = spawnSync(bin, [], { encoding: 'utf8', maxBuffer: 256 << 20 })
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const text = `${r.stdout}${r.stderr}`
  const sm = /(\d+) states, (\d+) rules fired/.exec(text)
  const fm = /[Ii]nvariant "([^"]+)" failed/.exec(text)
  const failed = fm ? fm[1] : undefined
  const ok = run.expect === 'pass' ? r.status === 0 && !failed : failed !== undefined && failed.startsWith(run.expect)
  let trace
  if (failed) {
    const start = text.indexOf('The following is the error trace')
    const full = start >= 0 ? text.slice(start).replace(/\n\s*\d+ states explored[^\n]*/g, '') : text
    trace = compactTrace(full)
  }
  return { name: run.name, expect: run.expect, what: run.what, ok, status: r.status, failed, states: sm ? Number(sm[1]) : undefined, rules: sm ? Number(sm[2]) : undefined, seconds, trace, output: ok ? undefined : text.slice(-4000) }
}

function main() {
  const args = process.argv.slice(2)
  let out, json
  const filters = []
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') out = args[++i]
    else if (args[i] === '--json') json = args[++i]
    else filters.push(args[i])
  }
  if (!haveChecker()) { console.error('rumur and cc are needed (apt-get install rumur gcc)'); process.exit(2) }
  const dir = mkdtempSync(join(tmpdir(), 'zeone-formal-'))
  if (out) mkdirSync(out, { recursive: true })
  const results = []
  for (const run of RUNS.filter((r) => filters.length === 0 || filters.some((f) => r.name.includes(f)))) {
    const res = runOne(run, dir)
    results.push(res)
    const verdict = res.failed ? `fails "${res.failed}"` : 'proven'
    console.log(`${res.ok ? 'ok  ' : 'FAIL'} ${res.name.padEnd(28)} ${verdict.padEnd(60)} ${String(res.states).padStart(8)} states ${String(res.rules).padStart(9)} rules ${res.seconds.toFixed(1).padStart(6)} s`)
    if (res.trace && out) writeFileSync(join(out, `${res.name}.trace`), res.trace)
    if (!res.ok) console.log(res.output)
  }
  if (json) writeFileSync(json, JSON.stringify(results.map(({ output, ...r }) => r), null, 2))
  process.exit(results.every((r) => r.ok) ? 0 : 1)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main()
