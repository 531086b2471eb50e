import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { ProviderDirectory, ProviderRecord } from '../../src/interfaces/providers.js'
import { assembleChain, encodeAnnouncement, MergedStageDirectory, ProviderStageDirectory, providerKey, type StageCandidate } from '../../src/cortex/directory.js'
import { toHex } from '../../src/util/bytes.js'

class FakeProviders implements ProviderDirectory {
  recs: ProviderRecord[] = []
  async provide(key: Uint8Array, data?: Uint8Array): Promise<void> { this.recs.push({ key, nodeId: new Uint8Array(32).fill(this.recs.length + 1), addrs: [{ host: '127.0.0.1', port: 1000 + this.recs.length }], data, expires: Date.now() + 60_000 }) }
  unprovide(): void {}
  async findProviders(key: Uint8Array): Promise<ProviderRecord[]> { return this.recs.filter((r) => toHex(r.key) === toHex(key)) }
}

const cand = (n: number, start: number, end: number, capacity = 4, layers = 12): StageCandidate => ({ nodeId: new Uint8Array(32).fill(n), addrs: [], model: 'm', start, end, layers, capacity })

test('stages announced as provider records are discovered; malformed records are ignored', async () => {
  const p = new FakeProviders()
  await p.provide(providerKey('gpt2'), encodeAnnouncement({ model: 'gpt2', start: 0, end: 6, layers: 12, capacity: 8 }))
  await p.provide(providerKey('gpt2'), encodeAnnouncement({ model: 'gpt2', start: 6, end: 12, layers: 12, capacity: 8 }))
  await p.provide(providerKey('gpt2'), new Uint8Array([0xff, 0x00]))
  await p.provide(providerKey('gpt2'), encodeAnnouncement({ model: 'other', start: 0, end: 12, layers: 12, capacity: 8 }))
  await p.provide(providerKey('llama'), encodeAnnouncement({ model: 'llama', start: 0, end: 12, layers: 12, capacity: 8 }))
  const found = await new MergedStageDirectory([new ProviderStageDirectory(p), new ProviderStageDirectory(p)]).find('gpt2')
  assert.deepEqual(found.map((c) => [c.start, c.end, c.addrs[0]!.port]), [[0, 6, 1000], [6, 12, 1001]])
  assert.deepEqual(assembleChain(found, 12).map((c) => [c.start, c.end]), [[0, 6], [6, 12]])
})

test('chain assembly: fewest hops, then most capacity; exclusions; gaps refused', () => {
  const cs = [cand(1, 0, 4), cand(2, 4, 12), cand(3, 0, 12, 1), cand(4, 0, 4, 9), cand(5, 4, 8), cand(6, 8, 12)]
  assert.deepEqual(assembleChain(cs, 12).map((c) => c.nodeId[0]), [3])
  assert.deepEqual(assembleChain(cs, 12, [new Uint8Array(32).fill(3)]).map((c) => c.nodeId[0]), [4, 2])
  assert.throws(() => assembleChain([cand(1, 0, 4), cand(2, 5, 12)], 12), { code: 'no_route' })
  assert.throws(() => assembleChain([cand(1, 0, 12, 0)], 12), { code: 'no_route' })
  assert.throws(() => assembleChain([cand(1, 0, 12, 4, 24)], 12), { code: 'no_route' })
})
