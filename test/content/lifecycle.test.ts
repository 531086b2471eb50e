import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { renderProgress, formatBytes, ProgressMeter } from '../../src/content/progress.js'
import { ContentServer } from '../../src/content/server.js'
import { CacheServer } from '../../src/content/cache-server.js'
import { ContentStore } from '../../src/content/store.js'
import { LeafHashPool } from '../../src/content/hash-pool.js'
import { FileHandleCache } from '../../src/content/fh-cache.js'
import { Download } from '../../src/content/downloader.js'
import { leafHash } from '../../src/content/merkle.js'
import { Router } from '../../src/transport/router.js'
import { pseudoRandom, tempDir } from './helpers.js'

test('progress bar: percentage, sizes, rate and ETA fit the terminal width', () => {
  let now = 0
  const m = new ProgressMeter(100 * 1024 * 1024, 0, 100, 0, () => now)
  now = 2000
  for (let i = 0; i < 25; i++) m.add(1024 * 1024)
  const line = renderProgress(m.snapshot(4), 100)
  assert.match(line, /^\[#{5,}\.+\]  25%  25\.0 MiB\/100\.0 MiB  12\.5 MiB\/s  ETA 00:06  4 peers$/)
  assert.ok(renderProgress(m.snapshot(1), 60).length <= 80)
  assert.match(renderProgress({ bytesDone: 0, bytesTotal: 10, chunksDone: 0, chunksTotal: 1, rate: 0, etaS: undefined, providers: 1 }), /ETA --:--  1 peer$/)
  assert.equal(formatBytes(1536), '1.5 KiB')
})

test('construct then stop at once, twice: servers, caches, pools and downloads leave nothing running', async () => {
  const router = new Router()
  const s = new ContentServer({ store: new ContentStore(), router })
  s.stop(); s.stop()
  s.start() // after stop: a no-op
  assert.equal(router.has(0x46), false)
  const s2 = new ContentServer({ store: new ContentStore(), router })
  s2.start(); s2.stop(); s2.stop()
  assert.equal(router.has(0x46), false)
  const c = new CacheServer({ router })
  c.start(); c.stop(); c.stop()
  assert.equal(router.has(0x40), false)
  const pool = new LeafHashPool(1024, 2)
  await pool.close(); await pool.close()
  await assert.rejects(pool.hash(new Uint8Array(1)))
  const used = new LeafHashPool(1024, 1)
  assert.deepEqual(await used.hash(new Uint8Array([1, 2, 3])), leafHash(new Uint8Array([1, 2, 3])))
  await used.close()
  const fhc = new FileHandleCache()
  await fhc.close(); await fhc.close()
  const d = new Download({ id: new Uint8Array(32), providers: [], outDir: '/nonexistent' })
  d.cancel(); d.cancel()
})

test('file handle cache stays bounded under churn and never closes a handle in use', async (t) => {
  const { dir, cleanup } = tempDir('fhc')
  t.after(cleanup)
  const files = Array.from({ length: 20 }, (_, i) => { const p = join(dir, `f${i}`); writeFileSync(p, pseudoRandom(64, `f${i}`)); return p })
  const cache = new FileHandleCache(4, 0)
  t.after(() => cache.close())
  for (let round = 0; round < 3; round++) {
    await Promise.all(files.map((p) => cache.use(p, async (fh) => {
      const b = Buffer.alloc(8)
      await fh.read(b, 0, 8, 0)
      return b
    })))
    assert.ok(cache.size <= 4, `size ${cache.size}`)
  }
  await assert.rejects(cache.use(join(dir, 'missing'), async () => 1), { code: 'ENOENT' })
  assert.ok(cache.size <= 4)
})
