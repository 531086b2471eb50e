/**
 * Issue 23 item 7: the shared-memory chunk copies belong to each node's content service (no process-wide pool), so
 * two nodes in one process neither share nor free each other's buffers, and a stopped node holds none.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { attach } from '../../src/content/attach.js'
import { commands } from '../../src/cli/commands/content.js'
import { SlabPool } from '../../src/transport/slab-pool.js'
import { pseudoRandom, tempDir, writeTree } from './helpers.js'

async function startNode(dataDir: string): Promise<ZeoneNode> {
  const config = validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1', legacy: false }, ops: { httpPort: -1, logLevel: 'silent' },
    // chunks large enough, and enough of them, that downloads hash on a worker thread over shared-memory copies
    content: { chunkSize: 256 * 1024, cache: { enabled: false } },
  })
  const node = createNode(config, { layers: [['content', attach]] })
  await node.start()
  return node
}

const quiet = () => { const w = new Writable({ write(_c, _e, cb) { cb() } }); return { stdout: w, stderr: w } }
const cmd = (name: string) => commands.find((c) => c.name === name)!

async function publishAndFetch(from: ZeoneNode, fromDir: string, toDir: string, file: string, seed: string): Promise<void> {
  const src = join(fromDir, `src-${seed}`)
  writeTree(src, { [file]: pseudoRandom(12 * 256 * 1024 + 5, seed) })
  const { pub } = await from.services.get('content')!.publish(join(src, file))
  const addr = `127.0.0.1:${from.listenAddress!.port}`
  const code = await cmd('fetch').run({ positionals: [pub.idHex], flags: { 'data-dir': toDir, out: join(toDir, `dl-${seed}`), from: addr } }, quiet())
  assert.equal(code, 0)
}

test('SlabPool.close lets go of its buffers and keeps none given back later', () => {
  const p = new SlabPool(1 << 20)
  const a = p.take(1000)
  p.give(a)
  assert.ok(p.bytes > 0)
  p.close()
  assert.equal(p.bytes, 0)
  p.give(p.take(1000))
  assert.equal(p.bytes, 0)
})

test('two nodes in one process own their chunk-copy pools and free them on stop, independently', async (t) => {
  const a = tempDir('pool-a')
  const b = tempDir('pool-b')
  const na = await startNode(a.dir)
  const nb = await startNode(b.dir)
  t.after(async () => { await na.stop(); await nb.stop(); a.cleanup(); b.cleanup() })
  const pa = na.services.get('content')!.chunkCopies
  const pb = nb.services.get('content')!.chunkCopies
  assert.notEqual(pa, pb)

  await publishAndFetch(na, a.dir, b.dir, 'x.bin', 'x') // b downloads from a
  await publishAndFetch(nb, b.dir, a.dir, 'y.bin', 'y') // a downloads from b
  const threaded = availableParallelism() > 1
  if (threaded) {
    // the downloads hashed on a thread: their copies went back to their own node's pool
    assert.ok(pa.bytes > 0, 'a kept its copies for its next download')
    assert.ok(pb.bytes > 0, 'b kept its copies for its next download')
  } else {
    t.diagnostic('single core: downloads hash inline and take no shared-memory copies')
  }
  const held = pa.bytes

  await nb.stop()
  assert.equal(pb.bytes, 0, 'stopped node b holds no chunk copies')
  assert.equal(pa.bytes, held, 'stopping b left a pool untouched')
  assert.equal(na.state, 'running')
  await na.stop()
  assert.equal(pa.bytes, 0, 'stopped node a holds no chunk copies')
})
