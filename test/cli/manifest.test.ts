// The generated command manifest (src/cli/manifest.ts) is what `zeone` dispatches through: it must list every
// command exactly as the command modules define it, and each entry must load its command.
import { it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { manifestPath, manifestSource } from '../../src/cli/manifest-gen.js'
import { loaders, manifest } from '../../src/cli/manifest.js'
import { allCommands } from '../../src/cli/commands/index.js'
import { helpText } from '../../src/cli/main.js'
import { clientSocketPath } from '../../src/cli/control-client.js'
import { controlSocketPath } from '../../src/ops/control-server.js'

it('the committed manifest is what manifest-gen writes from the command modules (else: node dist/src/cli/manifest-gen.js)', () => {
  assert.equal(readFileSync(manifestPath(), 'utf8'), manifestSource(),
    'src/cli/manifest.ts is stale: regenerate it with `npx tsc -p tsconfig.json && node dist/src/cli/manifest-gen.js`')
})

it('the manifest lists every command in help order, and help from it is the help of the full command list', () => {
  assert.deepEqual(manifest.map((e) => [e.name, e.summary, e.usage]), allCommands.map((c) => [c.name, c.summary, c.usage]))
  assert.equal(helpText(manifest), helpText(allCommands))
})

it('each manifest entry loads its own command from the module it names', async () => {
  for (const e of manifest) {
    const { commands } = await loaders[e.module]!()
    const c = commands.find((x) => x.name === e.name)
    assert.ok(c, `${e.name} is in commands/${e.module}`)
    assert.equal(c.usage, e.usage)
  }
})

it('the client spells the control socket path as the server does', () => {
  for (const d of ['/tmp/x', 'rel/dir', '/a b/c']) assert.equal(clientSocketPath(d), controlSocketPath(d))
})

it('manifestSource is derived from its input (a renamed command changes the text)', () => {
  const one = { a: [{ name: 'x y', summary: 's', usage: 'x y Z' }] }
  const src = manifestSource(one)
  assert.match(src, /"a": \(\) => import\('\.\/commands\/a\.js'\)/)
  assert.match(src, /name: "x y", module: "a"/)
  assert.notEqual(src, manifestSource({ a: [{ ...one.a[0]!, name: 'x z' }] }))
})
