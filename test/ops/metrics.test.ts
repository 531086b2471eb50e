/** The node's /metrics exposition passes Prometheus's own linter (`promtool check metrics`, Debian's prometheus
 *  package). CI installs it and sets REQUIRE_PROMETHEUS=1 so a missing promtool fails instead of skipping. */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'

const havePromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0
const required = process.env.REQUIRE_PROMETHEUS === '1'
const dirs: string[] = []
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

test('GET /metrics passes promtool check metrics (no *_total gauges, valid names and help)', { skip: !havePromtool && !required && 'promtool not installed' }, async () => {
  assert.ok(havePromtool, 'promtool is required (apt install prometheus)')
  const dataDir = mkdtempSync(join(tmpdir(), 'zeone-metrics-'))
  dirs.push(dataDir)
  const node = createNode(validateConfig({ dataDir, node: { port: 0, host: '127.0.0.1', legacy: false }, ops: { httpPort: 0, logLevel: 'silent' } }))
  await node.start()
  try {
    const body = await (await fetch(`http://127.0.0.1:${node.httpAddress!.port}/metrics`)).text()
    assert.match(body, /^# TYPE zeone_nodejs_active_handles gauge$/m)
    assert.doesNotMatch(body, /^zeone_nodejs_active_\w+_total /m)
    const r = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' })
    assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`)
  } finally { await node.stop() }
})
