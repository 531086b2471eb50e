/**
 * VPN stream tracing: two real nodes export OTLP/HTTP (JSON) to a collector run by the test. One SOCKS stream gives
 * one trace: the client's `vpn.open` (CLIENT) span, the exit's `vpn.exit.connect` (SERVER) span under it (the
 * context crossed the wire in the traced VPN_CONNECT), and a stream span on each side with the bytes carried. No
 * span names the destination (only its port): traces leave the node.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { collector, type CollectedSpan as OtlpSpan } from '../../ops/otlp-collector.js'
import { exitRef, httpGet, httpServer, pattern, socksConnect, socksPort, startVpnNode, tempDir } from './helpers.js'



const attr = (s: OtlpSpan, k: string): string | number | undefined => { const v = s.attributes?.find((a) => a.key === k)?.value; return v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : undefined) }

test('one SOCKS stream is one trace across client and exit: open -> exit connect, a stream span with the bytes on each side', { timeout: 120_000 }, async (t) => {
  const otlp = await collector()
  t.after(() => otlp.close())
  const body = pattern(300_000)
  const http = await httpServer(body)
  t.after(() => http.close())
  const db = tempDir('tb'); const da = tempDir('ta')
  t.after(() => { db.cleanup(); da.cleanup() })
  const ops = { tracing: { endpoint: otlp.url, sampleRatio: 1 } } // every stream (the default records 1% of roots)
  const b = await startVpnNode(db.dir, { ops, vpn: { exit: { enabled: true, policy: [`accept 127.0.0.1:${http.port}`] } } })
  const a = await startVpnNode(da.dir, { ops, vpn: { socks: { port: 0, exits: [exitRef(b)] } } })
  try {
    const { s, rep } = await socksConnect(socksPort(a), 'localhost.test', 1, {}).catch(() => ({ s: undefined, rep: -9 }))
    s?.destroy()
    assert.notEqual(rep, 0, 'a refused stream (unresolvable name) is traced too')
    const c = await socksConnect(socksPort(a), '127.0.0.1', http.port, { literal: true })
    assert.equal(c.rep, 0)
    const got = await httpGet(c.s, `/bytes/${body.length}`)
    assert.ok(got.equals(body))
    c.s.destroy()
  } finally {
    await a.stop(); await b.stop() // flushes both nodes' spans
  }
  // handshakes are traced too (a root span on each side of the link)
  assert.ok(otlp.spans.filter((s) => s.name === 'zeone.handshake').length >= 2, 'handshake spans')
  const opens = otlp.spans.filter((s) => s.name === 'vpn.open')
  assert.equal(opens.length, 2)
  const ok = opens.find((s) => attr(s, 'zeone.vpn.rep') === 0)!
  assert.ok(ok, 'the successful open')
  assert.equal(ok.kind, 3 /* CLIENT */)
  assert.equal(attr(ok, 'net.peer.port'), http.port)
  const trace = otlp.spans.filter((s) => s.traceId === ok.traceId)
  const served = trace.find((s) => s.name === 'vpn.exit.connect')!
  assert.ok(served, 'the exit continued the client\'s trace')
  assert.equal(served.parentSpanId, ok.spanId)
  assert.equal(served.kind, 2 /* SERVER */)
  assert.notEqual(served.node, ok.node)
  const cs = trace.find((s) => s.name === 'vpn.stream')!
  const es = trace.find((s) => s.name === 'vpn.exit.stream')!
  assert.equal(cs.parentSpanId, ok.spanId)
  assert.equal(es.parentSpanId, served.spanId)
  // the exit sent the HTTP response (>= the body) to the client, which received exactly that many bytes
  assert.ok(Number(attr(es, 'zeone.vpn.bytes_out')) >= body.length)
  assert.equal(attr(cs, 'zeone.vpn.bytes_in'), attr(es, 'zeone.vpn.bytes_out'))
  assert.equal(attr(cs, 'zeone.vpn.bytes_out'), attr(es, 'zeone.vpn.bytes_in'))
  const refused = opens.find((s) => s !== ok)!
  assert.ok(otlp.spans.some((s) => s.name === 'vpn.exit.connect' && s.parentSpanId === refused.spanId && attr(s, 'zeone.error.code') !== undefined))
  // no span carries the destination's name or address
  for (const s of otlp.spans.filter((x) => x.name.startsWith('vpn.'))) {
    for (const a2 of s.attributes ?? []) assert.ok(!/localhost\.test|127\.0\.0\.1/.test(String(a2.value.stringValue ?? '')), `${s.name} ${a2.key}`)
  }
})
