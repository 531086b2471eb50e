/** End to end: two real nodes over TCP (head and tail stages), generation through the head's HTTP API (SSE). */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { StageEngine } from '../../src/cortex/stage.js'
import { StageServer } from '../../src/cortex/server.js'
import { LocalStageClient, PipelineSession } from '../../src/cortex/pipeline.js'
import { generateAll } from '../../src/cortex/generate.js'
import { Tokenizer } from '../../src/cortex/tokenizer.js'
import { Router } from '../../src/transport/router.js'
import { tinyModel } from './helpers.js'
import { providerKey } from '../../src/cortex/directory.js'
import { readApiToken } from '../../src/ops/api-token.js'

const m = tinyModel({ family: 'llama', layers: 2, kvHeads: 2, seed: 77 })
const dirs: string[] = []
const nodes: ZeoneNode[] = []
after(async () => {
  for (const n of nodes) await n.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  m.cleanup()
})

function start(cortex: object, http: boolean, bootstrap: string[] = []): Promise<ZeoneNode> {
  const dataDir = mkdtempSync(join(tmpdir(), 'zeone-cortex-node-'))
  dirs.push(dataDir)
  const n = createNode(validateConfig({ dataDir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap }, ops: { httpPort: http ? 0 : -1, logLevel: 'silent' }, cortex }))
  nodes.push(n)
  return n.start().then(() => n)
}

test('two nodes over TCP: SSE completion from the head node equals a single-process run', async () => {
  const tail = await start({ serve: [{ path: m.dir, modelId: 'tiny', layers: '1:2' }] }, false)
  const head = await start({ serve: [{ path: m.dir, modelId: 'tiny', layers: '0:1' }], peers: [`127.0.0.1:${tail.listenAddress!.port}`] }, true)
  const r = await fetch(`http://127.0.0.1:${head.httpAddress!.port}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${readApiToken(head.dataDir)}` }, body: JSON.stringify({ model: 'tiny', prompt: 'hello world', max_tokens: 10, temperature: 0.8, seed: 42, stream: true }),
  })
  assert.equal(r.status, 200)
  const events = (await r.text()).split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''))
  assert.equal(events.at(-1), '[DONE]')
  const text = events.slice(0, -1).map((e) => (JSON.parse(e) as { choices: { delta: { content?: string } }[] }).choices[0]!.delta.content ?? '').join('')

  const tok = Tokenizer.fromFile(join(m.dir, 'tokenizer.json'))
  const e = await StageEngine.load(m.dir, { start: 0, end: 2 })
  const srv = new StageServer({ modelId: 'tiny', engine: e, router: new Router() })
  try {
    const s = new PipelineSession({ model: 'tiny', layers: 2, hidden: 32, vocab: e.cfg.vocabSize, chain: [new LocalStageClient(srv, new Uint8Array(32))] })
    const ref = await generateAll(s, tok.encode('hello world'), { temperature: 0.8, seed: 42 }, { maxTokens: 10, stopTokens: [2] }, tok)
    assert.ok(ref.ids.length > 0)
    assert.equal(text, ref.text)
  } finally { srv.stop(); await e.close() }
  // both stages count the positions they computed: the head runs its own stage in-process (LocalStageClient)
  const promptLen = tok.encode('hello world').length
  for (const n of [head, tail]) {
    const v = (await n.metrics.getSingleMetric('zeone_cortex_stage_tokens_total')!.get()).values[0]?.value ?? 0
    assert.ok(v >= promptLen, `stage tokens counted on ${n === head ? 'head' : 'tail'}: ${v}`)
  }
})

test('failover over TCP: the tail node in use stops mid-generation, another takes over, output unchanged', async () => {
  const tailA = await start({ serve: [{ path: m.dir, modelId: 'tiny', layers: '1:2' }] }, false)
  const tailB = await start({ serve: [{ path: m.dir, modelId: 'tiny', layers: '1:2' }] }, false)
  const peers = [tailA, tailB].map((t) => `127.0.0.1:${t.listenAddress!.port}`)
  const head = await start({ serve: [{ path: m.dir, modelId: 'tiny', layers: '0:1' }], peers }, false)
  const svc = head.services.get('cortex')!
  const req = { model: 'tiny', prompt: 'the quick brown fox', maxTokens: 12, temperature: 0.9, topK: 40, seed: 9 }
  const ref: number[] = []
  for (let it = svc.generate(req), r = await it.next(); !r.done; r = await it.next()) ref.push(r.value.id)
  assert.equal(ref.length, 12)
  const got: number[] = []
  const busy = (n: ZeoneNode): number => n.services.get('cortex')!.init.stages[0]!.server.sessionCount
  for (let it = svc.generate(req), r = await it.next(); !r.done; r = await it.next()) {
    got.push(r.value.id)
    if (got.length === 4) {
      const victim = busy(tailA) > 0 ? tailA : tailB
      assert.equal(busy(victim), 1)
      await victim.stop()
    }
  }
  assert.deepEqual(got, ref)
})

test('stages announced through the DHT are found without configured peers; a node without the model streams remotely', async () => {
  const tail = await start({ serve: [{ path: m.dir, modelId: 'tiny-dht', layers: '1:2' }] }, false)
  const boot = [`127.0.0.1:${tail.listenAddress!.port}`]
  const head = await start({ serve: [{ path: m.dir, modelId: 'tiny-dht', layers: '0:1' }] }, false, boot)
  const asker = await start({}, false, boot)
  const providers = asker.services.get('providers')
  assert.ok(providers, 'the DHT layer provides provider records')
  let recs = 0
  // announcements are waited for (up to ~60 s of polling: 10 s was too little at load 40), never raced
  for (let i = 0; i < 600 && recs < 2; i++) {
    recs = (await providers.findProviders(providerKey('tiny-dht'))).length
    if (recs < 2) await new Promise((r) => setTimeout(r, 100))
  }
  assert.equal(recs, 2)
  const viaHead: number[] = []
  for (let it = head.services.get('cortex')!.generate({ model: 'tiny-dht', prompt: 'hello', maxTokens: 6 }), r = await it.next(); !r.done; r = await it.next()) viaHead.push(r.value.id)
  const viaAsker: number[] = []
  for (let it = asker.services.get('cortex')!.generate({ model: 'tiny-dht', prompt: 'hello', maxTokens: 6 }), r = await it.next(); !r.done; r = await it.next()) viaAsker.push(r.value.id)
  assert.ok(viaHead.length > 0)
  assert.deepEqual(viaAsker, viaHead)
})
