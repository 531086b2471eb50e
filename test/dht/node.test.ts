import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { ZeoneNode } from '../../src/node.js'
import { startDhtNode } from './start-node.js'
import { commands } from '../../src/cli/commands/dht.js'

function io() {
  let out = ''
  const w = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb() } })
  return { io: { stdout: w((s) => { out += s }), stderr: w(() => {}) }, out: () => out }
}
const run = async (name: string, positionals: string[], flags: Record<string, string | boolean>): Promise<{ code: number; out: string }> => {
  const o = io()
  const code = await commands.find((c) => c.name === name)!.run({ positionals, flags }, o.io)
  return { code, out: o.out() }
}
const until = async (cond: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 600 && !cond(); i++) await new Promise((r) => setTimeout(r, 25))
  assert.ok(cond(), what)
}

test('five nodes over TCP: zeone dht put/get/provide/providers/table through the control API; table persists', async (t) => {
  const dirs = Array.from({ length: 5 }, () => mkdtempSync(join(tmpdir(), 'zeone-dht-node-')))
  const nodes: ZeoneNode[] = []
  t.after(async () => {
    for (const n of nodes) await n.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
  nodes.push(await startDhtNode(dirs[0]!, []))
  const seed = `127.0.0.1:${nodes[0]!.listenAddress!.port}`
  for (let i = 1; i < 5; i++) nodes.push(await startDhtNode(dirs[i]!, [seed]))
  for (const n of nodes) await until(() => (n.services.get('dht')?.table.size ?? 0) >= 3, `tables fill through bootstrap: ${nodes.map((m) => m.services.get('dht')?.table.size)}`)

  const put = await run('dht put', ['greeting', 'hello dht'], { 'data-dir': dirs[1]!, json: true })
  assert.equal(put.code, 0)
  const putR = JSON.parse(put.out) as { storedOn: number; publisher: string }
  assert.ok(putR.storedOn >= 3)
  const got = await run('dht get', ['greeting'], { 'data-dir': dirs[4]!, publisher: putR.publisher })
  assert.equal(got.out.trim(), 'hello dht')
  // without --publisher a get reads this node's own record: node 4 never published one
  assert.equal((await run('dht get', ['greeting'], { 'data-dir': dirs[4]! })).code, 1)
  assert.equal((await run('dht get', ['greeting'], { 'data-dir': dirs[1]! })).out.trim(), 'hello dht')
  assert.equal((await run('dht get', ['missing-key'], { 'data-dir': dirs[3]! })).code, 1)

  assert.equal((await run('dht provide', ['service:echo'], { 'data-dir': dirs[2]!, data: 'v=1' })).code, 0)
  const prov = await run('dht providers', ['service:echo'], { 'data-dir': dirs[3]!, json: true })
  const list = (JSON.parse(prov.out) as { providers: { nodeId: string; addrs: { host: string; port: number }[] }[] }).providers
  assert.equal(list.length, 1)
  assert.equal(list[0]!.nodeId, nodes[2]!.identity!.nodeIdB64)
  assert.deepEqual(list[0]!.addrs, [{ host: '127.0.0.1', port: nodes[2]!.listenAddress!.port }])
  // the ProviderDirectory service sees the same record
  const pd = await nodes[0]!.services.get('providers')!.findProviders(new Uint8Array((await import('../../src/dht/id.js')).keyOfString('service:echo')))
  assert.equal(pd.length, 1)

  const table = await run('dht table', [], { 'data-dir': dirs[0]! })
  assert.match(table.out, /contacts/)

  // restart node 4: its saved peers are re-validated and its stored record comes back from SQLite
  const size = nodes[4]!.services.get('dht')!.table.size
  await nodes[4]!.stop()
  nodes[4] = await startDhtNode(dirs[4]!, [])
  await until(() => nodes[4]!.services.get('dht')!.table.size >= Math.min(3, size), 'restored peers re-validated')
  const again = await run('dht get', ['greeting'], { 'data-dir': dirs[4]!, publisher: putR.publisher })
  assert.equal(again.out.trim(), 'hello dht')
})
