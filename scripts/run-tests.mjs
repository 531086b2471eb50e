#!/usr/bin/env node
// Runs the compiled test suite with node's test runner. Args narrow the run: `npm test -- dht content/merkle`.
// Test files are dist/test/**/*.test.js; the spec reporter prints the pass/fail summary CI reads.
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { spawnSync } from 'node:child_process'

const root = 'dist/test'
const files = []
const walk = (d) => {
  for (const name of readdirSync(d)) {
    const p = join(d, name)
    if (statSync(p).isDirectory()) walk(p)
    else if (name.endsWith('.test.js')) files.push(p)
  }
}
walk(root)
const filters = process.argv.slice(2)
const selected = files.sort().filter((f) => filters.length === 0 || filters.some((x) => relative(root, f).includes(x)))
if (selected.length === 0) {
  console.error('no test files matched')
  process.exit(1)
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2'
// A test that leaks a handle or waits on an event that never comes fails after this instead of hanging the run.
const timeoutMs = process.env.TEST_TIMEOUT_MS ?? '600000'
const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, `--test-timeout=${timeoutMs}`, '--test-reporter=spec', ...selected], {
  stdio: 'inherit',
  env: { ...process.env, ZEONE_TEST: '1' },
})
process.exit(r.status ?? 1)
