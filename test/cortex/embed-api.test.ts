/**
 * Embeddings on a real node: POST /v1/embeddings driven by the official `openai` client (base64 default and float),
 * OpenAI error shapes, the `embed` wire service between two nodes over TCP, and `zeone embed add|query|spaces|migrate`
 * over the control socket, including a model change across a restart (migration recorded, finished in the background).
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import OpenAI, { APIError } from 'openai'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { readApiToken } from '../../src/ops/api-token.js'
import { Embedder } from '../../src/cortex/embed/embedder.js'
import { decodeEmbedAnswer } from '../../src/cortex/embed/service.js'
import { writeTinyBert } from '../../src/cortex/embed/tiny-bert.js'
import { commands } from '../../src/cli/commands/embed.js'
import { tempDir } from './helpers.js'

const root = tempDir('zeone-embed-api-')
const m1 = join(root.dir, 'mini-v1'), m2 = join(root.dir, 'mini-v2')
const dataDir = mkdtempSync(join(tmpdir(), 'zeone-embed-node-'))
const nodes: ZeoneNode[] = []
let node: ZeoneNode
let client: OpenAI
let ref: Embedder

function start(dir: string, embed: object, http = true): Promise<ZeoneNode> {
  const n = createNode(validateConfig({ dataDir: dir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap: [] }, ops: { httpPort: http ? 0 : -1, logLevel: 'silent' }, cortex: { embed } }))
  nodes.push(n)
  return n.start().then(() => n)
}

before(async () => {
  writeTinyBert(m1, { layers: 2, hidden: 32, seed: 21 })
  writeTinyBert(m2, { layers: 2, hidden: 32, seed: 22 })
  ref = await Embedder.load(m1)
  node = await start(dataDir, { models: [{ path: m1, id: 'mini' }], maxInputs: 16 })
  client = new OpenAI({ baseURL: `http://127.0.0.1:${node.httpAddress!.port}/v1`, apiKey: readApiToken(dataDir)!, maxRetries: 0, timeout: 60_000 })
})
after(async () => {
  for (const n of nodes) await n.stop()
  await ref.close()
  rmSync(dataDir, { recursive: true, force: true })
  root.cleanup()
})

const close = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => a.length === b.length && Array.from(a).every((x, i) => Math.abs(x - b[i]!) < 1e-6)

async function refused(p: Promise<unknown>, status: number, code: string, param?: string): Promise<void> {
  let err: unknown
  try { await p } catch (e) { err = e }
  assert.ok(err instanceof APIError, `expected an APIError, got ${String(err)}`)
  assert.equal(err.status, status, err.message)
  assert.equal(err.code, code, err.message)
  assert.equal(err.type, 'invalid_request_error')
  if (param !== undefined) assert.equal(err.param, param)
}

test('/v1/embeddings with the openai client: string and array input, base64 (the client default) and float, usage.prompt_tokens', async () => {
  const texts = ['hello world', 'the quick brown fox jumps over the lazy dog', 'Café naïve']
  const want = await ref.embed(texts)
  const one = await client.embeddings.create({ model: 'mini', input: texts[0]! })
  assert.equal(one.object, 'list')
  assert.equal(one.model, 'mini')
  assert.equal(one.data.length, 1)
  assert.equal(one.data[0]!.object, 'embedding')
  assert.ok(close(one.data[0]!.embedding, want.vectors[0]!))
  assert.equal(one.usage.prompt_tokens, ref.tokenize([texts[0]!])[0]!.length)
  const many = await client.embeddings.create({ model: 'mini', input: texts, encoding_format: 'float' })
  assert.deepEqual(many.data.map((d) => d.index), [0, 1, 2])
  many.data.forEach((d, i) => assert.ok(close(d.embedding, want.vectors[i]!), `input ${i}`))
  assert.equal(many.usage.prompt_tokens, want.tokens)
  assert.equal(many.usage.total_tokens, want.tokens)
  const b64 = await client.embeddings.create({ model: 'mini', input: texts, encoding_format: 'base64' })
  // asked explicitly for base64, the client hands back the string; it is the float32 LE bytes
  const buf = Buffer.from(b64.data[1]!.embedding as unknown as string, 'base64')
  assert.ok(close(new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4), want.vectors[1]!))
})

test('/v1/embeddings errors: 404 unknown model, 400 bad input / encoding_format / dimensions / too many inputs, in OpenAI\'s shape', async () => {
  await refused(client.embeddings.create({ model: 'nope', input: 'x' }), 404, 'model_not_found')
  await refused(client.embeddings.create({ model: 'mini', input: [] }), 400, 'invalid_value', 'input')
  await refused(client.embeddings.create({ model: 'mini', input: [''] }), 400, 'invalid_value', 'input')
  await refused(client.embeddings.create({ model: 'mini', input: [1, 2] as unknown as string[] }), 400, 'invalid_value', 'input')
  await refused(client.embeddings.create({ model: 'mini', input: Array(17).fill('x') }), 400, 'invalid_value', 'input')
  await refused(client.embeddings.create({ model: 'mini', input: 'x'.repeat(70_000) }), 400, 'invalid_value', 'input')
  await refused(client.embeddings.create({ model: 'mini', input: 'x', encoding_format: 'int8' as 'float' }), 400, 'invalid_value', 'encoding_format')
  await refused(client.embeddings.create({ model: 'mini', input: 'x', dimensions: 8 }), 400, 'invalid_value', 'dimensions')
  await refused(client.embeddings.create({ model: 'mini', input: 'x', bogus: 1 } as never), 400, 'unknown_parameter', 'bogus')
  // the node keeps serving
  assert.equal((await client.embeddings.create({ model: 'mini', input: 'still here' })).data.length, 1)
})

test('the `embed` wire service: a second node asks this one over TCP and gets the same vectors', async () => {
  const other = await start(mkdtempSync(join(tmpdir(), 'zeone-embed-peer-')), {}, false)
  const link = await other.context!.links.dial(node.listenAddress!)
  const resp = await other.context!.services.get('serviceRouter')!.call(link, 'embed', Buffer.from(JSON.stringify({ model: 'mini', input: ['hello world', 'vector space'] })))
  assert.equal(resp.success, true, String(resp.error))
  const r = decodeEmbedAnswer(resp.result!)
  const want = await ref.embed(['hello world', 'vector space'])
  assert.equal(r.dim, 32)
  assert.equal(r.tokens, want.tokens)
  r.vectors.forEach((v, i) => assert.ok(close(v, want.vectors[i]!)))
  await assert.rejects(other.context!.services.get('serviceRouter')!.call(link, 'embed', Buffer.from('{"input": 5}')), /bad_input: 'input' must be/)
  await assert.rejects(other.context!.services.get('serviceRouter')!.call(link, 'embed', Buffer.from('not json')), /not JSON/)
  // the provider still serves after refusing
  assert.equal((await other.context!.services.get('serviceRouter')!.call(link, 'embed', Buffer.from('{"input": "ok"}'))).success, true)
  rmSync(other.dataDir, { recursive: true, force: true })
})

function cli(): { io: { stdout: PassThrough; stderr: PassThrough }; out: () => string } {
  const stdout = new PassThrough(), stderr = new PassThrough()
  let o = ''
  stdout.on('data', (d) => { o += d })
  return { io: { stdout, stderr }, out: () => o }
}
const run = async (name: string, positionals: string[], flags: Record<string, string | boolean> = {}): Promise<unknown> => {
  const c = cli()
  const code = await commands.find((x) => x.name === name)!.run({ positionals, flags: { 'data-dir': dataDir, json: true, ...flags } }, c.io)
  assert.equal(code, 0)
  return JSON.parse(c.out())
}

test('zeone embed add|query|spaces|migrate, and a model change across a restart migrates the store', async () => {
  const docs = ['the quick brown fox', 'a lazy dog sleeps', 'peer to peer network of nodes', 'vector space search', 'hello world', 'inference runs in stages']
  for (const [i, d] of docs.entries()) await run('embed add', [d], { key: `doc${i}` })
  const q = await run('embed query', ['network nodes'], { k: '3' }) as { space: number; hits: { key: string; text: string }[] }
  assert.equal(q.hits.length, 3)
  const [qv] = (await ref.embed(['network nodes'])).vectors
  const all = (await ref.embed(docs)).vectors.map((v, i) => [i, v.reduce((a, x, j) => a + x * qv![j]!, 0)] as const).sort((a, b) => b[1] - a[1])
  assert.equal(q.hits[0]!.key, `doc${all[0]![0]}`, 'the nearest document under exact cosine comes first')
  const s1 = await run('embed spaces', []) as { default: number; spaces: { id: number; count: number; modelId: string }[]; migration: null }
  assert.equal(s1.spaces.length, 1)
  assert.equal(s1.spaces[0]!.count, docs.length)
  assert.equal(s1.migration, null)

  // restart with v2 as the default model (v1 no longer configured: the old space's model loads from its path)
  await node.stop()
  node = await start(dataDir, { models: [{ path: m2, id: 'mini', version: 'v2' }], backgroundMigration: false })
  const s2 = await run('embed spaces', []) as { default: number; spaces: { id: number; count: number }[]; migration: { from: number; to: number; done: number; total: number } }
  assert.equal(s2.spaces.length, 2)
  assert.deepEqual([s2.migration.from, s2.migration.to, s2.migration.done, s2.migration.total], [s1.default, s2.default, 0, docs.length])
  const lazy = await run('embed query', ['network nodes'], { k: '2' }) as { space: number; reembedded: number }
  assert.equal(lazy.space, s2.default)
  assert.ok(lazy.reembedded >= 1)
  const m = await run('embed migrate', [], { wait: true }) as { migration: null; default: number }
  assert.equal(m.migration, null)
  const s3 = await run('embed spaces', []) as { spaces: { id: number; count: number; status: string }[] }
  assert.deepEqual(s3.spaces.map((s) => [s.status, s.count]), [['retired', 0], ['active', docs.length]])
  // usage errors and a control error come back as errors, not crashes
  assert.equal(await commands.find((x) => x.name === 'embed query')!.run({ positionals: [], flags: { 'data-dir': dataDir } }, cli().io), 2)
  await assert.rejects(run('embed query', ['x'], { space: String(s1.default) }), { code: 'space_retired' })
})
