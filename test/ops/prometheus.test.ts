/** The shipped monitoring files work against a real Prometheus (Debian's `prometheus` package): the alert rules pass
 *  `promtool check rules` and their unit tests (`promtool test rules`), and a Prometheus scraping three real nodes
 *  answers every query of the Grafana dashboard with data once the nodes have done some work (a refused connection,
 *  a content fetch, DHT lookups, inference tokens). CI sets REQUIRE_PROMETHEUS=1 so a missing binary fails. */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { controlCall } from '../../src/cli/control-client.js'
import { readApiToken } from '../../src/ops/api-token.js'
import { tinyModel } from '../cortex/helpers.js'

const have = (bin: string): boolean => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0
const required = process.env.REQUIRE_PROMETHEUS === '1'
const skip = !(have('promtool') && have('prometheus')) && !required && 'prometheus/promtool not installed'

/** The repo's ops/ folder, from test/ops (ts) or dist/test/ops (compiled). */
function opsDir(): string {
  let d = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++, d = dirname(d)) if (existsSync(join(d, 'ops', 'alerts.yml'))) return join(d, 'ops')
  throw new Error('ops/ not found above ' + fileURLToPath(import.meta.url))
}

const dirs: string[] = []
const tmp = (p: string): string => { const d = mkdtempSync(join(tmpdir(), p)); dirs.push(d); return d }
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

test('promtool: alert rules are valid and their unit tests pass; the scrape config is valid', { skip }, () => {
  const ops = opsDir()
  for (const args of [['check', 'rules', 'alerts.yml'], ['test', 'rules', 'alerts.test.yml'], ['check', 'config', 'prometheus.yml']]) {
    const r = spawnSync('promtool', args, { cwd: ops, encoding: 'utf8' })
    assert.equal(r.status, 0, `promtool ${args.join(' ')}:\n${r.stdout}${r.stderr}`)
  }
})

async function freePort(): Promise<number> {
  const s = createServer()
  s.listen(0, '127.0.0.1')
  await once(s, 'listening')
  const port = (s.address() as { port: number }).port
  await new Promise((r) => s.close(r))
  return port
}

interface PromResult { metric: Record<string, string>; value: [number, string] }
async function query(base: string, q: string): Promise<PromResult[]> {
  const r = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`)
  const body = await r.json() as { status: string; data?: { result: PromResult[] }; error?: string }
  assert.equal(body.status, 'success', `query ${q}: ${body.error}`)
  return body.data!.result
}

/** Polls until `ok` holds. Bounded by attempts (generous: minutes on a loaded machine) so a query that never gets
 *  data fails naming itself instead of hanging until the runner's timeout. */
async function until<T>(label: string, what: () => Promise<T>, ok: (v: T) => boolean, alive: () => void = () => {}): Promise<T> {
  let last: unknown
  for (let i = 0; i < 240; i++) {
    alive()
    const v = await what().catch((e: unknown) => { last = e; return undefined })
    if (v !== undefined) { if (ok(v)) return v; last = v }
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`never true: ${label}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`)
}

test('a real Prometheus scraping three nodes answers every Grafana dashboard query with data', { skip, timeout: 240_000 }, async (t) => {
  const model = tinyModel({ family: 'llama', layers: 2, kvHeads: 2, seed: 5 })
  t.after(() => model.cleanup())
  const nodes: ZeoneNode[] = []
  t.after(async () => { for (const n of nodes.reverse()) await n.stop() })
  const start = async (extra: Record<string, unknown>, bootstrap: string[] = []): Promise<ZeoneNode> => {
    const dataDir = tmp('zeone-prom-node-')
    const n = createNode(validateConfig({ dataDir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap }, ops: { httpPort: 0, logLevel: 'silent' }, dht: { staticPuzzleBits: 0 }, ...extra }))
    nodes.push(n)
    await n.start()
    return n
  }
  const a = await start({ cortex: { serve: [{ path: model.dir, modelId: 'tiny', layers: '0:2' }] } })
  const seed = [`127.0.0.1:${a.listenAddress!.port}`]
  const b = await start({}, seed)
  const c = await start({}, seed)

  const work = tmp('zeone-prom-')
  const ops = opsDir()
  const promPort = await freePort()
  const targets = nodes.map((n) => `127.0.0.1:${n.httpAddress!.port}`)
  // the shipped config with the test's targets and a 1 s scrape, so rate() has samples within seconds
  const config = readFileSync(join(ops, 'prometheus.yml'), 'utf8')
    .replace(/scrape_interval: 15s/, 'scrape_interval: 1s').replace(/evaluation_interval: 15s/, 'evaluation_interval: 1s')
    .replace(/- alerts\.yml/, `- ${join(ops, 'alerts.yml')}`)
    .replace(/- 127\.0\.0\.1:9468/, targets.map((x) => `- ${x}`).join('\n          '))
  writeFileSync(join(work, 'prometheus.yml'), config)
  mkdirSync(join(work, 'data'))
  let log = ''
  const prom: ChildProcess = spawn('prometheus', [`--config.file=${join(work, 'prometheus.yml')}`, `--storage.tsdb.path=${join(work, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`, '--storage.tsdb.retention.time=1h'], { stdio: ['ignore', 'ignore', 'pipe'] })
  prom.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-4000) })
  t.after(async () => { if (prom.exitCode === null) { prom.kill('SIGTERM'); await once(prom, 'exit') } })
  const base = `http://127.0.0.1:${promPort}`

  // Prometheus is up and has scraped all three nodes twice before the work starts, so rates see the counters move
  await until('three targets scraped twice', () => query(base, 'count_over_time(up{job="zeone"}[1m]) >= 2'), (r) => r.length === 3,
    () => { if (prom.exitCode !== null) throw new Error(`prometheus exited ${prom.exitCode}:\n${log}`) })

  // work the fleet does: a refused connection (bad magic) on each node, a content fetch b <- a, inference on a
  for (const n of nodes) {
    const s = connect(n.listenAddress!.port, '127.0.0.1')
    await once(s, 'connect')
    s.end(Buffer.alloc(64, 0x58))
    await once(s, 'close')
  }
  const src = join(work, 'blob.bin')
  writeFileSync(src, Buffer.alloc(3 << 20, 7).map((_, i) => (i * 2654435761) >>> 24))
  const pub = await controlCall(a.dataDir, 'POST', '/v1/content/publish', { body: { path: src } }) as { id: string }
  const job = await controlCall(b.dataDir, 'POST', '/v1/content/fetch', { body: { id: pub.id, outDir: join(work, 'dl'), from: seed } }) as { job: string }
  const done = await until('fetch job ends', () => controlCall(b.dataDir, 'GET', `/v1/content/jobs?job=${job.job}`) as Promise<{ state: string; result?: { files: string[] }; error?: unknown }>, (j) => j.state !== 'running')
  assert.equal(done.state, 'done', JSON.stringify(done.error))
  assert.deepEqual(readFileSync(done.result!.files[0]!), readFileSync(src))
  const chat = await fetch(`http://127.0.0.1:${a.httpAddress!.port}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${readApiToken(a.dataDir)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }], max_tokens: 8 }),
  })
  assert.equal(chat.status, 200, await chat.clone().text())
  await chat.text()

  // the work shows up in the raw series
  for (const q of ['sum(zeone_refusals_total{reason="bad_magic"}) >= 3', 'zeone_content_fetched_bytes_total > 3000000',
    'zeone_cortex_stage_tokens_total > 0', 'sum(zeone_dht_lookup_seconds_count) > 0', 'min(zeone_peers_connected) > 0']) {
    await until(q, () => query(base, q), (r) => r.length > 0)
  }

  // every dashboard query returns at least one series (as Grafana would run it: all instances, a short rate window)
  const dash = JSON.parse(readFileSync(join(ops, 'grafana', 'zeone-fleet.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[]; templating: { list: { name: string }[] } }
  assert.deepEqual(dash.templating.list.map((v) => v.name).sort(), ['datasource', 'instance'])
  const exprs = dash.panels.flatMap((p) => p.targets.map((x) => ({ title: p.title, expr: x.expr.replaceAll('$instance', '.*').replaceAll('$__rate_interval', '15s') })))
  assert.ok(exprs.length >= 11)
  for (const { title, expr } of exprs) {
    await until(`${title}: ${expr}`, () => query(base, expr), (v) => v.length > 0)
  }
  // the fetch and the inference show as non-zero rates on the panels while they are in the window
  const fetchPanel = exprs.find((e) => e.title === 'Content fetch throughput')!.expr.replace('[15s]', '[10m]')
  assert.ok((await query(base, fetchPanel)).some((s) => Number(s.value[1]) > 0))
  const tokPanel = exprs.find((e) => e.title === 'Inference tokens/s')!.expr.replace('[15s]', '[10m]')
  assert.ok((await query(base, tokPanel)).some((s) => Number(s.value[1]) > 0))

  // the alert rules are loaded and evaluated by this Prometheus
  const rules = await until('rules loaded and healthy', async () => (await (await fetch(`${base}/api/v1/rules`)).json()) as { data: { groups: { name: string; rules: { name: string; health: string }[] }[] } },
    (v) => v.data.groups.some((g) => g.rules.every((r) => r.health === 'ok')))
  const group = rules.data.groups.find((g) => g.name === 'zeone')!
  assert.deepEqual(group.rules.map((r) => r.name).sort(), ['ZeoneDiskFull', 'ZeoneDiskNearlyFull', 'ZeoneHandshakeFailures', 'ZeoneLedgerFlushFailures', 'ZeoneNoPeers', 'ZeoneNodeDown', 'ZeoneRefusalSpike'])
  // the fleet is healthy: no alert fires
  assert.deepEqual(await query(base, 'ALERTS{alertstate="firing"}'), [])
  void c
})
