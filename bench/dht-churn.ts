/**
 * Real-process DHT churn (issue 16 "How good"): N node processes on loopback, R records, then D seconds of churn:
 * every K seconds one random node (never the seed) is killed with SIGKILL and restarted DOWN seconds later on the
 * same data directory; meanwhile readers fetch random records pinned to their publisher and writers update them.
 * Reports lost reads (not found), stale reads (an older value than one acknowledged before the read began), and for
 * every restart the seconds from the restart (process start included; `spawnS` is that part) until its table is back
 * to the size it had before the kill ("full").
 *
 *   npm run bench -- dht-churn [--nodes 30] [--records 60] [--seconds 600] [--kill-every 28] [--down 5]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { controlCall } from '../src/cli/control-client.js'
import { killAll, killHard, nodeConfig, spawnNode, type Proc } from '../test/dht/spawn-node.js'

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : dflt
}
const NODES = arg('nodes', 30)
const RECORDS = arg('records', 60)
const SECONDS = arg('seconds', 600)
const KILL_EVERY = arg('kill-every', 28)
const DOWN = arg('down', 5)
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface Slot { proc: Proc | undefined; dir: string; up: boolean }
interface Rec { key: string; owner: number; publisher: string; value: string; version: number; ackedAt: number; values: string[] }

const dirs: string[] = []
const cleanup = (): void => { killAll(); for (const d of dirs) rmSync(d, { recursive: true, force: true }) }
process.on('exit', cleanup)
process.on('SIGINT', () => process.exit(130))

const mk = (): string => { const d = mkdtempSync(join(tmpdir(), 'zdc-')); dirs.push(d); return d }
const tableSize = (p: Proc): Promise<number> => controlCall(p.dir, 'GET', '/v1/dht/table', { timeoutMs: 5000 }).then((r) => (r as { size: number }).size, () => -1)

async function pool<T>(items: T[], n: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: n }, async () => { for (let i = next++; i < items.length; i = next++) await fn(items[i]!, i) }))
}

const t0 = Date.now()
const slots: Slot[] = []
const seedDir = mk()
slots.push({ proc: await spawnNode(nodeConfig(seedDir, [])), dir: seedDir, up: true })
const boot = [`127.0.0.1:${slots[0]!.proc!.port}`]
for (let i = 1; i < NODES; i++) slots.push({ proc: undefined, dir: mk(), up: false })
await pool(slots.slice(1), 4, async (s) => { s.proc = await spawnNode(nodeConfig(s.dir, boot)); s.up = true })
for (let round = 0; round < 240; round++) {
  const sizes = await Promise.all(slots.map((s) => tableSize(s.proc!)))
  if (sizes.every((x) => x >= Math.min(8, NODES - 1))) break
  await sleep(250)
}
const startupS = (Date.now() - t0) / 1000

const recs: Rec[] = []
await pool(Array.from({ length: RECORDS }, (_, i) => i), 6, async (i) => {
  const owner = i % NODES
  const key = `churn-${i}`
  const value = `v0-${i}`
  await controlCall(slots[owner]!.dir, 'POST', '/v1/dht/put', { body: { key, value }, timeoutMs: 30_000 })
  const got = await controlCall(slots[owner]!.dir, 'GET', `/v1/dht/get?key=${key}`, { timeoutMs: 30_000 }) as { publisher: string }
  recs.push({ key, owner, publisher: got.publisher, value, version: 0, ackedAt: Date.now(), values: [value] })
})

const stats = { reads: 0, lost: 0, stale: 0, wrong: 0, readErrors: 0, writes: 0, writeErrors: 0, kills: 0 }
const restarts: { node: number; before: number; spawnS: number; fullS: number | null; ninetyS: number | null; restored: unknown; sizes: [number, number][] }[] = []
const end = Date.now() + SECONDS * 1000
const alive = (): number[] => slots.map((s, i) => (s.up ? i : -1)).filter((i) => i >= 0)
const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!

async function reader(): Promise<void> {
  while (Date.now() < end) {
    const r = pick(recs)
    const at = pick(alive())
    const expected = r.value
    const startedAt = Date.now()
    try {
      const res = await controlCall(slots[at]!.dir, 'GET', `/v1/dht/get?key=${r.key}&publisher=${encodeURIComponent(r.publisher)}`, { timeoutMs: 30_000 }) as { found: boolean; value?: { utf8?: string } }
      if (!slots[at]!.up) continue // killed under us: says nothing about the DHT
      stats.reads++
      const v = res.value?.utf8 ?? ''
      // values holds every value ever written, in order, including one whose put is still in flight
      const got = r.values.indexOf(v)
      if (!res.found) stats.lost++
      else if (got < 0) stats.wrong++
      else if (got < r.values.indexOf(expected) && r.ackedAt < startedAt) stats.stale++
    } catch { if (slots[at]!.up) stats.readErrors++ }
  }
}

async function writer(): Promise<void> {
  while (Date.now() < end) {
    await sleep(2000)
    const r = pick(recs)
    if (!slots[r.owner]!.up) continue
    const value = `v${r.version + 1}-${r.key}`
    r.values.push(value)
    try {
      await controlCall(slots[r.owner]!.dir, 'POST', '/v1/dht/put', { body: { key: r.key, value }, timeoutMs: 30_000 })
      r.version++
      r.value = value
      r.ackedAt = Date.now()
      stats.writes++
    } catch { stats.writeErrors++ }
  }
}

async function churner(): Promise<void> {
  while (Date.now() + (KILL_EVERY + DOWN) * 1000 < end) {
    await sleep(KILL_EVERY * 1000)
    const victims = alive().filter((i) => i !== 0 && !recs.some((r) => r.owner === i && r.ackedAt > Date.now() - 1000))
    if (victims.length === 0) continue
    const i = pick(victims)
    const s = slots[i]!
    const before = await tableSize(s.proc!)
    s.up = false
    await killHard(s.proc!)
    stats.kills++
    await sleep(DOWN * 1000)
    const restartAt = Date.now()
    // restarted with the same bootstrap as a fresh node, on the same data directory
    s.proc = await spawnNode(nodeConfig(s.dir, boot))
    s.up = true
    // process start (loading the node's modules) is counted apart: on a loaded 2-vCPU box it dominates
    const spawnS = (Date.now() - restartAt) / 1000
    const entry = { node: i, before, spawnS, fullS: null as number | null, ninetyS: null as number | null, restored: undefined as unknown, sizes: [] as [number, number][] }
    restarts.push(entry)
    void (async () => {
      const proc = s.proc!
      while (Date.now() - restartAt < 60_000 && proc === s.proc) {
        const n = await tableSize(proc)
        const el = (Date.now() - restartAt) / 1000
        if (entry.sizes[entry.sizes.length - 1]?.[1] !== n) entry.sizes.push([el, n])
        // full: the pre-kill size, or every other node that is up now when some are down (killed or restarting)
        const target = Math.min(before, alive().length - 1)
        if (entry.ninetyS === null && n >= 0.9 * target) entry.ninetyS = el
        if (n >= target) { entry.fullS = el; break }
        await sleep(250)
      }
      entry.restored = await controlCall(proc.dir, 'GET', '/v1/dht/table', { timeoutMs: 5000 }).then((r) => (r as { restored?: unknown }).restored, () => undefined)
    })()
  }
}

await Promise.all([reader(), reader(), reader(), writer(), churner()])
await sleep(3000)
const full = restarts.map((r) => r.fullS).filter((x): x is number => x !== null).sort((a, b) => a - b)
console.log(JSON.stringify({
  bench: 'dht-churn', nodes: NODES, records: RECORDS, seconds: SECONDS, killEveryS: KILL_EVERY, downS: DOWN, startupS,
  ...stats,
  restarts: restarts.length,
  restartsFullWithin30s: full.filter((x) => x <= 30).length,
  restartFullS: { p50: full[Math.floor(full.length / 2)] ?? null, max: full[full.length - 1] ?? null, neverFull: restarts.length - full.length },
  perRestart: restarts,
}, null, 1))
await Promise.all(slots.map((s) => (s.proc ? killHard(s.proc) : undefined)))
process.exit(0)
