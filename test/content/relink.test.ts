import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Download } from '../../src/content/downloader.js'
import { ContentStore } from '../../src/content/store.js'
import { linksTo, makeNet, pseudoRandom, refClock, seededIdentity, tempDir, writeTree } from './helpers.js'

/**
 * Issue 24 item 5: a provider's link closes mid-download (its NAT path found dead) and the node routes the peer
 * again. With `relink`, the download takes the new link to the same node id and finishes; without a new link in
 * time, the provider is dropped as before.
 */
const CHUNK = 16 * 1024

async function publish(data: Uint8Array) {
  const src = tempDir('src')
  writeTree(join(src.dir, 'pkg'), { 'r.bin': data })
  const pub = await new ContentStore().publish(join(src.dir, 'pkg'), seededIdentity(1), { chunkSize: CHUNK, now: 1 })
  return { pub, src }
}

test('a provider link that closes mid-download is replaced by the new link to the same node; every byte arrives', async (t) => {
  const data = pseudoRandom(64 * CHUNK, 'relink')
  const { pub, src } = await publish(data)
  const out = tempDir('out')
  const n = makeNet(pub, 1)
  t.after(() => { n.stop(); src.cleanup(); out.cleanup() })
  const provider = n.providers[0]!
  const [first] = await linksTo(n.client, [provider])
  let cut = false
  const d = new Download({
    id: pub.id, providers: [first!], outDir: out.dir, window: 4, clock: refClock,
    relink: (id) => n.client.get(id), relinkWaitMs: 5000,
    onProgress: (p) => {
      if (cut || p.chunksDone < 20) return
      cut = true
      first!.close('path_dead: no answer to 2 liveness probes')
      // the node routes the peer again a little later (another relay, TURN or a punched path)
      setTimeout(() => { void n.client.dial(provider.addr) }, 100)
    },
  })
  const res = await d.run()
  assert.equal(cut, true)
  assert.deepEqual(new Uint8Array(readFileSync(join(out.dir, 'r.bin'))), data)
  assert.equal(res.chunksFetched, 64)
  assert.equal(res.badProviders.size, 0, 'a dead path is not the provider misbehaving')
})

test('no new link within relinkWaitMs: the provider is dropped and the download ends resumably', async (t) => {
  const data = pseudoRandom(64 * CHUNK, 'nolink')
  const { pub, src } = await publish(data)
  const out = tempDir('out')
  const n = makeNet(pub, 1)
  t.after(() => { n.stop(); src.cleanup(); out.cleanup() })
  const [first] = await linksTo(n.client, [n.providers[0]!])
  const d = new Download({
    id: pub.id, providers: [first!], outDir: out.dir, window: 4, clock: refClock,
    relink: (id) => n.client.get(id), relinkWaitMs: 300,
    onProgress: (p) => { if (p.chunksDone === 20) first!.close('path_dead: test') },
  })
  await assert.rejects(d.run(), { name: 'DownloadError', code: 'no_providers' })
})
