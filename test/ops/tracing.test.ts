/** Cross-node tracing: ten real nodes export OTLP/HTTP (JSON) to a collector run by the test; one `dht get` yields one
 *  trace whose lookup span, per-hop client spans and the server spans on every node it touched are linked parent to
 *  child. Also: the traced envelope (kind 3) on the wire, its hostile forms, and that tracing off sends none. */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { controlCall } from '../../src/cli/control-client.js'
import { RpcLink, KIND_TRACED_REQUEST, TRACE_CAPABILITY, type FrameSink } from '../../src/transport/rpc-link.js'
import type { Inbound, RemotePeer } from '../../src/interfaces/link.js'
import { createTracer } from '../../src/ops/tracing.js'
import { ProtocolError } from '../../src/transport/errors.js'
import { collector } from './otlp-collector.js'

const dirs: string[] = []
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })



// The nodes record no trace of their own (sampleRatio 0): the get an operator asks for through the control API is
// recorded whatever the ratio, with every hop on every node; the joins' lookups and the handshakes are not.
// No test timeout of its own (the runner's): ten nodes on a loaded machine take what they take.
test('one dht get across ten nodes is one trace: lookup span, a client span per hop, a linked server span on each node touched', async (t) => {
  const otlp = await collector()
  t.after(() => otlp.close())
  const nodes: ZeoneNode[] = []
  t.after(async () => { for (const n of nodes.reverse()) await n.stop() })
  const start = async (bootstrap: string[]): Promise<ZeoneNode> => {
    const dataDir = mkdtempSync(join(tmpdir(), 'zeone-trace-'))
    dirs.push(dataDir)
    const n = createNode(validateConfig({ dataDir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap }, ops: { httpPort: -1, logLevel: 'silent', tracing: { endpoint: otlp.url, sampleRatio: 0 } }, dht: { staticPuzzleBits: 0 } }))
    nodes.push(n)
    await n.start()
    return n
  }
  const first = await start([])
  const seed = [`127.0.0.1:${first.listenAddress!.port}`]
  for (let i = 1; i < 10; i++) await start(seed)
  const getter = nodes[9]!
  // every node knows the others (the seed introduces them through the joins' lookups)
  const tableSize = async (n: ZeoneNode): Promise<number> => ((await controlCall(n.dataDir, 'GET', '/v1/dht/table')) as { size: number }).size
  for (const n of nodes) while (await tableSize(n) < 5) await new Promise((r) => setTimeout(r, 50))

  const put = await controlCall(first.dataDir, 'POST', '/v1/dht/put', { body: { key: 'traced-key', value: 'hello trace' } }) as { storedOn: number }
  assert.ok(put.storedOn >= 1)
  const me = await controlCall(first.dataDir, 'GET', '/v1/status') as { nodeId: string }
  const got = await controlCall(getter.dataDir, 'GET', `/v1/dht/get?key=traced-key&publisher=${encodeURIComponent(me.nodeId)}`) as { found: boolean; value: string }
  assert.equal(got.found, true)
  for (const n of nodes) await n.stop() // flushes every node's batch of spans
  nodes.length = 0

  const getterId = otlp.spans.find((s) => s.name === 'dht.lookup find_value')?.node
  assert.ok(getterId, 'the getter exported its lookup span')
  const lookups = otlp.spans.filter((s) => s.name === 'dht.lookup find_value' && s.node === getterId)
  assert.equal(lookups.length, 1, 'one find_value lookup on the getter')
  const root = lookups[0]!
  assert.equal(root.parentSpanId ?? '', '')
  const trace = otlp.spans.filter((s) => s.traceId === root.traceId)
  const byId = new Map(trace.map((s) => [s.spanId, s]))
  // every span of the trace but the root has its parent in the trace
  for (const s of trace) if (s !== root) assert.ok(byId.has(s.parentSpanId ?? ''), `${s.name} on ${s.node.slice(0, 8)} has a parent in the trace`)
  const hops = trace.filter((s) => s.name === 'dht.rpc find_value')
  const served = trace.filter((s) => s.name === 'dht.handle FIND_VALUE')
  assert.ok(hops.length >= 5, `hops: ${hops.length}`)
  for (const h of hops) { assert.equal(h.parentSpanId, root.spanId); assert.equal(h.node, getterId); assert.equal(h.kind, 3 /* CLIENT */) }
  for (const s of served) {
    const parent = byId.get(s.parentSpanId!)!
    assert.equal(parent.name, 'dht.rpc find_value', 'a server span hangs under the hop that asked it')
    assert.notEqual(s.node, getterId)
    assert.equal(s.kind, 2 /* SERVER */)
  }
  const touched = new Set(served.map((s) => s.node))
  assert.ok(touched.size >= 5, `server spans on ${touched.size} nodes`)
  // each hop that got an answer has its server span on the node it asked: the hop count matches the nodes touched
  assert.equal(served.length, hops.filter((h) => served.some((s) => s.parentSpanId === h.spanId)).length)
  assert.ok((root.events ?? []).some((e) => e.name === 'answer'), 'the lookup span has an event per answer')
  // nothing else was recorded: the ratio holds for the traces the nodes start themselves (joins, handshakes)
  assert.deepEqual(otlp.spans.filter((s) => s.traceId !== root.traceId).map((s) => s.name), [])
})

test('tracing off: no tracer, no traced envelopes, nothing exported', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'zeone-trace-off-'))
  dirs.push(dataDir)
  assert.equal(await createTracer({ sampleRatio: 1, serviceName: 'zeone', headers: {} }, 'x'), undefined)
  const cfg = validateConfig({ dataDir, node: { port: 0, host: '127.0.0.1', legacy: false }, ops: { httpPort: -1, logLevel: 'silent' } })
  assert.equal(cfg.ops.tracing.endpoint, undefined)
  assert.throws(() => validateConfig({ dataDir, ops: { tracing: { endpoint: 'file:///etc/passwd' } } }), /ops\.tracing\.endpoint/)
  assert.throws(() => validateConfig({ dataDir, ops: { tracing: { sampleRatio: 2 } } }), /ops\.tracing\.sampleRatio/)
})

function pair(capabilities: string[]): { a: RpcLink; b: RpcLink; frames: Uint8Array[]; inbound: Inbound[] } {
  const frames: Uint8Array[] = []
  const inbound: Inbound[] = []
  const peer = (caps: string[]): RemotePeer => ({ nodeId: new Uint8Array(32), nodeIdB64: 'x', addr: { host: '127.0.0.1', port: 1 }, version: 2, capabilities: new Set(caps), outbound: true } as unknown as RemotePeer)
  let b!: RpcLink
  const sinkA: FrameSink = { sendFrame: (type, pt) => { frames.push(pt.slice()); b.receiveFrame(type, pt); return true }, whenWritable: async () => {}, close: () => {} }
  const a = new RpcLink(peer(capabilities), sinkA, () => {})
  const sinkB: FrameSink = { sendFrame: (type, pt) => { a.receiveFrame(type, pt); return true }, whenWritable: async () => {}, close: () => {} }
  b = new RpcLink(peer([]), sinkB, (m) => { inbound.push(m); m.reply?.(0x02, new Uint8Array([9])) })
  return { a, b, frames, inbound }
}

test('traced envelope: kind 3 only to TRACE peers, context delivered, hostile forms refused or dropped', async () => {
  const trace = { traceId: new Uint8Array(16).fill(0xab), spanId: new Uint8Array(8).fill(0xcd), flags: 1 }
  const on = pair([TRACE_CAPABILITY])
  await on.a.request(0x01, new Uint8Array([1, 2, 3]), { trace })
  assert.equal(on.frames[0]![0], KIND_TRACED_REQUEST)
  assert.equal(on.frames[0]!.byteLength, 1 + 4 + 25 + 3)
  // the layout of docs/protocol.md §2 (its vector, with this link's request id)
  assert.equal(Buffer.from(on.frames[0]!.subarray(5)).toString('hex'), 'ab'.repeat(16) + 'cd'.repeat(8) + '01' + '010203')
  assert.deepEqual(on.inbound[0]!.trace, trace)
  assert.deepEqual([...on.inbound[0]!.body], [1, 2, 3])

  const off = pair(['DHT'])
  await off.a.request(0x01, new Uint8Array([1]), { trace })
  assert.equal(off.frames[0]![0], 1, 'a peer without TRACE gets a plain request')
  assert.equal(off.inbound[0]!.trace, undefined)

  // hostile: truncated context is a protocol error; all-zero ids are dropped (W3C: invalid) but the request is served
  const h = pair([])
  const rid = [0, 0, 0, 7]
  assert.throws(() => h.b.receiveFrame(0x01, new Uint8Array([3, ...rid, ...new Uint8Array(24)])), (e: unknown) => e instanceof ProtocolError && e.code === 'bad_envelope')
  h.b.receiveFrame(0x01, new Uint8Array([3, ...rid, ...new Uint8Array(25), 5]))
  assert.equal(h.inbound.length, 1)
  assert.equal(h.inbound[0]!.trace, undefined)
  assert.deepEqual([...h.inbound[0]!.body], [5])
  assert.throws(() => h.b.receiveFrame(0x01, new Uint8Array([4, ...rid])), /unknown envelope kind 4/)
})
