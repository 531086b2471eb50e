/** The exit's provider-record announcer: at start, as the routing table fills, then on its interval (injected clock). */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ExitAnnouncer } from '../../../src/services/vpn/announcer.js'
import { VPN_EXIT_KEY } from '../../../src/services/vpn/market.js'
import type { ProviderDirectory } from '../../../src/interfaces/providers.js'

function setup() {
  const provided: Array<{ key: Uint8Array; data: Uint8Array | undefined }> = []
  const providers: ProviderDirectory = {
    provide: async (key, data) => { provided.push({ key, data }) },
    unprovide: () => {},
    findProviders: async () => [],
  }
  let size = 0
  let built = 0
  const whys: string[] = []
  const a = new ExitAnnouncer({
    providers, filledAt: 20, intervalMs: 600_000, tableSize: () => size,
    build: async () => Uint8Array.of(++built), onAnnounce: (w) => whys.push(w),
  })
  return { a, provided, whys, setSize: (n: number) => { size = n } }
}

test('announces at start (empty table), again as the table doubles and once it is filled, then only on the interval', async () => {
  const t = setup()
  await t.a.tick(0)
  assert.deepEqual(t.whys, ['start'])
  assert.ok(Buffer.from(t.provided[0]!.key).equals(Buffer.from(VPN_EXIT_KEY)))
  await t.a.tick(1000)
  assert.equal(t.provided.length, 1, 'nothing new: no re-announcement')
  for (const [size, expect] of [[1, 2], [1, 2], [2, 3], [3, 3], [4, 4], [7, 4], [8, 5], [15, 5], [16, 6], [20, 7], [40, 7]] as const) {
    t.setSize(size)
    await t.a.tick(2000)
    assert.equal(t.provided.length, expect, `table ${size}`)
  }
  assert.equal(t.whys.at(-1), 'table_filled')
  await t.a.tick(2000 + 599_999)
  assert.equal(t.provided.length, 7)
  await t.a.tick(2000 + 600_000)
  assert.equal(t.provided.length, 8)
  assert.equal(t.whys.at(-1), 'interval')
  // every announcement carries a freshly built record
  assert.deepEqual(t.provided.map((p) => p.data![0]), [1, 2, 3, 4, 5, 6, 7, 8])
})

test('a table that starts full gets no extra announcement; a failing provide is reported and retried on the interval', async () => {
  const t = setup()
  t.setSize(25)
  await t.a.tick(0)
  await t.a.tick(10)
  assert.deepEqual(t.whys, ['start'])
  const errs: string[] = []
  const a = new ExitAnnouncer({
    providers: { provide: async () => { throw new Error('no peers') }, unprovide: () => {}, findProviders: async () => [] },
    filledAt: 20, intervalMs: 1000, tableSize: () => 25, build: async () => Uint8Array.of(1), onError: (e) => errs.push(e.message),
  })
  await a.tick(0)
  await a.tick(999)
  await a.tick(1000)
  assert.deepEqual(errs, ['no peers', 'no peers'])
})
