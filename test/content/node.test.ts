import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { attach } from '../../src/content/attach.js'
import { controlCall } from '../../src/cli/control-client.js'
import { commands } from '../../src/cli/commands/content.js'
import { pseudoRandom, tempDir, writeTree } from './helpers.js'

async function startNode(dataDir: string): Promise<ZeoneNode> {
  const config = validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1', legacy: false }, ops: { httpPort: -1, logLevel: 'silent' },
    content: { chunkSize: 65536, cache: { maxBytes: 4 * 1024 * 1024 } },
  })
  const node = createNode(config, { layers: [['content', attach]] })
  await node.start()
  return node
}

function io() {
  let out = ''
  let err = ''
  const w = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb() } })
  return { io: { stdout: w((s) => { out += s }), stderr: w((s) => { err += s }) }, out: () => out, err: () => err }
}
const cmd = (name: string) => commands.find((c) => c.name === name)!

test('two nodes over TCP: publish a directory through the CLI, fetch it with --from, publication survives a restart', async (t) => {
  const a = tempDir('node-a')
  const b = tempDir('node-b')
  const src = tempDir('node-src')
  const files = { 'm/weights.bin': pseudoRandom(700_000, 'nw'), 'm/tok.json': new TextEncoder().encode('{"v":1}') }
  writeTree(src.dir, files)
  let na = await startNode(a.dir)
  const nb = await startNode(b.dir)
  t.after(async () => { await na.stop(); await nb.stop(); a.cleanup(); b.cleanup(); src.cleanup() })

  const p = io()
  assert.equal(await cmd('publish').run({ positionals: [join(src.dir, 'm')], flags: { 'data-dir': a.dir } }, p.io), 0)
  const id = p.out().trim()
  assert.match(id, /^[0-9a-f]{64}$/)
  assert.match(p.err(), /no DHT attached/)

  const from = `127.0.0.1:${na.listenAddress!.port}`
  const f = io()
  const code = await cmd('fetch').run({ positionals: [id], flags: { 'data-dir': b.dir, out: join(b.dir, 'dl'), from } }, f.io)
  assert.equal(code, 0, f.err())
  // paths in the manifest are relative to the published directory
  for (const [rel, data] of Object.entries(files)) assert.deepEqual(new Uint8Array(readFileSync(join(b.dir, 'dl', rel.slice(2)))), data)

  // B now seeds it; its cache holds the verified chunks
  const listed = await controlCall(b.dir, 'GET', '/v1/content/published') as { id: string }[]
  assert.deepEqual(listed.map((x) => x.id), [id])
  const cache = await controlCall(b.dir, 'GET', '/v1/content/cache') as { chunks: number }
  assert.ok(cache.chunks >= 11)

  // a bad id and an unreachable provider are clear errors, not hangs
  await assert.rejects(controlCall(b.dir, 'POST', '/v1/content/fetch', { body: { id: 'zz', outDir: join(b.dir, 'x') } }), { code: 'bad_id' })
  await assert.rejects(controlCall(b.dir, 'POST', '/v1/content/fetch', { body: { id, outDir: join(b.dir, 'x'), from: ['127.0.0.1:1'] } }), { code: 'no_providers' })

  // restart A: the published set is restored from its data dir without re-publishing
  await na.stop()
  na = await startNode(a.dir)
  // (read through the service registry: the control client's pooled HTTP socket to the old server may linger)
  assert.deepEqual(na.services.get('content')!.store.list().map((x) => x.idHex), [id])
})
