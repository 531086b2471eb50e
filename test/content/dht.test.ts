import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { attach as attachContent } from '../../src/content/attach.js'
import { attach as attachDht } from '../../src/dht/attach.js'
import { controlCall } from '../../src/cli/control-client.js'
import { pseudoRandom, tempDir, writeTree } from './helpers.js'

async function startNode(dataDir: string, bootstrap: string[] = [], seedAfterFetch = true): Promise<ZeoneNode> {
  const config = validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap }, ops: { httpPort: -1, logLevel: 'silent' },
    dht: { staticPuzzleBits: 0, dynamicPuzzleBits: 0 },
    content: { chunkSize: 16384, seedAfterFetch },
  })
  const node = createNode(config, { layers: [['dht', attachDht], ['content', attachContent]] })
  await node.start()
  return node
}

interface Job { job: string; state: string; error?: { code: string }; result?: { chunksFetched: number } }

async function waitJob(dataDir: string, job: string): Promise<Job> {
  for (let i = 0; i < 600; i++) {
    const j = await controlCall(dataDir, 'GET', `/v1/content/jobs?job=${job}`) as Job
    if (j.state !== 'running') return j
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('job did not finish')
}

test('publish announces in the DHT; another node finds the providers and fetches without --from', async (t) => {
  const dirs = [tempDir('dht-a'), tempDir('dht-b'), tempDir('dht-c'), tempDir('dht-src')]
  const data = pseudoRandom(300_000, 'dht')
  writeTree(dirs[3]!.dir, { 'model.bin': data })
  const nodes: ZeoneNode[] = []
  t.after(async () => { for (const n of nodes.reverse()) await n.stop(); for (const d of dirs) d.cleanup() })
  const a = await startNode(dirs[0]!.dir); nodes.push(a)
  const boot = [`127.0.0.1:${a.listenAddress!.port}`]
  const b = await startNode(dirs[1]!.dir, boot); nodes.push(b)
  const c = await startNode(dirs[2]!.dir, boot); nodes.push(c)
  const pub = await controlCall(a.dataDir, 'POST', '/v1/content/publish', { body: { path: join(dirs[3]!.dir, 'model.bin') } }) as { id: string; announced: boolean }
  assert.equal(pub.announced, true)
  // the announcement travels asynchronously: retry until the lookup sees it (bounded, no timing assertion)
  let job: Job | undefined
  for (let i = 0; i < 100 && !job; i++) {
    try {
      job = await controlCall(c.dataDir, 'POST', '/v1/content/fetch', { body: { id: pub.id, outDir: join(c.dataDir, 'dl') } }) as Job
    } catch (err) {
      if ((err as { code?: string }).code !== 'no_providers') throw err
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  assert.ok(job, 'providers found through the DHT')
  const done = await waitJob(c.dataDir, job.job)
  assert.equal(done.state, 'done', JSON.stringify(done.error))
  assert.deepEqual(new Uint8Array(readFileSync(join(c.dataDir, 'dl', 'model.bin'))), data)
  // C seeds it now: B can find two providers
  const svcB = b.services.get('content')!
  let links: unknown[] = []
  for (let i = 0; i < 100 && links.length < 2; i++) {
    links = await svcB.providersFor(pub.id)
    if (links.length < 2) await new Promise((r) => setTimeout(r, 100))
  }
  assert.equal(links.length, 2)
})

test('a node that only caches announces cdn:<root>; a later fetch finds it and takes chunks from its cache', async (t) => {
  const dirs = [tempDir('cdn-a'), tempDir('cdn-c'), tempDir('cdn-d'), tempDir('cdn-src')]
  const data = pseudoRandom(400_000, 'cdn')
  writeTree(dirs[3]!.dir, { 'w.bin': data })
  const nodes: ZeoneNode[] = []
  t.after(async () => { for (const n of nodes.reverse()) await n.stop(); for (const d of dirs) d.cleanup() })
  const a = await startNode(dirs[0]!.dir); nodes.push(a)
  const boot = [`127.0.0.1:${a.listenAddress!.port}`]
  const c = await startNode(dirs[1]!.dir, boot, false); nodes.push(c)
  const pub = await controlCall(a.dataDir, 'POST', '/v1/content/publish', { body: { path: join(dirs[3]!.dir, 'w.bin') } }) as { id: string }
  const fetchOn = async (n: ZeoneNode): Promise<Job> => {
    for (let i = 0; i < 100; i++) {
      try {
        const j = await controlCall(n.dataDir, 'POST', '/v1/content/fetch', { body: { id: pub.id, outDir: join(n.dataDir, 'dl') } }) as Job
        return await waitJob(n.dataDir, j.job)
      } catch (err) {
        if ((err as { code?: string }).code !== 'no_providers') throw err
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    throw new Error('no providers found')
  }
  assert.equal((await fetchOn(c)).state, 'done')
  const cacheC = c.services.get('content')!.cache!.cache
  assert.equal(cacheC.size, Math.ceil(400_000 / 16384))
  assert.deepEqual(c.services.get('content')!.store.list(), [], 'C does not seed, it only caches')
  const d = await startNode(dirs[2]!.dir, boot); nodes.push(d)
  // wait until D's lookup sees C's cdn announcement
  const m = a.services.get('content')!.store.list()[0]!.manifest
  for (let i = 0; i < 100; i++) {
    if ((await d.services.get('content')!.cachePeersFor(m, [])).length > 0) break
    await new Promise((r) => setTimeout(r, 100))
  }
  const done = await fetchOn(d)
  assert.equal(done.state, 'done', JSON.stringify(done.error))
  assert.deepEqual(new Uint8Array(readFileSync(join(d.dataDir, 'dl', 'w.bin'))), data)
  assert.ok(cacheC.hits > 0, 'the cache served chunks to the new node')
})
