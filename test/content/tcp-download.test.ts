/**
 * A verified download over the real TCP transport (handshake, AEAD frames, slab reads), where large chunk replies
 * arrive in pooled receive buffers that the downloader gives back once each chunk is written and hashed. If a
 * buffer went back while a chunk still needed it (reorder buffer, a write in flight), a later frame would
 * overwrite it and the whole-file SHA-256 would not match.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Download } from '../../src/content/downloader.js'
import { ContentServer } from '../../src/content/server.js'
import { ContentStore } from '../../src/content/store.js'
import { addr, startNode } from '../transport/helpers.js'
import { makeCorrupting, pseudoRandom, RecordingTrust, seededIdentity, tempDir, writeTree } from './helpers.js'

const CHUNK = 1 << 20

async function providers(t: Parameters<typeof startNode>[0], count: number, files: Record<string, Uint8Array>) {
  const src = tempDir('tcp-src')
  t.after(src.cleanup)
  writeTree(src.dir, files)
  const pub = await new ContentStore().publish(join(src.dir, Object.keys(files)[0]!), seededIdentity(3), { chunkSize: CHUNK, now: 1 })
  const nodes = []
  for (let i = 0; i < count; i++) {
    const n = await startNode(t)
    const store = new ContentStore()
    store.add(pub.manifest, pub.files.map((f) => ({ abs: f.abs, tree: f.tree })))
    const server = new ContentServer({ store, router: n.router })
    server.start()
    t.after(() => server.stop())
    nodes.push(n)
  }
  return { pub, nodes }
}

test('TCP download of 40 MiB from 3 providers: byte-exact, and the receive buffers are reused instead of one per chunk', async (t) => {
  const data = pseudoRandom(40 * CHUNK + 12345, 'tcp')
  const { pub, nodes } = await providers(t, 3, { 'model.bin': data })
  const client = await startNode(t)
  const links = await Promise.all(nodes.map((n) => client.cm.dial(addr(n))))
  const out = tempDir('tcp-out')
  t.after(out.cleanup)
  const before = client.cm.buffers.frames.allocated
  const r = await new Download({ id: pub.id, providers: links, outDir: out.dir, window: 4 }).run()
  assert.equal(r.chunksFetched, 41)
  assert.deepEqual(new Uint8Array(readFileSync(join(out.dir, 'model.bin'))), data)
  // 3 providers x 4 requests in flight, plus chunks waiting for their write or for the in-order hash
  const allocated = client.cm.buffers.frames.allocated - before
  assert.ok(allocated < 30, `${allocated} receive buffers allocated for 41 chunks`)
})

test('TCP download with a provider corrupting chunks: bad chunks are refused, their buffers given back, the file arrives correct', async (t) => {
  const data = pseudoRandom(24 * CHUNK, 'tcp-bad')
  const { pub, nodes } = await providers(t, 2, { 'w.bin': data })
  const bad = await startNode(t)
  const store = new ContentStore()
  store.add(pub.manifest, pub.files.map((f) => ({ abs: f.abs, tree: f.tree })))
  makeCorrupting(bad, store, (i) => i % 3 === 0)
  const client = await startNode(t)
  const links = await Promise.all([bad, ...nodes].map((n) => client.cm.dial(addr(n))))
  const out = tempDir('tcp-out-bad')
  t.after(out.cleanup)
  const trust = new RecordingTrust()
  const r = await new Download({ id: pub.id, providers: links, outDir: out.dir, window: 4, trust }).run()
  assert.deepEqual(new Uint8Array(readFileSync(join(out.dir, 'w.bin'))), data)
  assert.deepEqual([...r.badProviders.keys()], [bad.identity.nodeIdB64])
  assert.ok(trust.events.some((e) => e.node === bad.identity.nodeIdB64 && e.event === 'invalid_merkle_proof'))
})

test('TCP download aborted half way resumes with the hashing thread: resumed chunks re-verified, whole file correct', async (t) => {
  const data = pseudoRandom(32 * CHUNK, 'tcp-resume')
  const { pub, nodes } = await providers(t, 2, { 'r.bin': data })
  const client = await startNode(t)
  const links = await Promise.all(nodes.map((n) => client.cm.dial(addr(n))))
  const out = tempDir('tcp-out-resume')
  t.after(out.cleanup)
  const ctl = new AbortController()
  let seen = 0
  const first = new Download({ id: pub.id, providers: links, outDir: out.dir, window: 2, flushEvery: 1, signal: ctl.signal, onProgress: (p) => { seen = p.chunksDone; if (p.chunksDone >= 16) ctl.abort() } })
  await assert.rejects(first.run(), (e: Error) => e.name === 'AbortedError')
  assert.ok(seen >= 16 && seen < 32, `aborted after ${seen} chunks`)
  const r = await new Download({ id: pub.id, providers: links, outDir: out.dir }).run()
  assert.ok(r.chunksResumed >= 16, `${r.chunksResumed} resumed`)
  assert.equal(r.chunksResumed + r.chunksFetched, 32)
  assert.deepEqual(new Uint8Array(readFileSync(join(out.dir, 'r.bin'))), data)
})
