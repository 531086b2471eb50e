// Sampling in the node's tracer (src/ops/tracing.ts): a trace sampled out builds nothing (one shared no-op span, no
// context for the wire, its children no-ops too); a sampled remote parent is always continued and recorded.
// Spans are exported over real OTLP/HTTP (JSON) to a collector run here.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SpanKind } from '@opentelemetry/api'
import { createTracer } from '../../src/ops/tracing.js'
import { collector } from './otlp-collector.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const nonZero = (b: Uint8Array): boolean => b.some((x) => x !== 0)

test('tracing: sampled-out traces carry context without recording; sampled parents are continued and exported', async (t) => {
  const otlp = await collector()
  t.after(() => otlp.close())
  const cfg = (sampleRatio: number) => ({ endpoint: otlp.url, sampleRatio, serviceName: 'zeone-test', headers: {} })

  // ratio 0: nothing this node starts is recorded
  const off = (await createTracer(cfg(0), 'n0'))!
  const root = off.start('root.unsampled', { kind: SpanKind.CLIENT, attributes: { a: 1 } })
  assert.equal(root.isRecording(), false)
  assert.equal(off.contextOf(root), undefined, 'a sampled-out trace sends no context')
  assert.equal(root.spanContext().traceFlags, 0)
  const child = off.start('child.unsampled', { parent: root })
  assert.equal(child.isRecording(), false, 'a child of a sampled-out span is not recorded')
  assert.equal(off.contextOf(child), undefined)
  root.setAttribute('x', 1).addEvent('e').setStatus({ code: 2 }).end()
  child.end()
  // ...but a peer's sampled trace is continued and recorded, under the peer's trace id and span
  const remote = { traceId: new Uint8Array(16).fill(0xab), spanId: new Uint8Array(8).fill(0xcd), flags: 1 }
  const served = off.start('served.sampled', { parent: remote, kind: SpanKind.SERVER })
  assert.equal(served.isRecording(), true)
  served.end()
  // the remote ids are copied: a reused receive buffer cannot change a span that is still queued
  remote.traceId.fill(0)
  await off.forceFlush()

  // ratio 1: roots are recorded; a peer's sampled-out trace is not, whatever our ratio
  const on = (await createTracer(cfg(1), 'n1'))!
  const r1 = on.start('root.sampled')
  assert.equal(r1.isRecording(), true)
  const r1c = on.contextOf(r1)!
  assert.equal(r1c.flags, 1)
  assert.ok(r1c.traceId.byteLength === 16 && r1c.spanId.byteLength === 8 && nonZero(r1c.traceId) && nonZero(r1c.spanId), 'W3C: ids are never all zero')
  assert.equal(r1.spanContext().traceId, hex(r1c.traceId))
  const quiet = { traceId: new Uint8Array(16).fill(0x11), spanId: new Uint8Array(8).fill(0x22), flags: 0 }
  const q = on.start('served.unsampled', { parent: quiet, kind: SpanKind.SERVER })
  assert.equal(q.isRecording(), false)
  assert.equal(on.contextOf(q), undefined, 'a peer\'s sampled-out trace is not propagated further')
  // a malformed remote context starts a new root trace (by the ratio), it is not continued
  const bad = on.start('served.malformed', { parent: { traceId: new Uint8Array(15), spanId: new Uint8Array(8).fill(1), flags: 1 } })
  assert.equal(bad.isRecording(), true)
  assert.equal(on.contextOf(bad)!.traceId.byteLength, 16)
  const local = on.start('child.sampled', { parent: r1 })
  assert.equal(hex(on.contextOf(local)!.traceId), hex(r1c.traceId))
  for (const s of [r1, q, bad, local]) s.end()
  await on.forceFlush()

  const names = otlp.spans.map((s) => s.name).sort()
  assert.deepEqual(names, ['child.sampled', 'root.sampled', 'served.malformed', 'served.sampled'])
  const s = otlp.spans.find((x) => x.name === 'served.sampled')!
  assert.equal(s.traceId, 'ab'.repeat(16))
  assert.equal(s.parentSpanId, 'cd'.repeat(8))
  const c = otlp.spans.find((x) => x.name === 'child.sampled')!
  assert.equal(c.parentSpanId, otlp.spans.find((x) => x.name === 'root.sampled')!.spanId)
  await off.shutdown()
  await on.shutdown()
})

// A lookup sampled out must cost the draw only: the real tracer at ratio 0, wrapped to count what the DHT asks of it
// (no span, and so no name, attributes or hex target built); an operator's traced lookup still gets its span.
test('tracing: a sampled-out DHT lookup starts no span; a traced one does', async (t) => {
  const otlp = await collector()
  t.after(() => otlp.close())
  const { Dht } = await import('../../src/dht/dht.js')
  const { MemoryRecordStore } = await import('../../src/dht/store.js')
  const { defaultDhtConfig } = await import('../../src/dht/config.js')
  const { makeContact } = await import('../../src/dht/contact.js')
  const { Identity } = await import('../../src/crypto/identity.js')
  const { randomBytes } = await import('../../src/crypto/sign.js')
  const { systemClock } = await import('../../src/interfaces/clock.js')
  const real = (await createTracer({ endpoint: otlp.url, sampleRatio: 0, serviceName: 'zeone-test', headers: {} }, 'n'))!
  const calls = { sampleRoot: 0, start: 0 }
  const tracer = {
    ...real,
    sampleRoot: (force?: boolean) => { calls.sampleRoot++; return real.sampleRoot(force) },
    start: (...a: Parameters<typeof real.start>) => { calls.start++; return real.start(...a) },
  }
  const self = Identity.fromSeed(randomBytes(32))
  const dht = new Dht({
    config: defaultDhtConfig({ staticPuzzleBits: 0, dynamicPuzzleBits: 0 }), identity: self, store: new MemoryRecordStore(), tracer,
    net: { request: () => Promise.reject(new Error('offline')), connect: () => Promise.resolve(undefined) },
    clock: systemClock,
  })
  t.after(() => dht.stop())
  const peer = Identity.fromSeed(randomBytes(32))
  dht.observe(makeContact(peer.publicKey, peer.dhtId, { host: '20.0.0.1', port: 1 }))
  await dht.findNode(randomBytes(32)).catch(() => undefined)
  assert.deepEqual(calls, { sampleRoot: 1, start: 0 }, 'one draw, no span (not even for the hop to the offline peer)')
  await dht.get(randomBytes(32), { publisher: peer.publicKey, traced: true }).catch(() => undefined)
  assert.ok(calls.start >= 2, `the traced lookup has its span and a hop span: ${calls.start}`)
  await real.shutdown()
})
