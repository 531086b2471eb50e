// The node's own OTLP/JSON span export (src/ops/otlp-json.ts, otlp-exporter.ts, trace-spans.ts): the encoding a
// collector parses (ids, ns times, kinds, attribute types, events, status), and the exporter's bounds against a
// collector that fails, is down, or cannot keep up: spans are dropped and counted, the node never waits or grows.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { exportRequestJson, msToNanoString } from '../../src/ops/otlp-json.js'
import { OtlpExporter } from '../../src/ops/otlp-exporter.js'
import { MAX_EVENTS, RecordedSpan } from '../../src/ops/trace-spans.js'
import { collector } from './otlp-collector.js'

const span = (name: string, onEnd: (s: RecordedSpan) => void = () => {}, parent = true): RecordedSpan =>
  new RecordedSpan(new Uint8Array(16).fill(0xab), new Uint8Array(8).fill(0x01), parent ? new Uint8Array(8).fill(0xcd) : undefined, name, SpanKind.SERVER, { s: 'x', i: 7, d: 1.5, b: true, a: ['p', 'q'] }, 1_700_000_000_123.5, onEnd)

test('otlp json: ns times without float loss, ids hex, kind + 1, attribute types, events, status', () => {
  assert.equal(msToNanoString(1_700_000_000_123.5), '1700000000123500000')
  assert.equal(msToNanoString(1_700_000_000_000), '1700000000000000000')
  assert.equal(msToNanoString(0.25), '250000')
  assert.equal(msToNanoString(-5), '0')
  const s = span('a "quoted" name')
  s.addEvent('answer', { n: 1 }).setAttribute('later', 'y').setStatus({ code: SpanStatusCode.ERROR, message: 'boom' })
  s.recordException(Object.assign(new Error('bad'), { name: 'DhtError' }))
  s.end(1_700_000_000_124.5)
  const root = span('root', () => {}, false)
  root.end()
  const body = JSON.parse(exportRequestJson({ 'service.name': 'zeone', 'service.instance.id': 'n1' }, [s, root]))
  const rs = body.resourceSpans[0]
  assert.deepEqual(rs.resource.attributes, [{ key: 'service.name', value: { stringValue: 'zeone' } }, { key: 'service.instance.id', value: { stringValue: 'n1' } }])
  const [o, r] = rs.scopeSpans[0].spans
  assert.equal(rs.scopeSpans[0].scope.name, 'zeone')
  assert.equal(o.traceId, 'ab'.repeat(16))
  assert.equal(o.spanId, '01'.repeat(8))
  assert.equal(o.parentSpanId, 'cd'.repeat(8))
  assert.equal(r.parentSpanId, undefined)
  assert.equal(o.name, 'a "quoted" name')
  assert.equal(o.kind, 2) // SERVER on the wire (the API's 1)
  assert.equal(o.startTimeUnixNano, '1700000000123500000')
  assert.equal(o.endTimeUnixNano, '1700000000124500000')
  assert.deepEqual(o.attributes, [
    { key: 's', value: { stringValue: 'x' } }, { key: 'i', value: { intValue: 7 } }, { key: 'd', value: { doubleValue: 1.5 } },
    { key: 'b', value: { boolValue: true } }, { key: 'a', value: { arrayValue: { values: [{ stringValue: 'p' }, { stringValue: 'q' }] } } },
    { key: 'later', value: { stringValue: 'y' } },
  ])
  assert.deepEqual(o.events.map((e: { name: string }) => e.name), ['answer', 'exception'])
  assert.deepEqual(o.events[1].attributes.find((a: { key: string }) => a.key === 'exception.type').value, { stringValue: 'DhtError' })
  assert.deepEqual(o.status, { code: 2, message: 'boom' })
})

test('recorded span: setters after end are ignored, events bounded, end is once', () => {
  const ended: RecordedSpan[] = []
  const s = span('x', (e) => ended.push(e))
  for (let i = 0; i < MAX_EVENTS + 10; i++) s.addEvent('e')
  s.end()
  s.end()
  s.setAttribute('late', 1).addEvent('late')
  assert.equal(ended.length, 1)
  assert.equal(s.events!.length, MAX_EVENTS)
  assert.equal(s.droppedEvents, 10)
  assert.equal(s.attributes!.late, undefined)
  assert.equal(s.isRecording(), false)
})

test('exporter: batches to a real collector; a failing, down or slow collector costs dropped spans, not memory', async (t) => {
  const otlp = await collector()
  t.after(() => otlp.close())
  const ok = new OtlpExporter({ url: otlp.url, headers: { 'x-token': 't' }, resource: { 'service.instance.id': 'ok' }, batch: 4 })
  for (let i = 0; i < 10; i++) span(`s${i}`, ok.add).end()
  await ok.forceFlush()
  assert.equal(otlp.spans.length, 10)
  assert.ok(otlp.requests() >= 3, 'sent in batches of 4')
  assert.deepEqual(ok.stats, { exported: 10, dropped: 0, failedRequests: 0 })
  await ok.shutdown()
  span('after', ok.add).end() // after shutdown: dropped without a request
  await ok.forceFlush()
  assert.equal(otlp.spans.length, 10)

  // a collector answering 500
  const bad = createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(500).end()) })
  bad.listen(0, '127.0.0.1')
  await once(bad, 'listening')
  t.after(() => bad.close())
  const e500 = new OtlpExporter({ url: `http://127.0.0.1:${(bad.address() as { port: number }).port}/v1/traces`, headers: {}, resource: {} })
  for (let i = 0; i < 5; i++) span('x', e500.add).end()
  await e500.shutdown()
  assert.deepEqual(e500.stats, { exported: 0, dropped: 5, failedRequests: 1 })

  // a collector that is down (nothing listens): flush resolves, the spans are dropped
  const down = new OtlpExporter({ url: 'http://127.0.0.1:1/v1/traces', headers: {}, resource: {} })
  span('x', down.add).end()
  await down.shutdown()
  assert.equal(down.stats.dropped, 1)

  // a collector that never answers: the queue is bounded, requests time out
  const stuck = createServer(() => { /* never answers */ })
  stuck.listen(0, '127.0.0.1')
  await once(stuck, 'listening')
  t.after(() => { stuck.closeAllConnections(); stuck.close() })
  const slow = new OtlpExporter({ url: `http://127.0.0.1:${(stuck.address() as { port: number }).port}/v1/traces`, headers: {}, resource: {}, batch: 2, maxQueue: 6, maxInFlight: 1, timeoutMs: 200 })
  for (let i = 0; i < 20; i++) span('x', slow.add).end()
  // ending a span never sends: the queue holds 6, the other 14 are dropped at once
  assert.equal(slow.stats.dropped, 14)
  await slow.shutdown()
  assert.equal(slow.stats.exported, 0)
  assert.equal(slow.stats.dropped, 20)
})

test('exporter: a reused batch carries nothing of the spans encoded before it (parent, attributes, status)', async (t) => {
  const otlp = await collector()
  t.after(() => otlp.close())
  const ex = new OtlpExporter({ url: otlp.url, headers: {}, resource: {}, batch: 2 })
  for (let round = 0; round < 3; round++) {
    // a full batch of children with attributes and an error status, then a partial one (its flush opens the full
    // one's columns again), then bare roots into those columns
    for (let i = 0; i < 3; i++) {
      span(`child${round}.${i}`, ex.add).setStatus({ code: SpanStatusCode.ERROR, message: 'x' }).end()
      if (i > 0) await ex.forceFlush()
    }
    for (let i = 0; i < 2; i++) new RecordedSpan(new Uint8Array(16).fill(0x11), new Uint8Array(8).fill(0x22), undefined, `root${round}.${i}`, SpanKind.CLIENT, undefined, 1_700_000_000_000, ex.add).end()
    await ex.forceFlush()
  }
  await ex.shutdown()
  assert.equal(otlp.spans.length, 15)
  for (const s of otlp.spans) {
    const raw = s as unknown as { status?: unknown }
    if (s.name.startsWith('child')) {
      assert.equal(s.parentSpanId, 'cd'.repeat(8))
      assert.ok(s.attributes?.length)
      assert.deepEqual(raw.status, { code: 2, message: 'x' })
    } else {
      assert.equal(s.parentSpanId, undefined, `${s.name} has no parent`)
      assert.equal(s.attributes, undefined, `${s.name} has no attributes`)
      assert.equal(raw.status, undefined, `${s.name} has no status`)
      assert.equal(s.spanId, '22'.repeat(8))
    }
  }
})
