/**
 * The node's OpenAI-compatible HTTP API driven by the official `openai` npm client, against real nodes on loopback
 * (TCP between stages, HTTP on 127.0.0.1) serving a tiny self-made model with a 128-token context.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI, { APIError } from 'openai'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { readApiToken } from '../../src/ops/api-token.js'
import { tinyModel } from './helpers.js'

const m = tinyModel({ family: 'llama', layers: 2, kvHeads: 2, seed: 5, maxPositions: 128 })
const model = 'tiny-oai'
const dirs: string[] = []
const nodes: ZeoneNode[] = []
let node: ZeoneNode
let client: OpenAI
let base = ''
let token = ''

function start(cortex: object, http: boolean): Promise<ZeoneNode> {
  const dataDir = mkdtempSync(join(tmpdir(), 'zeone-cortex-oai-'))
  dirs.push(dataDir)
  const n = createNode(validateConfig({ dataDir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap: [] }, ops: { httpPort: http ? 0 : -1, logLevel: 'silent' }, cortex }))
  nodes.push(n)
  return n.start().then(() => n)
}
const clientFor = (n: ZeoneNode): OpenAI => new OpenAI({ baseURL: `http://127.0.0.1:${n.httpAddress!.port}/v1`, apiKey: readApiToken(n.dataDir), maxRetries: 0, timeout: 60_000 })
/** The stage sessions (KV caches) open on a node: 0 when a request was refused before any stage was asked. */
const sessions = (n: ZeoneNode): number => n.services.get('cortex')!.init.stages[0]!.server.sessionCount

before(async () => {
  node = await start({ serve: [{ path: m.dir, modelId: model, layers: '0:2' }] }, true)
  client = clientFor(node)
  base = `http://127.0.0.1:${node.httpAddress!.port}`
  token = readApiToken(node.dataDir)!
})
after(async () => {
  for (const n of nodes) await n.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  m.cleanup()
})

const chat = { model, messages: [{ role: 'user' as const, content: 'hello world' }], max_tokens: 12, temperature: 0.8, seed: 7 }

/** Expects `p` to reject with an OpenAI APIError of this status whose error object names `code` (and `param`). */
async function refused(p: Promise<unknown>, status: number, code: string, param?: string): Promise<APIError> {
  let err: unknown
  try { await p } catch (e) { err = e }
  assert.ok(err instanceof APIError, `expected an APIError, got ${String(err)}`)
  assert.equal(err.status, status, err.message)
  assert.equal(err.code, code, err.message)
  if (param !== undefined) assert.equal(err.param, param)
  assert.equal(err.type, status < 500 ? 'invalid_request_error' : 'server_error')
  return err
}

test('chat: the SDK stream helper assembles the same completion as the JSON answer, with usage', async () => {
  const j = await client.chat.completions.create(chat)
  assert.equal(j.object, 'chat.completion')
  assert.equal(j.choices.length, 1)
  assert.equal(j.choices[0]!.message.role, 'assistant')
  assert.equal(j.choices[0]!.finish_reason, 'length')
  assert.ok(j.choices[0]!.message.content!.length > 0)
  assert.ok(j.usage!.prompt_tokens > 0)
  assert.equal(j.usage!.completion_tokens, 12)
  assert.equal(j.usage!.total_tokens, j.usage!.prompt_tokens + 12)

  // the helper throws "missing role for choice 0" unless the first delta carries the role
  const stream = client.chat.completions.stream(chat)
  let deltas = ''
  stream.on('content', (d) => { deltas += d })
  const fin = await stream.finalChatCompletion()
  assert.equal(fin.choices[0]!.message.role, 'assistant')
  assert.equal(fin.choices[0]!.message.content, j.choices[0]!.message.content)
  assert.equal(deltas, j.choices[0]!.message.content)
  assert.equal(fin.choices[0]!.finish_reason, 'length')
})

test('chat stream with stream_options.include_usage ends with a usage chunk that has no choices', async () => {
  const ref = await client.chat.completions.create(chat)
  const chunks = []
  for await (const c of await client.chat.completions.create({ ...chat, stream: true, stream_options: { include_usage: true } })) chunks.push(c)
  const last = chunks.at(-1)!
  assert.deepEqual(last.choices, [])
  assert.deepEqual(last.usage, ref.usage)
  // every other chunk has usage: null, as OpenAI sends it
  assert.ok(chunks.slice(0, -1).every((c) => c.usage === null))
  assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'length')
  // without the option there is no usage chunk
  const plain = []
  for await (const c of await client.chat.completions.create({ ...chat, stream: true })) plain.push(c)
  assert.ok(plain.every((c) => c.choices.length === 1 && c.usage === undefined))
})

test('content given as an array of text parts is the same prompt as the joined string', async () => {
  const parts = await client.chat.completions.create({ ...chat, messages: [{ role: 'user', content: [{ type: 'text', text: 'hello' }, { type: 'text', text: 'world' }] }] })
  const joined = await client.chat.completions.create({ ...chat, messages: [{ role: 'user', content: 'hello\nworld' }] })
  assert.equal(parts.choices[0]!.message.content, joined.choices[0]!.message.content)
  assert.equal(parts.usage!.prompt_tokens, joined.usage!.prompt_tokens)
  // a system message and parts together
  const sys = await client.chat.completions.create({ ...chat, messages: [{ role: 'system', content: [{ type: 'text', text: 'be brief' }] }, { role: 'user', content: [{ type: 'text', text: 'hi' }] }] })
  assert.ok(sys.usage!.prompt_tokens > parts.usage!.prompt_tokens - 2)
  // an image part is refused by name, not ignored
  await refused(client.chat.completions.create({ ...chat, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x/y.png' } }] }] }), 400, 'unsupported_content_type', 'messages[0].content[0].type')
})

test('an unknown model is a 404 with the OpenAI error object, on chat, completions and models.retrieve', async () => {
  const e = await refused(client.chat.completions.create({ ...chat, model: 'no-such-model' }), 404, 'model_not_found')
  assert.match(e.message, /no-such-model/)
  await refused(client.completions.create({ model: 'no-such-model', prompt: 'x' }), 404, 'model_not_found')
  const list = await client.models.list()
  assert.deepEqual(list.data.map((x) => x.id), [model])
  assert.equal((await client.models.retrieve(model)).id, model)
  await assert.rejects(client.models.retrieve('no-such-model'), (x: unknown) => x instanceof APIError && x.status === 404)
})

test('prompt + max_tokens over the context is a 400 before any stage is asked, streamed or not', async () => {
  for (const stream of [false, true]) {
    const e = await refused(client.chat.completions.create({ ...chat, max_tokens: 127, stream }), 400, 'context_length_exceeded')
    assert.match(e.message, /maximum context length is 128 tokens/)
    await refused(client.chat.completions.create({ ...chat, max_tokens: 1e15, stream }), 400, 'context_length_exceeded')
    await refused(client.completions.create({ model, prompt: 'hello world', max_tokens: 200, stream }), 400, 'context_length_exceeded')
  }
  assert.equal(sessions(node), 0)
  // a prompt that alone fills the context (and no max_tokens) is refused the same way
  await refused(client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hello world '.repeat(200) }] }), 400, 'context_length_exceeded')
  // without max_tokens the default is fitted to what the context leaves: the run ends at the context, not with an error
  const fit = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hello world '.repeat(8) }], temperature: 0.9, seed: 1 })
  assert.ok(fit.usage!.prompt_tokens + fit.usage!.completion_tokens <= 128)
})

test('n choices: each is its own generation (choice 0 = the n=1 answer), streamed interleaved by index; n over 4 is a 400', async () => {
  const one = await client.chat.completions.create(chat)
  const three = await client.chat.completions.create({ ...chat, n: 3 })
  assert.deepEqual(three.choices.map((c) => c.index), [0, 1, 2])
  assert.equal(three.choices[0]!.message.content, one.choices[0]!.message.content)
  // other seeds: the sampled choices differ
  assert.ok(new Set(three.choices.map((c) => c.message.content)).size > 1, JSON.stringify(three.choices))
  assert.equal(three.usage!.prompt_tokens, one.usage!.prompt_tokens)
  assert.equal(three.usage!.completion_tokens, 36)
  // the SDK's stream helper assembles each choice from its own deltas
  const fin = await client.chat.completions.stream({ ...chat, n: 3 }).finalChatCompletion()
  assert.deepEqual(fin.choices.map((c) => c.message.content), three.choices.map((c) => c.message.content))
  assert.ok(fin.choices.every((c) => c.finish_reason === 'length' && c.message.role === 'assistant'))
  const text = []
  for await (const c of await client.completions.create({ model, prompt: 'hello world', max_tokens: 6, temperature: 0.8, seed: 2, n: 2, stream: true, stream_options: { include_usage: true } })) text.push(c)
  assert.equal(text.at(-1)!.usage!.completion_tokens, 12)
  await refused(client.chat.completions.create({ ...chat, n: 5 }), 400, 'invalid_value', 'n')
  await refused(client.chat.completions.create({ ...chat, n: 1e9 }), 400, 'invalid_value', 'n')
  await refused(client.chat.completions.create({ ...chat, n: 0 }), 400, 'invalid_value', 'n')
  assert.equal(sessions(node), 0)
})

test('/v1/completions: JSON and stream give the same text, equal to chat with the raw prompt', async () => {
  const req = { model, prompt: 'the quick brown fox', max_tokens: 10, temperature: 0.7, seed: 11 }
  const j = await client.completions.create(req)
  assert.equal(j.object, 'text_completion')
  assert.equal(j.choices[0]!.finish_reason, 'length')
  assert.equal(j.usage!.completion_tokens, 10)
  assert.ok(j.usage!.prompt_tokens > 0)
  let text = ''
  const chunks = []
  for await (const c of await client.completions.create({ ...req, stream: true, stream_options: { include_usage: true } })) {
    chunks.push(c)
    text += c.choices[0]?.text ?? ''
  }
  assert.equal(text, j.choices[0]!.text)
  assert.ok(chunks.slice(0, -1).every((c) => c.object === 'text_completion'))
  assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'length')
  assert.deepEqual(chunks.at(-1)!.usage, j.usage)
  // the same request through chat with a raw prompt runs the same prompt
  const viaChat = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(req) })
  assert.equal(((await viaChat.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content, j.choices[0]!.text)
  // echo puts the prompt in front; the default max_tokens is OpenAI's 16
  const echo = await client.completions.create({ ...req, echo: true })
  assert.equal(echo.choices[0]!.text, req.prompt + j.choices[0]!.text)
  const dflt = await client.completions.create({ model, prompt: 'the quick brown fox', temperature: 0.7, seed: 11 })
  assert.ok(dflt.usage!.completion_tokens <= 16)
  await refused(client.completions.create({ model, prompt: ['a', 'b'] }), 400, 'unsupported_value', 'prompt')
  await refused(client.completions.create({ model, prompt: [1, 2, 3] }), 400, 'unsupported_value', 'prompt')
})

test('a stage that dies after the stream started ends it with finish_reason "error" and an error event, never silently', async () => {
  const tail = await start({ serve: [{ path: m.dir, modelId: model, layers: '1:2' }] }, false)
  const head = await start({ serve: [{ path: m.dir, modelId: model, layers: '0:1' }], peers: [`127.0.0.1:${tail.listenAddress!.port}`] }, true)
  // injected fault: the tail node stops while it holds its 4th forward pass (prefill + 2 tokens were answered)
  const engine = tail.services.get('cortex')!.init.stages[0]!.server.engine
  const forward = engine.forwardBatch.bind(engine)
  let calls = 0
  engine.forwardBatch = async (items) => {
    if (++calls < 4) return forward(items)
    setImmediate(() => void tail.stop())
    return new Promise(() => {})
  }
  const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = []
  let err: unknown
  try {
    for await (const c of await clientFor(head).chat.completions.create({ ...chat, max_tokens: 50, stream: true })) chunks.push(c)
  } catch (e) { err = e }
  assert.ok(err instanceof APIError, `the stream must end with an error, got ${String(err)} after ${chunks.length} chunks`)
  assert.equal(err.type, 'server_error')
  assert.ok(err.code === 'no_replacement' || err.code === 'failover_exhausted', String(err.code))
  assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant')
  assert.ok(chunks.some((c) => c.choices[0]?.delta.content), 'tokens were streamed before the failure')
  assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'error' as never)
  assert.ok(chunks.slice(0, -1).every((c) => c.choices[0]!.finish_reason === null))
})

/** A raw HTTP exchange (fetch cannot send a body larger than it declares, nor stream one slowly). */
function raw(path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; json: { error: { message: string; type: string; param: string | null; code: string | null } } }> {
  return new Promise((resolve, reject) => {
    const r = request(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers } }, (res) => {
      let s = ''
      res.on('data', (d: Buffer) => { s += d.toString() })
      res.on('end', () => { try { resolve({ status: res.statusCode!, json: JSON.parse(s) }) } catch (e) { reject(e) } })
    })
    r.on('error', reject)
    r.end(body)
  })
}

test('hostile bodies get OpenAI-shaped 400/413 answers and the node keeps serving', async () => {
  const post = (b: unknown, path = '/v1/chat/completions') => raw(path, typeof b === 'string' ? b : JSON.stringify(b))
  const cases: [unknown, number, string, string | null][] = [
    ['{nope', 400, 'invalid_json', null],
    ['', 400, 'invalid_json', null],
    ['[]', 400, 'invalid_type', null],
    ['null', 400, 'invalid_type', null],
    [{ ...chat, wat: 1 }, 400, 'unknown_parameter', 'wat'],
    [{ ...chat, stream_options: { include_usage: true, x: 1 } }, 400, 'unknown_parameter', 'stream_options.x'],
    [{ ...chat, stream_options: { include_usage: true } }, 400, 'invalid_value', 'stream_options'],
    [{ ...chat, max_tokens: 1e300 }, 400, 'invalid_value', 'max_tokens'],
    [{ ...chat, max_tokens: -1 }, 400, 'invalid_value', 'max_tokens'],
    [{ ...chat, max_tokens: 2.5 }, 400, 'invalid_type', 'max_tokens'],
    [{ ...chat, max_tokens: '12' }, 400, 'invalid_type', 'max_tokens'],
    [{ ...chat, temperature: 9 }, 400, 'invalid_value', 'temperature'],
    [{ ...chat, n: 1e9 }, 400, 'invalid_value', 'n'],
    [{ ...chat, tools: [{ type: 'function', function: { name: 'f' } }] }, 400, 'unsupported_parameter', 'tools'],
    [{ ...chat, stop: Array(100).fill('x') }, 400, 'invalid_value', 'stop'],
    [{ ...chat, messages: [] }, 400, 'invalid_value', 'messages'],
    [{ ...chat, messages: Array(10_000).fill({ role: 'user', content: 'a' }) }, 400, 'invalid_value', 'messages'],
    [{ ...chat, messages: [{ role: 'wizard', content: 'a' }] }, 400, 'invalid_value', 'messages[0].role'],
    [{ ...chat, messages: [{ role: 'user', content: 'a', extra: true }] }, 400, 'unknown_parameter', 'messages[0].extra'],
    [{ ...chat, messages: [{ role: 'user', content: Array(10_000).fill({ type: 'text', text: 'a' }) }] }, 400, 'invalid_value', 'messages[0].content'],
    [{ ...chat, messages: [{ role: 'user', content: 'x'.repeat(70_000) }] }, 400, 'prompt_too_large', 'messages'],
    [{ model: 'x'.repeat(10_000), messages: chat.messages }, 400, 'invalid_value', 'model'],
    [{ model, prompt: 'x', echo: 'yes' }, 400, 'invalid_type', 'echo'],
  ]
  for (const [b, status, code, param] of cases) {
    const r = await post(b, code === 'invalid_type' && typeof b === 'object' && b && 'echo' in b ? '/v1/completions' : undefined)
    const what = typeof b === 'string' ? b : JSON.stringify(b).slice(0, 80)
    assert.equal(r.status, status, `${what}: ${r.json.error?.message}`)
    assert.equal(r.json.error.code, code, `${what}: ${r.json.error.message}`)
    assert.equal(r.json.error.param, param, what)
    assert.equal(r.json.error.type, 'invalid_request_error')
    assert.ok(r.json.error.message.length < 1000, 'the message stays short whatever was sent')
  }
  // a content array nested 100 000 deep: parsed without recursion limits, refused by the schema at its first level
  const deep = `{"model":"${model}","messages":[{"role":"user","content":${'['.repeat(100_000)}${']'.repeat(100_000)}}]}`
  const d = await post(deep)
  assert.equal(d.status, 400)
  assert.equal(d.json.error.param, 'messages[0].content[0]')
  // over 1 MiB: refused by the declared length, and by counting when it is sent chunked without a length
  const big = Buffer.alloc(1024 * 1024 + 10, 0x20)
  assert.equal((await raw('/v1/chat/completions', big)).status, 413)
  const chunked = await raw('/v1/completions', big, { 'transfer-encoding': 'chunked' })
  assert.equal(chunked.status, 413)
  assert.equal(chunked.json.error.code, 'request_too_large')
  // still serving
  assert.equal((await client.chat.completions.create(chat)).choices[0]!.finish_reason, 'length')
  assert.equal(sessions(node), 0)
})
