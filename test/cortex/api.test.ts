import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { Registry } from 'prom-client'
import WebSocket from 'ws'
import { HttpServer } from '../../src/ops/http-server.js'
import { MemoryNetwork, type MemoryNode } from '../../src/transport/memory.js'
import { StageEngine } from '../../src/cortex/stage.js'
import { StageServer } from '../../src/cortex/server.js'
import { StaticStageDirectory } from '../../src/cortex/directory.js'
import { CortexService } from '../../src/cortex/service.js'
import { registerHttp } from '../../src/cortex/http.js'
import { identity, refClock, tinyModel } from './helpers.js'

const m = tinyModel({ family: 'gpt2', layers: 2, seed: 21 })
const net = new MemoryNetwork({ clock: refClock })
const model = 'tiny-api'
let head: MemoryNode, tail: MemoryNode, asker: MemoryNode
let s1: StageServer, s2: StageServer
let svcHead: CortexService, svcAsker: CortexService
let http: HttpServer
let closeHttp: () => void
let base = ''
let s1Passes = 0
/** The API token the owner's clients send (the node keeps it in <dataDir>/api.token). */
const TOKEN = 'a'.repeat(64)
const auth = { authorization: `Bearer ${TOKEN}` }

before(async () => {
  head = net.createNode(identity(40), { host: '10.0.0.3', port: 40 })
  tail = net.createNode(identity(41), { host: '10.0.0.3', port: 41 })
  asker = net.createNode(identity(42), { host: '10.0.0.3', port: 42 })
  s1 = new StageServer({ modelId: model, engine: await StageEngine.load(m.dir, { start: 0, end: 1 }), router: head.router, onBatch: () => { s1Passes++ } })
  s2 = new StageServer({ modelId: model, engine: await StageEngine.load(m.dir, { start: 1, end: 2 }), router: tail.router })
  s1.start(); s2.start()
  const peers = [40, 41].map((port) => ({ host: '10.0.0.3', port }))
  svcHead = new CortexService({ nodeId: head.identity.publicKey, router: head.router, links: head, directory: new StaticStageDirectory(head, peers.slice(1)), stages: [{ server: s1, dir: m.dir }] })
  svcAsker = new CortexService({ nodeId: asker.identity.publicKey, router: asker.router, links: asker, directory: new StaticStageDirectory(asker, peers), stages: [] })
  svcHead.start(); svcAsker.start()
  http = new HttpServer({ host: '127.0.0.1', port: 0, metrics: new Registry(), health: () => ({ ok: true }), token: TOKEN })
  closeHttp = registerHttp(http, svcHead).close
  await http.start()
  base = `http://127.0.0.1:${http.address!.port}`
})
after(async () => {
  closeHttp(); await http.stop()
  svcHead.stop(); svcAsker.stop()
  for (const s of [s1, s2]) { s.stop(); await s.engine.close() }
  for (const n of [head, tail, asker]) n.stop()
  m.cleanup()
})

const body = { model, messages: [{ role: 'user', content: 'hello world' }], max_tokens: 8, temperature: 0.7, seed: 3 }

test('POST /v1/chat/completions: JSON and SSE give the same text', async () => {
  const r = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: auth, body: JSON.stringify(body) })
  assert.equal(r.status, 200)
  const j = await r.json() as { choices: { message: { content: string }; finish_reason: string }[]; usage: { completion_tokens: number } }
  assert.equal(j.usage.completion_tokens, 8)
  const sse = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: auth, body: JSON.stringify({ ...body, stream: true }) })
  assert.match(sse.headers.get('content-type') ?? '', /text\/event-stream/)
  const events = (await sse.text()).split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''))
  assert.equal(events.at(-1), '[DONE]')
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as { object: string; choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[] })
  assert.ok(chunks.length >= 2)
  // The OpenAI SDK's stream helper needs the role on the first chunk.
  assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant')
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'))
  assert.equal(chunks.map((c) => c.choices[0]!.delta.content ?? '').join(''), j.choices[0]!.message.content)
  assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'length')
})

test('WebSocket endpoint streams the same completion', async () => {
  const r = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: auth, body: JSON.stringify(body) })
  const expected = ((await r.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content
  const ws = new WebSocket(`ws://127.0.0.1:${http.address!.port}/v1/chat/completions/ws`, { headers: auth })
  const msgs: { done?: boolean; choices?: { delta: { content?: string } }[] }[] = []
  await new Promise<void>((resolve, reject) => {
    ws.on('open', () => ws.send(JSON.stringify(body)))
    ws.on('message', (d) => msgs.push(JSON.parse(d.toString())))
    ws.on('close', () => resolve())
    ws.on('error', reject)
  })
  assert.deepEqual(msgs.at(-1), { done: true })
  assert.equal(msgs.slice(0, -1).map((x) => x.choices![0]!.delta.content ?? '').join(''), expected)
})

test('bad requests are refused with 400/413, unknown models with 404', async () => {
  const bad = async (b: unknown): Promise<number> => (await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: auth, body: typeof b === 'string' ? b : JSON.stringify(b) })).status
  assert.equal(await bad('{nope'), 400)
  assert.equal(await bad({ model }), 400)
  assert.equal(await bad({ ...body, temperature: -1 }), 400)
  assert.equal(await bad({ ...body, max_tokens: 0 }), 400)
  assert.equal(await bad('x'.repeat(1024 * 1024 + 10)), 413)
  assert.equal(await bad({ ...body, model: 'unknown' }), 404)
})

test('a node without the model streams tokens from a remote coordinator over the wire', async () => {
  const local = svcHead.generate({ model, prompt: 'hello world', maxTokens: 6, temperature: 0 })
  let a = await local.next(); const want: number[] = []
  while (!a.done) { want.push(a.value.id); a = await local.next() }
  const it = svcAsker.generate({ model, prompt: 'hello world', maxTokens: 6, temperature: 0 })
  const got: number[] = []
  let n = await it.next()
  while (!n.done) { got.push(n.value.id); n = await it.next() }
  assert.deepEqual(got, want)
  assert.equal(n.value.reason, 'length')
})

test('the final text (with bytes the stream held back at the length limit) is the same from a remote coordinator', async () => {
  const run = async (svc: CortexService, seed: number): Promise<{ streamed: string; text: string }> => {
    const it = svc.generate({ model, prompt: 'hello world', maxTokens: 5, temperature: 1, seed })
    let streamed = ''
    let n = await it.next()
    while (!n.done) { streamed += n.value.text; n = await it.next() }
    return { streamed, text: n.value.text }
  }
  let tails = 0
  for (let seed = 1; seed <= 12; seed++) {
    const local = await run(svcHead, seed)
    const remote = await run(svcAsker, seed)
    assert.equal(remote.text, local.text, `seed ${seed}`)
    assert.equal(remote.streamed, local.streamed, `seed ${seed}`)
    if (local.text !== local.streamed) tails++
  }
  // the byte-level tiny vocabulary cuts a UTF-8 sequence at the limit for some seeds: the case this test is about
  assert.ok(tails > 0, 'no seed ended inside a UTF-8 sequence')
})

test('cancelling a remote generation stops it on the coordinating node and frees the stage caches', async () => {
  const ac = new AbortController()
  let passes = 0
  const before = s1Passes
  const it = svcAsker.generate({ model, prompt: 'hello world', maxTokens: 120, temperature: 0 }, ac.signal)
  await it.next()
  ac.abort()
  await assert.rejects(it.next(), (e: Error) => e.name === 'AbortError' || /abort/i.test(e.message))
  for (let i = 0; i < 100 && (s1.engine.sessions > 0 || s2.engine.sessions > 0); i++) await new Promise((r) => setTimeout(r, 20))
  assert.equal(s1.engine.sessions, 0)
  assert.equal(s2.engine.sessions, 0)
  await new Promise((r) => setTimeout(r, 50))
  passes = s1Passes - before
  // an uncancelled run would go on for 120 tokens (> 100 passes)
  assert.ok(passes < 40, `${passes} forward passes after cancel`)
})

test('CORTEX_GENERATE with a malformed body or an unknown model is answered with ERROR', async () => {
  const { CortexType, encodeGenerate } = await import('../../src/cortex/messages.js')
  const link = await asker.dial(head.addr)
  await assert.rejects(link.request(CortexType.CORTEX_GENERATE, new Uint8Array([0xa1, 0x61, 0x76, 0x01])), { code: 'bad_message' })
  await assert.rejects(link.request(CortexType.CORTEX_GENERATE, encodeGenerate({ gid: new Uint8Array(16), model: 'nope', prompt: 'x', maxTokens: 1, temperature: 0, topK: 0, topP: 1, seed: 0 })), { code: 'no_model' })
})
