import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Download } from '../../src/content/downloader.js'
import { ContentStore } from '../../src/content/store.js'
import { PART_SUFFIX, STATE_SUFFIX, defaultWriter } from '../../src/content/file-download.js'
import { leafCountOf } from '../../src/content/manifest.js'
import { ContentServer } from '../../src/content/server.js'
import { ContentMessageType as T, decodeChunkReply, encodeGetChunk, encodeHashesReply } from '../../src/content/messages.js'
import { Bitfield, encodeState } from '../../src/content/bitfield.js'
import { PrefixHasher } from '../../src/content/prefix-hasher.js'
import { leafHash, verifyInclusion } from '../../src/content/merkle.js'
import { linksTo, makeCorrupting, makeNet, pseudoRandom, RecordingTrust, seededIdentity, tempDir, writeTree } from './helpers.js'

const CHUNK = 16 * 1024

async function publishTree(files: Record<string, Uint8Array>) {
  const src = tempDir('src')
  writeTree(join(src.dir, 'pkg'), files)
  const pub = await new ContentStore().publish(join(src.dir, 'pkg'), seededIdentity(1), { chunkSize: CHUNK, now: 1 })
  return { pub, src }
}

function listAll(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort()
}

test('multi-file download from three providers: every file byte-exact, no partial files left, trust and usage told', async (t) => {
  const files = {
    'model/weights.bin': pseudoRandom(40 * CHUNK + 123, 'w'),
    'model/config.json': new TextEncoder().encode('{"layers":2}'),
    'empty.txt': new Uint8Array(0),
    'exact.bin': pseudoRandom(4 * CHUNK, 'e'),
  }
  const { pub, src } = await publishTree(files)
  const out = tempDir('out')
  const n = makeNet(pub, 3)
  t.after(() => { n.stop(); src.cleanup(); out.cleanup() })
  const trust = new RecordingTrust()
  const usage: { node: string; units: bigint; dir: string }[] = []
  const progress: number[] = []
  const d = new Download({
    id: pub.id, providers: await linksTo(n.client, n.providers), outDir: out.dir, window: 4, trust,
    usage: { authorize() {}, record(node, _s, units, dir) { usage.push({ node: Buffer.from(node).toString('base64'), units, dir }); return 0n } },
    onProgress: (p) => progress.push(p.bytesDone),
  })
  const res = await d.run()
  for (const [rel, data] of Object.entries(files)) assert.deepEqual(new Uint8Array(readFileSync(join(out.dir, ...rel.split('/')))), data, rel)
  assert.deepEqual(listAll(out.dir), Object.keys(files).sort())
  assert.equal(res.chunksFetched, pub.manifest.files.reduce((a, f) => a + leafCountOf(f), 0))
  assert.equal(res.badProviders.size, 0)
  assert.equal(trust.events.filter((e) => e.event !== 'successful_transfer').length, 0)
  assert.ok(trust.events.length >= 2, 'more than one provider was used')
  assert.equal(usage.reduce((a, u) => a + u.units, 0n), BigInt(Object.values(files).reduce((a, f) => a + f.byteLength, 0)))
  assert.equal(progress.at(-1), Object.values(files).reduce((a, f) => a + f.byteLength, 0))
  // a second run finds everything complete and fetches nothing
  const again = await new Download({ id: pub.id, providers: await linksTo(n.client, n.providers), outDir: out.dir }).run()
  assert.equal(again.chunksFetched, 0)
  assert.ok(again.files.every((f) => f.alreadyComplete))
})

test('a provider corrupting 10% of its chunks is caught, penalised and dropped; the file still arrives correct', async (t) => {
  const data = pseudoRandom(120 * CHUNK, 'c')
  const { pub, src } = await publishTree({ 'big.bin': data })
  const out = tempDir('out')
  const n = makeNet(pub, 0)
  const honest = makeNet(pub, 0) // only for cleanup symmetry
  honest.stop()
  // three honest providers and one that corrupts every chunk whose index is 3 mod 10
  const nodes = [0, 1, 2, 3].map((i) => n.net.createNode(seededIdentity(20 + i), { host: '10.9.0.' + i, port: 9000 + i }))
  const stores = nodes.map(() => { const s = new ContentStore(); s.add(pub.manifest, pub.files.map((f) => ({ abs: f.abs, tree: f.tree }))); return s })
  const servers = nodes.slice(0, 3).map((node, i) => { const s = new ContentServer({ store: stores[i]!, router: node.router }); s.start(); return s })
  const evil = makeCorrupting(nodes[3]!, stores[3]!, (i) => i % 10 === 3)
  t.after(() => { servers.forEach((s) => s.stop()); nodes.forEach((x) => x.stop()); n.stop(); src.cleanup(); out.cleanup() })
  const trust = new RecordingTrust()
  const d = new Download({ id: pub.id, providers: await linksTo(n.client, [nodes[3]!, ...nodes.slice(0, 3)]), outDir: out.dir, window: 4, trust })
  const res = await d.run()
  assert.deepEqual(new Uint8Array(readFileSync(join(out.dir, 'big.bin'))), data)
  assert.deepEqual([...res.badProviders.keys()], [nodes[3]!.identity.nodeIdB64])
  assert.equal(trust.of(nodes[3]!, 'invalid_merkle_proof').length, 1)
  for (const h of nodes.slice(0, 3)) assert.equal(trust.of(h, 'invalid_merkle_proof').length, 0)
  // dropped after its first bad chunk: it answered at most one window beyond chunk 3's request
  assert.ok(evil.served < 30, `hostile provider kept being asked (${evil.served} requests)`)
})

test('a provider lying about the hash layer is penalised and another one is used', async (t) => {
  const data = pseudoRandom(10 * CHUNK + 5, 'h')
  const { pub, src } = await publishTree({ 'f.bin': data })
  const out = tempDir('out')
  const n = makeNet(pub, 1)
  const liar = n.net.createNode(seededIdentity(40), { host: '10.9.9.9', port: 1 })
  liar.router.handle(T.CONTENT_GET_HASHES, (m) => { m.reply!(T.CONTENT_HASHES, encodeHashesReply({ start: 0, hashes: new Uint8Array(11 * 32) })) })
  const inner = new ContentServer({ store: n.stores[0]!, router: { handle: (type, h) => type === T.CONTENT_GET_HASHES ? () => {} : liar.router.handle(type, h) } })
  inner.start()
  t.after(() => { inner.stop(); liar.stop(); n.stop(); src.cleanup(); out.cleanup() })
  const trust = new RecordingTrust()
  const res = await new Download({ id: pub.id, providers: await linksTo(n.client, [liar, n.providers[0]!]), outDir: out.dir, trust }).run()
  assert.deepEqual(new Uint8Array(readFileSync(join(out.dir, 'f.bin'))), data)
  assert.equal(trust.of(liar, 'invalid_merkle_proof').length, 1)
  assert.ok(res.badProviders.has(liar.identity.nodeIdB64))
})

test('provider vanishes mid-download: ends cleanly and resumably; the resume refetches only what is missing', async (t) => {
  const data = pseudoRandom(64 * CHUNK, 'v')
  const { pub, src } = await publishTree({ 'v.bin': data })
  const out = tempDir('out')
  const n = makeNet(pub, 2)
  t.after(() => { n.stop(); src.cleanup(); out.cleanup() })
  const first = new Download({
    id: pub.id, providers: await linksTo(n.client, [n.providers[0]!]), outDir: out.dir, window: 2, flushEvery: 1,
    onProgress: (p) => { if (p.chunksDone === 20) n.providers[0]!.stop() },
  })
  await assert.rejects(first.run(), { name: 'DownloadError', code: 'no_providers' })
  assert.equal(existsSync(join(out.dir, 'v.bin')), false, 'no target before the whole file is verified')
  assert.ok(existsSync(join(out.dir, 'v.bin' + PART_SUFFIX)))
  assert.ok(existsSync(join(out.dir, 'v.bin' + STATE_SUFFIX)))
  const second = await new Download({ id: pub.id, providers: await linksTo(n.client, [n.providers[1]!]), outDir: out.dir }).run()
  assert.deepEqual(new Uint8Array(readFileSync(join(out.dir, 'v.bin'))), data)
  assert.ok(second.chunksResumed >= 20, `resumed ${second.chunksResumed}`)
  assert.equal(second.chunksFetched + second.chunksResumed, 64)
  assert.equal(existsSync(join(out.dir, 'v.bin' + STATE_SUFFIX)), false)
})

test('disk full (injected ENOSPC) ends with disk_full and resumes from the persisted bitfield', async (t) => {
  const data = pseudoRandom(32 * CHUNK, 'd')
  const { pub, src } = await publishTree({ 'd.bin': data })
  const out = tempDir('out')
  const n = makeNet(pub, 2)
  t.after(() => { n.stop(); src.cleanup(); out.cleanup() })
  let writes = 0
  const full = new Download({
    id: pub.id, providers: await linksTo(n.client, n.providers), outDir: out.dir, flushEvery: 1,
    writer: async (fh, d, pos) => {
      if (++writes > 10) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
      await defaultWriter(fh, d, pos)
    },
  })
  await assert.rejects(full.run(), { name: 'DownloadError', code: 'disk_full' })
  assert.equal(existsSync(join(out.dir, 'd.bin')), false)
  const res = await new Download({ id: pub.id, providers: await linksTo(n.client, n.providers), outDir: out.dir }).run()
  assert.deepEqual(new Uint8Array(readFileSync(join(out.dir, 'd.bin'))), data)
  assert.equal(res.chunksResumed, 10)
  assert.equal(res.chunksFetched, 22)
})

test('resume never trusts the partial file size or a damaged sidecar', async (t) => {
  const data = pseudoRandom(16 * CHUNK, 's')
  const { pub, src } = await publishTree({ 's.bin': data })
  const out = tempDir('out')
  const n = makeNet(pub, 1)
  t.after(() => { n.stop(); src.cleanup(); out.cleanup() })
  // a full-size partial of garbage and a corrupted sidecar claiming everything
  writeFileSync(join(out.dir, 's.bin' + PART_SUFFIX), new Uint8Array(data.byteLength).fill(0xaa))
  writeFileSync(join(out.dir, 's.bin' + STATE_SUFFIX), new Uint8Array(200).fill(0xff))
  const res = await new Download({ id: pub.id, providers: await linksTo(n.client, n.providers), outDir: out.dir }).run()
  assert.equal(res.chunksResumed, 0)
  assert.equal(res.chunksFetched, 16)
  assert.deepEqual(new Uint8Array(readFileSync(join(out.dir, 's.bin'))), data)
})

test('streaming read yields the file in order while it downloads', async (t) => {
  const data = pseudoRandom(48 * CHUNK + 7, 'r')
  const { pub, src } = await publishTree({ 'r.bin': data })
  const out = tempDir('out')
  const n = makeNet(pub, 2)
  t.after(() => { n.stop(); src.cleanup(); out.cleanup() })
  const d = new Download({ id: pub.id, providers: await linksTo(n.client, n.providers), outDir: out.dir, window: 2 })
  const parts: Uint8Array[] = []
  let sawIncomplete = false
  for await (const c of d.stream(0)) {
    parts.push(c)
    if (!existsSync(join(out.dir, 'r.bin'))) sawIncomplete = true
  }
  await d.run()
  assert.deepEqual(new Uint8Array(Buffer.concat(parts)), data)
  assert.ok(sawIncomplete, 'the stream delivered bytes before the file was complete')
})

test('wrong id, unknown content and no providers end with a clear error', async (t) => {
  const { pub, src } = await publishTree({ 'x.bin': pseudoRandom(100, 'x') })
  const out = tempDir('out')
  const n = makeNet(pub, 1)
  t.after(() => { n.stop(); src.cleanup(); out.cleanup() })
  const wrong = new Uint8Array(32).fill(9)
  await assert.rejects(new Download({ id: wrong, providers: await linksTo(n.client, n.providers), outDir: out.dir }).run(), { code: 'no_providers' })
  await assert.rejects(new Download({ id: pub.id, providers: [], outDir: out.dir }).run(), { code: 'no_providers' })
  assert.deepEqual(listAll(out.dir), [])
})

test('a resumed state naming chunks whose bytes were lost (power loss) is re-verified: bad chunks are fetched again', async (t) => {
  const data = pseudoRandom(20 * CHUNK, 'pl')
  const { pub, src } = await publishTree({ 'pl.bin': data })
  const out = tempDir('out')
  const n = makeNet(pub, 1)
  t.after(() => { n.stop(); src.cleanup(); out.cleanup() })
  // the first 12 chunks are on disk correctly, chunks 12..15 are claimed but zero, 16..19 missing
  const part = new Uint8Array(data.byteLength)
  part.set(data.subarray(0, 12 * CHUNK))
  writeFileSync(join(out.dir, 'pl.bin' + PART_SUFFIX), part)
  const bf = new Bitfield(20)
  for (let i = 0; i < 16; i++) bf.set(i)
  writeFileSync(join(out.dir, 'pl.bin' + STATE_SUFFIX), encodeState(pub.id, 0, bf)) // a v1 sidecar, as older nodes wrote
  const d = new Download({ id: pub.id, providers: await linksTo(n.client, n.providers), outDir: out.dir })
  const streamed: Uint8Array[] = []
  const reading = (async () => { for await (const c of d.stream(0)) streamed.push(c) })()
  const res = await d.run()
  await reading
  assert.equal(res.chunksResumed, 12)
  assert.equal(res.chunksFetched, 8)
  assert.deepEqual(new Uint8Array(readFileSync(join(out.dir, 'pl.bin'))), data)
  assert.deepEqual(new Uint8Array(Buffer.concat(streamed)), data, 'the reader never saw the unverified zero chunks')
})

test('the in-flight whole-file hash equals SHA-256 for any arrival order and buffer size', async () => {
  const chunks = Array.from({ length: 9 }, (_, i) => pseudoRandom(100 + i, `ph${i}`))
  const expect = createHash('sha256').update(Buffer.concat(chunks)).digest('hex')
  for (const [order, cap] of [[[0, 1, 2, 3, 4, 5, 6, 7, 8], 0], [[8, 7, 6, 5, 4, 3, 2, 1, 0], 1 << 20], [[3, 1, 0, 8, 2], 250], [[], 0]] as [number[], number][]) {
    const h = new PrefixHasher(9, cap)
    for (const i of order) h.feed(i, chunks[i]!)
    assert.ok(h.buffered <= cap)
    let reads = 0
    const digest = await h.finish(async (i) => { reads++; return chunks[i]! })
    assert.equal(Buffer.from(digest).toString('hex'), expect, `order ${order.join(',')}`)
    if (order.length === 9 && cap > 0) assert.equal(reads, 0)
  }
})

test('a published file edited in place is no longer served (size unchanged, mtime changed)', async (t) => {
  const data = pseudoRandom(3 * CHUNK, 'ed')
  const { pub, src } = await publishTree({ 'ed.bin': data })
  const n = makeNet(pub, 1)
  t.after(() => { n.stop(); src.cleanup() })
  const [link] = await linksTo(n.client, n.providers)
  const ask = (index: number) => link!.request(T.CONTENT_GET_CHUNK, encodeGetChunk({ id: pub.id, file: 0, index, proof: true }))
  const ok = decodeChunkReply((await ask(1)).body)
  assert.deepEqual(ok.data, data.subarray(CHUNK, 2 * CHUNK))
  assert.equal(verifyInclusion(leafHash(ok.data), 1, 3, ok.proof!, pub.manifest.files[0]!.root), true)
  const edited = data.slice()
  edited[CHUNK + 5]! ^= 1
  writeFileSync(pub.files[0]!.abs, edited)
  utimesSync(pub.files[0]!.abs, new Date(), new Date(Date.now() + 5000))
  await assert.rejects(ask(1), { name: 'RemoteError', code: 'unavailable' })
  assert.ok(decodeChunkReply((await ask(0)).body), 'untouched chunks are still served')
  await assert.rejects(ask(3), { name: 'RemoteError', code: 'bad_range' })
  await assert.rejects(link!.request(T.CONTENT_GET_CHUNK, encodeGetChunk({ id: new Uint8Array(32), file: 0, index: 0, proof: false })), { code: 'not_found' })
  await assert.rejects(link!.request(T.CONTENT_GET_CHUNK, new Uint8Array([0xa1, 0x61, 0x76, 0x02])), { name: 'RemoteError' })
})
