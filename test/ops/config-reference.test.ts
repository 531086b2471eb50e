/** docs/config.md is generated from the schema: a key added without regenerating it fails here. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++, d = dirname(d)) if (existsSync(join(d, 'scripts', 'config-reference.mjs'))) return d
  throw new Error('repo root not found')
}

test('docs/config.md matches the config schema (node scripts/config-reference.mjs --check)', () => {
  const r = spawnSync(process.execPath, [join(repoRoot(), 'scripts', 'config-reference.mjs'), '--check'], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr + r.stdout)
  assert.match(r.stdout, /\d+ documented keys/)
})
