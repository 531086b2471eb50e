import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ChunkCache, verifyCached } from '../../src/content/cache.js'
import { CacheServer, cdnKey } from '../../src/content/cache-server.js'
import { Download } from '../../src/content/downloader.js'
import { leafHash } from '../../src/content/merkle.js'
import { ContentMessageType as T, decodeCacheResponse, encodeCacheRequest, encodeCacheResponse } from '../../src/content/messages.js'
import { ContentStore } from '../../src/content/store.js'
import type { ProviderDirectory } from '../../src/interfaces/providers.js'
import { toHex } from '../../src/util/bytes.js'
import { linksTo, makeNet, pseudoRandom, RecordingTrust, seededIdentity, tempDir, writeTree } from './helpers.js'

const chunk = (i: number, size = 1000) => pseudoRandom(size, `k${i}`)

test('resize (live config): shrinking evicts least recently used chunks until the cache fits, growing keeps all', () => {
  const c = new ChunkCache({ maxBytes: 5000, maxEntries: 10 })
  const cs = [0, 1, 2, 3, 4].map((i) => chunk(i))
  for (const x of cs) assert.equal(c.put(leafHash(x), x), true)
  assert.ok(c.get(leafHash(cs[0]!))) // 0 is now the most recent
  c.resize({ maxBytes: 2500, maxEntries: 10 })
  assert.equal(c.bytes, 2000)
  assert.deepEqual(cs.map((x) => c.has(leafHash(x))), [true, false, false, false, true])
  c.resize({ maxBytes: 2500, maxEntries: 1 })
  assert.deepEqual(cs.map((x) => c.has(leafHash(x))), [true, false, false, false, false])
  c.resize({ maxBytes: 1 << 20, maxEntries: 100 })
  assert.equal(c.size, 1)
  assert.equal(c.maxBytes, 1 << 20)
  assert.equal(c.put(leafHash(cs[1]!), cs[1]!), true)
})

test('LRU: bounded by bytes and entries, evicts least recently used, refuses unverified data', () => {
  const c = new ChunkCache({ maxBytes: 3000, maxEntries: 10 })
  const cs = [0, 1, 2, 3].map((i) => chunk(i))
  assert.equal(c.put(leafHash(cs[0]!), cs[0]!), true)
  assert.equal(c.put(leafHash(cs[1]!), cs[1]!), true)
  assert.equal(c.put(leafHash(cs[2]!), cs[2]!), true)
  assert.ok(c.get(leafHash(cs[0]!)))          // 0 becomes most recent
  assert.equal(c.put(leafHash(cs[3]!), cs[3]!), true) // evicts 1
  assert.equal(c.has(leafHash(cs[1]!)), false)
  assert.equal(c.has(leafHash(cs[0]!)), true)
  assert.equal(c.bytes, 3000)
  assert.equal(c.put(leafHash(cs[0]!), cs[1]!), false, 'data must hash to its key')
  assert.equal(c.put(new Uint8Array(31), cs[1]!), false)
  assert.equal(c.put(leafHash(new Uint8Array(4000)), new Uint8Array(4000)), false, 'larger than the cache')
  const small = new ChunkCache({ maxBytes: 1 << 20, maxEntries: 2 })
  for (let i = 0; i < 50; i++) small.put(leafHash(chunk(i, 10)), chunk(i, 10))
  assert.equal(small.size, 2)
  assert.throws(() => verifyCached(leafHash(cs[0]!), cs[1]!), { code: 'invalid_merkle_proof' })
  assert.throws(() => verifyCached(leafHash(cs[0]!), undefined), { code: 'cache_miss' })
})

test('groups are announced when their first chunk enters and withdrawn when the last leaves', async () => {
  const provided: string[] = []
  const withdrawn: string[] = []
  const dir: ProviderDirectory = {
    async provide(key) { provided.push(toHex(key)) },
    unprovide(key) { withdrawn.push(toHex(key)) },
    async findProviders() { return [] },
  }
  const s = new CacheServer({ router: { handle: () => () => {} }, providers: () => dir, maxBytes: 2000 })
  s.cache.put(leafHash(chunk(1)), chunk(1), 'aa')
  s.cache.put(leafHash(chunk(2)), chunk(2), 'aa')
  assert.deepEqual(provided, [toHex(cdnKey('aa'))])
  s.cache.put(leafHash(chunk(3)), chunk(3), 'bb') // evicts chunk 1, 'aa' still has chunk 2
  assert.deepEqual(withdrawn, [])
  s.cache.put(leafHash(chunk(4)), chunk(4), 'bb') // evicts chunk 2: 'aa' gone
  assert.deepEqual(withdrawn, [toHex(cdnKey('aa'))])
  s.stop()
  s.stop()
  assert.deepEqual(withdrawn, [toHex(cdnKey('aa')), toHex(cdnKey('bb'))])
})

test('CACHE_REQUEST over a link: hit, miss, malformed request, usage refusal', async (t) => {
  const src = tempDir('c')
  writeTree(src.dir, { 'a.bin': pseudoRandom(100, 'a') })
  const pub = await new ContentStore().publish(join(src.dir, 'a.bin'), seededIdentity(1), { chunkSize: 16384 })
  const n = makeNet(pub, 1)
  let refuse = false
  const served: bigint[] = []
  const cs = new CacheServer({
    router: n.providers[0]!.router,
    usage: () => ({ authorize() { if (refuse) throw Object.assign(new Error('over debt limit'), { code: 'debt_limit' }) }, record(_n, _s, u) { served.push(u); return 0n } }),
  })
  cs.start()
  t.after(() => { cs.stop(); n.stop(); src.cleanup() })
  const c = chunk(7)
  cs.cache.put(leafHash(c), c)
  const [link] = await linksTo(n.client, n.providers)
  const hit = decodeCacheResponse((await link!.request(T.CACHE_REQUEST, encodeCacheRequest({ hash: leafHash(c) }))).body)
  assert.deepEqual(verifyCached(leafHash(c), hit.data), c)
  const miss = decodeCacheResponse((await link!.request(T.CACHE_REQUEST, encodeCacheRequest({ hash: new Uint8Array(32) }))).body)
  assert.equal(miss.data, undefined)
  await assert.rejects(link!.request(T.CACHE_REQUEST, new Uint8Array([0xa0])), { name: 'RemoteError' })
  refuse = true
  await assert.rejects(link!.request(T.CACHE_REQUEST, encodeCacheRequest({ hash: leafHash(c) })), { name: 'RemoteError' })
  assert.deepEqual(served, [1000n])
})

test('downloader uses a cache peer by leaf hash, fills the local cache, and catches a poisoned cache', async (t) => {
  const data = pseudoRandom(24 * 16384, 'p')
  const src = tempDir('p')
  writeTree(src.dir, { 'p.bin': data })
  const pub = await new ContentStore().publish(join(src.dir, 'p.bin'), seededIdentity(1), { chunkSize: 16384 })
  const n = makeNet(pub, 1)
  const amp = n.net.createNode(seededIdentity(60), { host: '10.7.0.1', port: 1 })
  const ampServer = new CacheServer({ router: amp.router })
  ampServer.start()
  for (let i = 0; i < 24; i++) { const c = data.subarray(i * 16384, (i + 1) * 16384); ampServer.cache.put(leafHash(c), c) }
  const poison = n.net.createNode(seededIdentity(61), { host: '10.7.0.2', port: 1 })
  poison.router.handle(T.CACHE_REQUEST, (m) => { m.reply!(T.CACHE_RESPONSE, encodeCacheResponse({ hash: new Uint8Array(32), data: new Uint8Array(16384) })) })
  const out = tempDir('po')
  t.after(() => { ampServer.stop(); amp.stop(); poison.stop(); n.stop(); src.cleanup(); out.cleanup() })
  const trust = new RecordingTrust()
  const local = new ChunkCache()
  const res = await new Download({
    id: pub.id, providers: await linksTo(n.client, n.providers), cachePeers: await linksTo(n.client, [poison, amp]), outDir: out.dir, trust,
    onVerified: (leaf, d, root) => { local.put(leaf, d, root) },
  }).run()
  assert.deepEqual(new Uint8Array(readFileSync(join(out.dir, 'p.bin'))), data)
  assert.ok(res.badProviders.has(poison.identity.nodeIdB64))
  assert.equal(trust.of(poison, 'invalid_merkle_proof').length, 1)
  assert.equal(local.size, 24)
  assert.ok(ampServer.cache.hits > 0, 'the amplifier served chunks')
})
