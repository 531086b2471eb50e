import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryNetwork, type MemoryNode } from '../../src/transport/memory.js'
import { StageEngine } from '../../src/cortex/stage.js'
import { StageServer } from '../../src/cortex/server.js'
import { StaticStageDirectory } from '../../src/cortex/directory.js'
import { LocalStageClient, openChain, PipelineSession, RemoteStageClient, type StageClient } from '../../src/cortex/pipeline.js'
import { generateAll } from '../../src/cortex/generate.js'
import { ModelDir } from '../../src/cortex/model.js'
import { Tokenizer } from '../../src/cortex/tokenizer.js'
import type { Family } from '../../src/cortex/model.js'
import { identity, maxAbsDiff, refClock, tinyModel } from './helpers.js'
import { join } from 'node:path'

interface Net { net: MemoryNetwork; nodes: MemoryNode[]; servers: StageServer[]; engines: StageEngine[] }

async function serve(net: Net, dir: string, model: string, start: number, end: number, port: number): Promise<MemoryNode> {
  const node = net.net.createNode(identity(port), { host: '10.0.0.1', port })
  const engine = await StageEngine.load(dir, { start, end })
  const server = new StageServer({ modelId: model, engine, router: node.router, sessionTtlMs: 60_000 })
  server.start()
  net.nodes.push(node); net.servers.push(server); net.engines.push(engine)
  return node
}

for (const family of ['gpt2', 'llama'] as Family[]) {
  describe(`pipeline (${family})`, () => {
    const m = tinyModel({ family, layers: 4, hidden: 32, heads: 4, kvHeads: family === 'llama' ? 2 : undefined, seed: family === 'gpt2' ? 11 : 12 })
    const N: Net = { net: new MemoryNetwork({ clock: refClock }), nodes: [], servers: [], engines: [] }
    let client: MemoryNode
    let full: StageServer
    let tok: Tokenizer
    let dims: { hidden: number; vocab: number }
    const model = `tiny-${family}`

    before(async () => {
      const cfg = new ModelDir(m.dir).config
      dims = { hidden: cfg.hidden, vocab: cfg.vocabSize }
      tok = Tokenizer.fromFile(join(m.dir, 'tokenizer.json'))
      client = N.net.createNode(identity(1), { host: '10.0.0.1', port: 1 })
      const fe = await StageEngine.load(m.dir, { start: 0, end: 4 })
      full = new StageServer({ modelId: model, engine: fe, router: client.router })
      full.start()
      N.servers.push(full); N.engines.push(fe)
      await serve(N, m.dir, model, 0, 2, 10)
      await serve(N, m.dir, model, 2, 4, 11)
      await serve(N, m.dir, model, 0, 1, 20)
      await serve(N, m.dir, model, 1, 3, 21)
      await serve(N, m.dir, model, 3, 4, 22)
    })
    after(async () => {
      for (const s of N.servers) s.stop()
      for (const e of N.engines) await e.close()
      for (const n of N.nodes) n.stop()
      client.stop()
      m.cleanup()
    })

    async function remote(port: number, start: number, end: number): Promise<StageClient> {
      const link = await client.dial({ host: '10.0.0.1', port })
      return new RemoteStageClient(link, model, start, end, 4, dims.hidden, dims.vocab)
    }
    const prompt = (): number[] => tok.encode('the quick brown fox')
    const single = (): PipelineSession => new PipelineSession({ model, layers: 4, ...dims, chain: [new LocalStageClient(full, client.identity.publicKey)] })

    for (const sampling of [{ temperature: 0 }, { temperature: 0.9, topK: 20, topP: 0.95, seed: 7 }]) {
      test(`2 and 3 stages == single stage, token for token (${JSON.stringify(sampling)})`, async () => {
        const stop = { maxTokens: 12 }
        const ref = await generateAll(single(), prompt(), sampling, stop, tok)
        assert.equal(ref.ids.length, 12)
        const two = new PipelineSession({ model, layers: 4, ...dims, chain: [await remote(10, 0, 2), await remote(11, 2, 4)] })
        const three = new PipelineSession({ model, layers: 4, ...dims, chain: [await remote(20, 0, 1), await remote(21, 1, 3), await remote(22, 3, 4)] })
        const r2 = await generateAll(two, prompt(), sampling, stop, tok)
        const r3 = await generateAll(three, prompt(), sampling, stop, tok)
        // logits shipped to the coordinator (no tail sampling) give the same tokens as sampling on the last stage
        const viaLogits = new PipelineSession({ model, layers: 4, ...dims, chain: [await remote(10, 0, 2), await remote(11, 2, 4)] })
        const r2l = await generateAll({ step: (ids) => viaLogits.step(ids), end: () => viaLogits.end() }, prompt(), sampling, stop, tok)
        assert.deepEqual(r2l.ids, ref.ids)
        assert.deepEqual(r2.ids, ref.ids)
        assert.deepEqual(r3.ids, ref.ids)
        assert.equal(r2.text, ref.text)
        // sessions ended: the stages freed their caches
        await new Promise((r) => setTimeout(r, 5))
        for (const s of N.servers) assert.equal(s.engine.sessions, 0)
      })
    }

    test('2 and 3 stages == single stage: the logits of every step within 1e-5 (prompt, then decode steps)', async () => {
      const steps = [prompt(), ...[7, 19, 3, 42, 5, 11, 8, 2].map((t) => [t])]
      const run = async (s: PipelineSession): Promise<Float32Array[]> => {
        const out: Float32Array[] = []
        try { for (const ids of steps) out.push((await s.step(ids)).slice()) } finally { s.end() }
        return out
      }
      const ref = await run(single())
      const two = await run(new PipelineSession({ model, layers: 4, ...dims, chain: [await remote(10, 0, 2), await remote(11, 2, 4)] }))
      const three = await run(new PipelineSession({ model, layers: 4, ...dims, chain: [await remote(20, 0, 1), await remote(21, 1, 3), await remote(22, 3, 4)] }))
      for (let i = 0; i < steps.length; i++) {
        assert.equal(ref[i]!.length, dims.vocab)
        assert.ok(maxAbsDiff(two[i]!, ref[i]!) <= 1e-5, `2 stages, step ${i}: max |diff| ${maxAbsDiff(two[i]!, ref[i]!)}`)
        assert.ok(maxAbsDiff(three[i]!, ref[i]!) <= 1e-5, `3 stages, step ${i}: max |diff| ${maxAbsDiff(three[i]!, ref[i]!)}`)
      }
    })

    test('chain discovered through configured peers prefers fewest stages', async () => {
      const dir = new StaticStageDirectory(client, [10, 11, 20, 21, 22].map((port) => ({ host: '10.0.0.1', port })))
      const { chain, layers } = await openChain(dir, client, model, dims)
      assert.equal(layers, 4)
      assert.deepEqual(chain.map((c) => [c.start, c.end]), [[0, 2], [2, 4]])
    })

    test('concurrent sessions are batched and match solo runs', async () => {
      const stop = { maxTokens: 6 }
      const prompts = ['hello world', 'a peer to peer', 'the last stage'].map((p) => tok.encode(p))
      const solo = []
      for (const p of prompts) solo.push((await generateAll(single(), p, { temperature: 0 }, stop)).ids)
      const before = full.batcher.recentBatchSizes.length
      const together = await Promise.all(prompts.map((p) => generateAll(single(), p, { temperature: 0 }, stop)))
      assert.deepEqual(together.map((r) => r.ids), solo)
      assert.ok(full.batcher.recentBatchSizes.slice(before).some((b) => b > 1), 'some forward pass held several sessions')
    })
  })
}
