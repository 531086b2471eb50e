import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryNetwork, type MemoryNode } from '../../src/transport/memory.js'
import { StageEngine } from '../../src/cortex/stage.js'
import { StageServer } from '../../src/cortex/server.js'
import { StaticStageDirectory } from '../../src/cortex/directory.js'
import { openChain, PipelineSession } from '../../src/cortex/pipeline.js'
import { generateAll } from '../../src/cortex/generate.js'
import { identity, maxAbsDiff, refClock, tinyModel } from './helpers.js'

const m = tinyModel({ family: 'llama', layers: 3, hidden: 32, heads: 4, kvHeads: 1, seed: 5 })
const net = new MemoryNetwork({ clock: refClock })
const client = net.createNode(identity(1), { host: '10.0.0.2', port: 1 })
const nodes: MemoryNode[] = []
const servers: StageServer[] = []
const model = 'tiny-failover'
const dims = { hidden: 32, vocab: 0 }

before(async () => {
  // head [0,1), two nodes serving [1,3): ports 11 and 12
  for (const [port, start, end] of [[10, 0, 1], [11, 1, 3], [12, 1, 3]] as const) {
    const node = net.createNode(identity(port), { host: '10.0.0.2', port })
    const engine = await StageEngine.load(m.dir, { start, end })
    dims.vocab = engine.cfg.vocabSize
    const s = new StageServer({ modelId: model, engine, router: node.router })
    s.start()
    nodes.push(node); servers.push(s)
  }
})
after(async () => {
  for (const s of servers) { s.stop(); await s.engine.close() }
  for (const n of nodes) n.stop()
  client.stop()
  m.cleanup()
})

const dir = (): StaticStageDirectory => new StaticStageDirectory(client, [10, 11, 12].map((port) => ({ host: '10.0.0.2', port })))
const prompt = [5, 9, 30, 41, 7]
const sampling = { temperature: 0.8, topK: 10, seed: 1234 }

test('a stage dying mid-generation is replaced and every step\'s logits equal the uninterrupted run within 1e-5', async () => {
  const opened = await openChain(dir(), client, model, dims)
  const ref = await generateAll(new PipelineSession({ model, layers: 3, ...dims, chain: opened.chain }), prompt, sampling, { maxTokens: 10 })
  assert.equal(ref.ids.length, 10)

  const { chain } = await openChain(dir(), client, model, dims)
  const victim = chain[1]!
  const victimNode = nodes.find((n) => n.identity.nodeIdB64 === Buffer.from(victim.nodeId).toString('base64'))!
  // the reference's logits at every step (prompt, then the tokens it generated), before any failure
  const steps = [prompt, ...ref.ids.slice(0, -1).map((t) => [t])]
  const refSession = new PipelineSession({ model, layers: 3, ...dims, chain: (await openChain(dir(), client, model, dims)).chain })
  const refLogits: Float32Array[] = []
  for (const ids of steps) refLogits.push((await refSession.step(ids)).slice())
  refSession.end()
  const session = new PipelineSession({ model, layers: 3, ...dims, chain, directory: dir(), links: client })
  for (let i = 0; i < steps.length; i++) {
    if (i === 4) victimNode.stop() // the node serving layers 1:3 goes away mid-generation
    const got = await session.step(steps[i]!)
    assert.ok(maxAbsDiff(got, refLogits[i]!) <= 1e-5, `step ${i}: max |diff| ${maxAbsDiff(got, refLogits[i]!)}`)
  }
  session.end()
  assert.equal(session.failovers, 1)
  assert.notEqual(Buffer.from(session.chain[1]!.nodeId).toString('base64'), victimNode.identity.nodeIdB64)
})

test('no replacement available: the session fails with a clear error', async () => {
  const alive = nodes.filter((n) => net.nodes.has(`${n.addr.host}:${n.addr.port}`))
  const { chain } = await openChain(dir(), client, model, dims)
  const session = new PipelineSession({ model, layers: 3, ...dims, chain, directory: dir(), links: client })
  await session.step(prompt)
  const tail = alive.find((n) => n.identity.nodeIdB64 === Buffer.from(chain[1]!.nodeId).toString('base64'))!
  tail.stop()
  await assert.rejects(session.step([3]), (e: Error & { code?: string }) => e.code === 'no_replacement')
  session.end()
})
