import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { keyOfString } from '../../src/dht/id.js'
import { signProvider, signRecord } from '../../src/dht/record.js'
import { MemoryRecordStore } from '../../src/dht/store.js'
import { SqliteRecordStore } from '../../src/dht/store-sqlite.js'

const t0 = 1_800_000_000_000
const ids = Array.from({ length: 6 }, () => Identity.fromSeed(randomBytes(32)))
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

test('same publisher: higher seq wins, a replica cannot extend expiry with an older seq; others keep their own slot', () => {
  const s = new MemoryRecordStore()
  const key = keyOfString('k')
  assert.equal(s.putRecord(signRecord(ids[0]!, key, enc('a'), 5, t0 + 1000), t0), 'stored')
  assert.equal(s.putRecord(signRecord(ids[0]!, key, enc('old'), 4, t0 + 9000), t0), 'stale')
  assert.equal(s.putRecord(signRecord(ids[1]!, key, enc('b'), 1, t0 + 1000), t0), 'stored')
  assert.deepEqual(s.getRecords(key, t0).map((r) => new TextDecoder().decode(r.value)).sort(), ['a', 'b'])
  assert.equal(s.putRecord(signRecord(ids[0]!, key, enc('c'), 6, t0 + 1000), t0), 'stored')
  assert.deepEqual(s.getRecords(key, t0).map((r) => new TextDecoder().decode(r.value)).sort(), ['b', 'c'])
  assert.equal(s.getRecords(key, t0 + 1000).length, 0)
  assert.equal(s.cleanup(t0 + 1000), 2)
  assert.equal(s.keyCount, 0)
})

test('provider cap per key, byte cap, and legacy values kept apart', () => {
  const s = new MemoryRecordStore({ maxProvidersPerKey: 3, maxBytes: 10_000 })
  const key = keyOfString('service:vpn_exit')
  for (let i = 0; i < 3; i++) assert.equal(s.putProvider(signProvider(ids[i]!, key, [], undefined, t0 + 1000 + i), t0), 'stored')
  // a fourth provider does not displace one that was here first, however long it lives (identities are free)...
  assert.equal(s.putProvider(signProvider(ids[3]!, key, [], undefined, t0 + 500), t0), 'full')
  assert.equal(s.putProvider(signProvider(ids[3]!, key, [], undefined, t0 + 5000), t0), 'full')
  // ...but takes the place of one that has expired
  assert.equal(s.putProvider(signProvider(ids[3]!, key, [], undefined, t0 + 5000), t0 + 1000), 'stored')
  assert.equal(s.getProviders(key, t0 + 1000).length, 3)
  assert.equal(s.putRecord(signRecord(ids[0]!, key, new Uint8Array(20_000), 1, t0 + 1000), t0), 'full')
  assert.equal(s.putLegacy(key, enc('v0'), t0 + 1000, t0), 'stored')
  assert.equal(s.getRecords(key, t0).length, 0)
  assert.deepEqual(s.getLegacy(key, t0), enc('v0'))
})

test('SQLite store: batched writes persist records, providers, legacy values and peers across reopen', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zeone-dht-'))
  const clock = { now: () => t0, setTimeout: (_cb: () => void, _ms: number) => ({ cancel() {} }) }
  try {
    const file = join(dir, 'dht.sqlite')
    const s = new SqliteRecordStore(file, { clock })
    const key = keyOfString('persist')
    for (let i = 0; i < 50; i++) s.putRecord(signRecord(ids[i % 6]!, keyOfString(`k${i}`), enc(`v${i}`), i, t0 + 60_000), t0)
    s.putRecord(signRecord(ids[0]!, key, enc('x'), 9, t0 + 60_000), t0)
    s.putProvider(signProvider(ids[1]!, key, [{ host: '198.51.100.7', port: 9000 }], enc('meta'), t0 + 60_000), t0)
    s.putLegacy(key, enc('legacy'), t0 + 60_000, t0)
    s.putRecord(signRecord(ids[2]!, keyOfString('short'), enc('s'), 1, t0 + 10), t0)
    s.savePeers([{ nodeId: ids[3]!.publicKey, addr: { host: '198.51.100.8', port: 1 }, lastSeen: t0 }])
    s.close()
    s.close()
    const later = { ...clock, now: () => t0 + 100 }
    const r = new SqliteRecordStore(file, { clock: later })
    assert.equal(r.getRecords(key, t0 + 100)[0]?.seq, 9)
    assert.equal(r.getRecords(keyOfString('k49'), t0 + 100).length, 1)
    assert.equal(r.getRecords(keyOfString('short'), t0 + 100).length, 0, 'expired rows are dropped on load')
    const p = r.getProviders(key, t0 + 100)[0]
    assert.deepEqual(p?.addrs, [{ host: '198.51.100.7', port: 9000 }])
    assert.deepEqual(p?.data, enc('meta'))
    assert.deepEqual(r.getLegacy(key, t0 + 100), enc('legacy'))
    assert.equal(r.loadPeers()[0]?.addr.host, '198.51.100.8')
    r.close()
  } finally { rmSync(dir, { recursive: true, force: true }) }
})

test('many empty values under distinct keys still hit the byte cap, and cleanup gives the bytes back', () => {
  const s = new MemoryRecordStore({ maxBytes: 16_000 })
  let stored = 0
  for (let i = 0; i < 1000; i++) if (s.putRecord(signRecord(ids[0]!, keyOfString(`e${i}`), new Uint8Array(0), 1, t0 + 1000), t0) === 'stored') stored++
  assert.ok(stored > 10 && stored < 1000, `stored ${stored}`)
  assert.equal(s.putRecord(signRecord(ids[0]!, keyOfString('one-more'), new Uint8Array(0), 1, t0 + 1000), t0), 'full')
  s.cleanup(t0 + 1000)
  assert.equal(s.bytes, 0)
  assert.equal(s.putRecord(signRecord(ids[0]!, keyOfString('one-more'), new Uint8Array(0), 1, t0 + 5000), t0 + 1000), 'stored')
})

test('eviction order: our own record is never evicted or refused for space; stake outranks age; age outranks newcomers', () => {
  const self = Identity.fromSeed(randomBytes(32))
  const staked = new Set([Buffer.from(ids[5]!.publicKey).toString('hex')])
  const s = new MemoryRecordStore({ maxRecordsPerKey: 3, maxBytes: 2048, self: self.publicKey, standing: (p) => (staked.has(Buffer.from(p).toString('hex')) ? 1 : 0) })
  const key = keyOfString('contested')
  assert.equal(s.putRecord(signRecord(ids[0]!, key, enc('a'), 1, t0 + 1000), t0), 'stored')
  assert.equal(s.putRecord(signRecord(ids[1]!, key, enc('b'), 1, t0 + 1000), t0 + 1), 'stored')
  assert.equal(s.putRecord(signRecord(ids[2]!, key, enc('c'), 1, t0 + 1000), t0 + 2), 'stored')
  // our own record enters a full slot (the newest other entry goes) ...
  assert.equal(s.putRecord(signRecord(self, key, enc('ours'), 1, t0 + 500), t0 + 3), 'stored')
  const pubs = (): string[] => s.getRecords(key, t0 + 3).map((r) => new TextDecoder().decode(r.value)).sort()
  assert.deepEqual(pubs(), ['a', 'b', 'ours'])
  // ... an unstaked newcomer cannot displace anyone, however long it lives
  assert.equal(s.putRecord(signRecord(ids[3]!, key, enc('d'), 1, t0 + 99_000), t0 + 4), 'full')
  // a staked one displaces the newest unstaked entry, never ours
  assert.equal(s.putRecord(signRecord(ids[5]!, key, enc('staked'), 1, t0 + 1000), t0 + 5), 'stored')
  assert.deepEqual(pubs(), ['a', 'ours', 'staked'])
  // the byte cap refuses others but not us
  assert.equal(s.putRecord(signRecord(ids[0]!, keyOfString('big'), new Uint8Array(1500), 1, t0 + 1000), t0), 'full')
  assert.equal(s.putRecord(signRecord(self, keyOfString('big'), new Uint8Array(1500), 1, t0 + 1000), t0), 'stored')
})

test('one publisher holds at most its share of the store, across keys', () => {
  const s = new MemoryRecordStore({ maxBytes: 4 * 1024 * 1024, maxPublisherShare: 1 / 64 })
  const v = new Uint8Array(60_000)
  let stored = 0
  for (let i = 0; i < 20; i++) if (s.putRecord(signRecord(ids[0]!, keyOfString(`spam${i}`), v, 1, t0 + 1000), t0) === 'stored') stored++
  // the share floor is four largest values (4 x (64 KiB + overhead)): 4 of these 60 kB values
  assert.equal(stored, 4)
  assert.ok(s.publisherBytes(ids[0]!.publicKey) <= 4 * (65_536 + 160))
  // another publisher is unaffected
  assert.equal(s.putRecord(signRecord(ids[1]!, keyOfString('spam0'), v, 1, t0 + 1000), t0), 'stored')
  // what a publisher frees comes back to it
  assert.equal(s.cleanup(t0 + 1000), 5)
  assert.equal(s.publisherBytes(ids[0]!.publicKey), 0)
})
