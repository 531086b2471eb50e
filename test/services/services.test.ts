import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Identity } from '../../src/crypto/identity.js'
import { MemoryNetwork } from '../../src/transport/memory.js'
import { ServiceRouter, ServiceError } from '../../src/services/router.js'
import { createEchoService } from '../../src/services/echo.js'
import { decodeServiceRequest, decodeServiceResponse, encodeServiceRequest, encodeServiceResponse } from '../../src/services/messages.js'
import type { UsageMeter } from '../../src/interfaces/services.js'
import { MessageType } from '../../src/wire/message-types.js'
import { ZeoneError } from '../../src/util/errors.js'
import { encode } from '../../src/wire/cbor.js'

const seed = (b: number): Uint8Array => new Uint8Array(32).fill(b)

function pair(opts: { price?: bigint; usage?: UsageMeter; maxConcurrent?: number } = {}) {
  const net = new MemoryNetwork()
  const a = net.createNode(Identity.fromSeed(seed(1)), { host: 'a', port: 1 })
  const b = net.createNode(Identity.fromSeed(seed(2)), { host: 'b', port: 1 })
  const provider = new ServiceRouter({ providerId: b.identity.publicKey, usage: () => opts.usage, maxConcurrent: opts.maxConcurrent ?? 64 })
  provider.register(createEchoService({ price: opts.price ?? 0n, maxPayloadBytes: 1024 }))
  b.router.handle(MessageType.SERVICE_REQUEST, provider.handle)
  const client = new ServiceRouter({ providerId: a.identity.publicKey })
  return { a, b, provider, client, stop: () => { a.stop(); b.stop() } }
}

describe('service messages (docs/protocol/services.md)', () => {
  it('encodes the documented request vector and round-trips both messages', () => {
    const req = encodeServiceRequest({ serviceName: 'echo', payload: Uint8Array.of(1, 2, 3), budget: 10n, requestId: 'r1' })
    assert.equal(Buffer.from(req).toString('hex'),
      'a5617601666275646765740a677061796c6f6164430102036a726571756573745f69646272316c736572766963655f6e616d65646563686f')
    const back = decodeServiceRequest(req, 1024)
    assert.deepEqual(back, { serviceName: 'echo', payload: Uint8Array.of(1, 2, 3), budget: 10n, requestId: 'r1' })
    const vector = encodeServiceResponse({ success: true, result: Uint8Array.of(1, 2, 3), cost: 0n, executionTime: 0.5, requestId: 'r1', error: null, providerId: seed(7) })
    assert.equal(Buffer.from(vector).toString('hex'),
      'a861760164636f737400656572726f72f666726573756c74430102036773756363657373f56a726571756573745f69646272316b70726f76696465725f6964582007070707070707070707070707070707070707070707070707070707070707076e657865637574696f6e5f74696d65f93800')
    const resp = encodeServiceResponse({ success: true, result: Uint8Array.of(9), cost: 5n, executionTime: 1.25, requestId: 'r1', error: null, providerId: seed(7) })
    const r = decodeServiceResponse(resp, 1024)
    assert.equal(r.cost, 5n)
    assert.equal(r.executionTime, 1.25)
    assert.deepEqual(r.providerId, seed(7))
  })

  it('refuses malformed requests with typed errors', () => {
    const bad = [
      encode({ v: 2, service_name: 'echo', payload: new Uint8Array(0), budget: 0, request_id: 'x' }),
      encode({ v: 1, service_name: '../etc', payload: new Uint8Array(0), budget: 0, request_id: 'x' }),
      encode({ v: 1, service_name: 'echo', payload: 'text', budget: 0, request_id: 'x' }),
      encode({ v: 1, service_name: 'echo', payload: new Uint8Array(0), budget: -1, request_id: 'x' }),
      encode({ v: 1, service_name: 'echo', payload: new Uint8Array(0), budget: 0, request_id: '' }),
      encode([1, 2]),
      Uint8Array.of(0xff),
    ]
    for (const b of bad) assert.throws(() => decodeServiceRequest(b, 1024), (e: Error) => e instanceof ZeoneError)
    assert.throws(() => decodeServiceRequest(encodeServiceRequest({ serviceName: 'echo', payload: new Uint8Array(2000), budget: 0n, requestId: 'r' }), 1024))
  })
})

describe('service router over links', () => {
  // the memory transport's timers are unref'd: keep the event loop alive while requests are in flight
  let keep: NodeJS.Timeout
  before(() => { keep = setInterval(() => {}, 1000) })
  after(() => clearInterval(keep))
  it('echo returns the payload and reports the provider', async () => {
    const { a, b, client, stop } = pair()
    try {
      const link = await a.dial(b.addr)
      const r = await client.call(link, 'echo', Buffer.from('hello'))
      assert.equal(Buffer.from(r.result!).toString(), 'hello')
      assert.deepEqual(r.providerId, b.identity.publicKey)
      assert.equal(r.cost, 0n)
    } finally { stop() }
  })

  it('refuses unknown services, over-budget calls and oversized payloads', async () => {
    const { a, b, client, stop } = pair({ price: 10n })
    try {
      const link = await a.dial(b.addr)
      await assert.rejects(client.call(link, 'nope', new Uint8Array(1), { budget: 100n }), (e: ServiceError) => e.code === 'unknown_service')
      await assert.rejects(client.call(link, 'echo', new Uint8Array(1), { budget: 9n }), (e: ServiceError) => e.code === 'over_budget')
      await assert.rejects(client.call(link, 'echo', new Uint8Array(2048), { budget: 10n }), (e: ServiceError) => e.code === 'payload_too_large')
      const ok = await client.call(link, 'echo', new Uint8Array(1), { budget: 10n })
      assert.equal(ok.cost, 10n)
    } finally { stop() }
  })

  it('asks the usage meter before serving and records what was served', async () => {
    const calls: string[] = []
    let blocked = false
    const usage: UsageMeter = {
      authorize(nodeId, service) {
        calls.push(`authorize ${Buffer.from(nodeId).toString('base64')} ${service}`)
        if (blocked) throw new ZeoneError('debt_limit', 'peer owes too much')
      },
      record(_nodeId, service, units, direction) { calls.push(`record ${service} ${units} ${direction}`); return 42n },
    }
    const { a, b, client, stop } = pair({ usage })
    try {
      const link = await a.dial(b.addr)
      const r = await client.call(link, 'echo', new Uint8Array(3), { budget: 100n })
      assert.equal(r.cost, 42n)
      assert.deepEqual(calls, [`authorize ${a.identity.nodeIdB64} echo`, 'record echo 1 served'])
      blocked = true
      await assert.rejects(client.call(link, 'echo', new Uint8Array(3), { budget: 100n }), (e: ServiceError) => e.code === 'debt_limit')
      assert.equal(calls.filter((c) => c.startsWith('record')).length, 1, 'nothing recorded for a refused call')
    } finally { stop() }
  })

  it('the caller meters what it consumed, so its economy can pay the provider (nothing for a refused call)', async () => {
    const consumed: string[] = []
    const meter: UsageMeter = { authorize() {}, record(nodeId, service, units, direction) { consumed.push(`${Buffer.from(nodeId).toString('base64')} ${service} ${units} ${direction}`); return 0n } }
    const { a, b, client, stop } = pair({ price: 5n })
    const metered = new ServiceRouter({ providerId: a.identity.publicKey, usage: () => meter })
    metered.register(createEchoService())
    try {
      const link = await a.dial(b.addr)
      await metered.call(link, 'echo', new Uint8Array(3), { budget: 100n })
      await metered.call(link, 'unknown-here', new Uint8Array(3), { budget: 100n }).catch(() => {})
      await assert.rejects(metered.call(link, 'echo', new Uint8Array(3), { budget: 1n }), (e: ServiceError) => e.code === 'over_budget')
      assert.deepEqual(consumed, [`${b.identity.nodeIdB64} echo 1 consumed`])
      void client
    } finally { stop() }
  })

  it('refuses when busy and answers garbage with an ERROR', async () => {
    const { a, b, provider, client, stop } = pair({ maxConcurrent: 1 })
    let release!: () => void
    provider.register({
      name: 'slow', quote: () => 0n, units: () => 1n,
      serve: () => new Promise((res) => { release = () => res(new Uint8Array(0)) }),
    })
    try {
      const link = await a.dial(b.addr)
      const slow = client.call(link, 'slow', new Uint8Array(0))
      for (let i = 0; i < 100 && provider.inFlight === 0; i++) await new Promise((r) => setTimeout(r, 5))
      await assert.rejects(client.call(link, 'echo', new Uint8Array(0)), (e: ServiceError) => e.code === 'busy')
      release()
      await slow
      await assert.rejects(link.request(MessageType.SERVICE_REQUEST, Uint8Array.of(0xff, 0x00)), (e: Error & { code?: string }) => e.code === 'cbor' || e.code === 'service_shape')
    } finally { stop() }
  })
})
