import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryNetwork, type MemoryNode } from '../../src/transport/memory.js'
import { StageEngine } from '../../src/cortex/stage.js'
import { StageServer } from '../../src/cortex/server.js'
import { CortexType, encodeEnd, encodeForwardReq } from '../../src/cortex/messages.js'
import { encodeTensor } from '../../src/cortex/tensor-codec.js'
import type { Link } from '../../src/interfaces/link.js'
import type { TrustEvent } from '../../src/interfaces/trust.js'
import { identity, refClock, tinyModel } from './helpers.js'

const m = tinyModel({ family: 'gpt2', layers: 2, seed: 4 })
const net = new MemoryNetwork({ clock: refClock })
let stageNode: MemoryNode, client: MemoryNode
let server: StageServer
let link: Link
const trust: TrustEvent[] = []
let now = 1_000_000
const clock = { now: () => now, setTimeout: refClock.setTimeout }

before(async () => {
  stageNode = net.createNode(identity(60), { host: '10.0.0.4', port: 60 })
  client = net.createNode(identity(61), { host: '10.0.0.4', port: 61 })
  const engine = await StageEngine.load(m.dir, { start: 1, end: 2 })
  server = new StageServer({ modelId: 'm', engine, router: stageNode.router, sessionTtlMs: 1000, clock, trust: { report: (_n, e) => trust.push(e) } })
  server.start()
  link = await client.dial(stageNode.addr)
})
after(async () => {
  server.stop(); server.stop()
  await server.engine.close()
  stageNode.stop(); client.stop()
  m.cleanup()
})

const sid = (n: number): Uint8Array => new Uint8Array(16).fill(n)
const fwd = (body: Uint8Array): Promise<unknown> => link.request(CortexType.CORTEX_FORWARD, body)

test('hostile activations are refused with typed errors and reported; the stage keeps serving', async () => {
  const D = 32
  const nan = new Float32Array(D); nan[3] = NaN
  await assert.rejects(fwd(encodeForwardReq({ sid: sid(1), model: 'm', pos: 0, x: encodeTensor(nan, [1, D]) })), { code: 'non_finite' })
  await assert.rejects(fwd(encodeForwardReq({ sid: sid(1), model: 'm', pos: 0, x: encodeTensor(new Float32Array(2 * 31), [2, 31]) })), { code: 'bad_shape' })
  await assert.rejects(fwd(encodeForwardReq({ sid: sid(1), model: 'm', pos: 0, x: encodeTensor(new Float32Array(200 * D), [200, D]) })), { code: 'oversize' })
  await assert.rejects(fwd(encodeForwardReq({ sid: sid(1), model: 'm', pos: 0, ids: [1, 2] })), { code: 'bad_input' })
  await assert.rejects(fwd(encodeForwardReq({ sid: sid(1), model: 'other', pos: 0, x: encodeTensor(new Float32Array(D), [1, D]) })), { code: 'wrong_model' })
  await assert.rejects(fwd(new Uint8Array([0xa1, 0x61, 0x76, 0x02])), { code: 'bad_message' })
  assert.ok(trust.includes('invalid_message'))
  const ok = await fwd(encodeForwardReq({ sid: sid(1), model: 'm', pos: 0, x: encodeTensor(new Float32Array(3 * D).fill(0.1), [3, D]) }))
  assert.equal((ok as { type: number }).type, CortexType.CORTEX_FORWARD_RESP)
  await assert.rejects(fwd(encodeForwardReq({ sid: sid(1), model: 'm', pos: 7, x: encodeTensor(new Float32Array(D), [1, D]) })), { code: 'pos_mismatch' })
  assert.equal(server.sessionCount, 1)
})

test('sessions end explicitly, by idle timeout, and when the peer goes away', async () => {
  const body = (n: number): Uint8Array => encodeForwardReq({ sid: sid(n), model: 'm', pos: 0, x: encodeTensor(new Float32Array(32).fill(0.2), [1, 32]) })
  await fwd(body(2)); await fwd(body(3))
  assert.equal(server.engine.sessions, 3)
  link.send(CortexType.CORTEX_END, encodeEnd(sid(2)))
  await new Promise((r) => setTimeout(r, 10))
  assert.equal(server.engine.sessions, 2)
  now += 5000 // everything idle past the TTL; the sweep runs every ttl/2 of real time
  await new Promise((r) => setTimeout(r, 600))
  assert.equal(server.engine.sessions, 0)
  await fwd(body(4))
  assert.equal(server.sessionCount, 1)
  link.close('bye')
  await new Promise((r) => setTimeout(r, 10))
  assert.equal(server.sessionCount, 0)
  assert.equal(server.engine.sessions, 0)
})

test('a peer opening sessions beyond capacity is refused and leaves no state behind', async () => {
  const node = net.createNode(identity(62), { host: '10.0.0.4', port: 62 })
  const engine = await StageEngine.load(m.dir, { start: 0, end: 2, maxSessions: 1 })
  const batches: number[] = []
  const s = new StageServer({ modelId: 'm', engine, router: node.router, onBatch: (n) => batches.push(n) })
  s.start()
  try {
    const l = await client.dial(node.addr)
    const req = (n: number): Promise<unknown> => l.request(CortexType.CORTEX_FORWARD, encodeForwardReq({ sid: sid(n), model: 'm', pos: 0, ids: [1, 2] }))
    await req(1)
    for (let i = 2; i < 40; i++) await assert.rejects(req(i), { code: 'capacity' })
    assert.equal(s.sessionCount, 1)
    assert.equal(engine.sessions, 1)
    assert.deepEqual(batches, [1])
  } finally { s.stop(); await engine.close(); node.stop() }
})

test('one peer cannot hold more than maxSessionsPerPeer sessions; ending one frees its slot', async () => {
  const node = net.createNode(identity(63), { host: '10.0.0.4', port: 63 })
  const engine = await StageEngine.load(m.dir, { start: 0, end: 2, maxSessions: 10 })
  const s = new StageServer({ modelId: 'm', engine, router: node.router, maxSessionsPerPeer: 2 })
  s.start()
  try {
    const l = await client.dial(node.addr)
    const req = (n: number): Promise<unknown> => l.request(CortexType.CORTEX_FORWARD, encodeForwardReq({ sid: sid(n), model: 'm', pos: 0, ids: [3] }))
    await req(1); await req(2)
    await assert.rejects(req(3), { code: 'capacity' })
    l.send(CortexType.CORTEX_END, encodeEnd(sid(1)))
    await new Promise((r) => setTimeout(r, 10))
    await req(3)
    assert.equal(s.sessionCount, 2)
  } finally { s.stop(); await engine.close(); node.stop() }
})

test('a stage whose model leaves the governed whitelist refuses requests until it is back', async () => {
  const node = net.createNode(identity(64), { host: '10.0.0.4', port: 64 })
  const engine = await StageEngine.load(m.dir, { start: 0, end: 2, maxSessions: 4 })
  let allowed = false
  const s = new StageServer({ modelId: 'm', engine, router: node.router, allowed: () => allowed })
  s.start()
  try {
    const l = await client.dial(node.addr)
    const req = (n: number): Promise<unknown> => l.request(CortexType.CORTEX_FORWARD, encodeForwardReq({ sid: sid(n), model: 'm', pos: 0, ids: [3] }))
    await assert.rejects(req(1), { code: 'model_not_whitelisted' })
    assert.equal(s.sessionCount, 0)
    allowed = true
    await req(1)
    assert.equal(s.sessionCount, 1)
  } finally { s.stop(); await engine.close(); node.stop() }
})
