/**
 * The record store compliance suite: one exported function taking a factory, run against the in-memory store (the
 * simulator's) and the SQLite store (a node's): seq and expiry rules, per-key caps that a newcomer cannot break,
 * the byte cap, legacy values kept apart, and (for a persistent store) the same contents after a reopen.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { keyOfString } from '../../src/dht/id.js'
import { signProvider, signRecord } from '../../src/dht/record.js'
import type { MemoryRecordStore, RecordStoreInit } from '../../src/dht/store.js'
import type { TestContext } from './link-provider.js'

export interface StoreUnderTest {
  store: MemoryRecordStore
  /** Closes the store and opens it again from what it persisted (absent: the store keeps nothing). */
  reopen?(): MemoryRecordStore
}
export type RecordStoreFactory = (t: TestContext, init: RecordStoreInit) => StoreUnderTest

const t0 = 1_800_000_000_000
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array): string => new TextDecoder().decode(b)
const ids = Array.from({ length: 5 }, () => Identity.fromSeed(randomBytes(32)))

/** `persistent: false` for a store that keeps nothing across a reopen (the reopen case is skipped). */
export function recordStoreSuite(name: string, make: RecordStoreFactory, opts: { persistent?: boolean } = {}): void {
  const volatile = opts.persistent === false && 'keeps nothing across a reopen'
  test(`RecordStore (${name}): a publisher's higher seq wins, older seqs and expired records are refused or hidden`, (t) => {
    const { store: s } = make(t, {})
    const key = keyOfString('k')
    assert.equal(s.putRecord(signRecord(ids[0]!, key, enc('a'), 5, t0 + 1000), t0), 'stored')
    assert.equal(s.putRecord(signRecord(ids[0]!, key, enc('a'), 5, t0 + 1000), t0), 'unchanged')
    assert.equal(s.putRecord(signRecord(ids[0]!, key, enc('old'), 4, t0 + 9000), t0), 'stale')
    assert.equal(s.putRecord(signRecord(ids[0]!, key, enc('dead'), 9, t0), t0), 'stale', 'expired on arrival')
    assert.equal(s.putRecord(signRecord(ids[1]!, key, enc('b'), 1, t0 + 2000), t0), 'stored')
    assert.deepEqual(s.getRecords(key, t0).map((r) => dec(r.value)).sort(), ['a', 'b'])
    assert.deepEqual(s.getRecords(key, t0 + 1000).map((r) => dec(r.value)), ['b'])
    assert.equal(s.cleanup(t0 + 2000), 2)
    assert.equal(s.keyCount, 0)
  })

  test(`RecordStore (${name}): a full key keeps who was first; an expired entry makes room`, (t) => {
    const { store: s } = make(t, { maxProvidersPerKey: 2, maxRecordsPerKey: 2 })
    const key = keyOfString('svc')
    assert.equal(s.putProvider(signProvider(ids[0]!, key, [], undefined, t0 + 1000), t0), 'stored')
    assert.equal(s.putProvider(signProvider(ids[1]!, key, [], undefined, t0 + 5000), t0), 'stored')
    assert.equal(s.putProvider(signProvider(ids[2]!, key, [], undefined, t0 + 9000), t0), 'full')
    assert.equal(s.putProvider(signProvider(ids[2]!, key, [], undefined, t0 + 9000), t0 + 1000), 'stored')
    assert.equal(s.getProviders(key, t0 + 1000).length, 2)
    assert.equal(s.putRecord(signRecord(ids[0]!, key, enc('x'), 1, t0 + 1000), t0), 'stored')
    assert.equal(s.putRecord(signRecord(ids[1]!, key, enc('y'), 1, t0 + 1000), t0), 'stored')
    assert.equal(s.putRecord(signRecord(ids[3]!, key, enc('z'), 1, t0 + 9000), t0), 'full')
  })

  test(`RecordStore (${name}): the byte cap holds, and legacy values never stand in for signed records`, (t) => {
    const { store: s } = make(t, { maxBytes: 64 * 1024, maxPublisherShare: 1 })
    const big = new Uint8Array(40 * 1024)
    assert.equal(s.putRecord(signRecord(ids[0]!, keyOfString('b1'), big, 1, t0 + 1000), t0), 'stored')
    assert.equal(s.putRecord(signRecord(ids[1]!, keyOfString('b2'), big, 1, t0 + 1000), t0), 'full')
    assert.ok(s.bytes <= 64 * 1024)
    const lk = keyOfString('legacy')
    assert.equal(s.putLegacy(lk, enc('v0'), t0 + 1000, t0), 'stored')
    assert.deepEqual(s.getRecords(lk, t0), [])
    assert.equal(dec(s.getLegacy(lk, t0)!), 'v0')
  })

  test(`RecordStore (${name}): what was stored is there after a reopen`, { skip: volatile }, (t) => {
    const u = make(t, {})
    const key = keyOfString('persist')
    assert.equal(u.store.putRecord(signRecord(ids[0]!, key, enc('kept'), 3, t0 + 60_000), t0), 'stored')
    assert.equal(u.store.putProvider(signProvider(ids[1]!, key, [{ host: '203.0.113.7', port: 7000 }], undefined, t0 + 60_000), t0), 'stored')
    const again = u.reopen!()
    assert.deepEqual(again.getRecords(key, t0).map((r) => [dec(r.value), r.seq]), [['kept', 3]])
    assert.deepEqual(again.getProviders(key, t0).map((p) => p.addrs), [[{ host: '203.0.113.7', port: 7000 }]])
    // and the seq rule still holds against the reloaded record
    assert.equal(again.putRecord(signRecord(ids[0]!, key, enc('older'), 2, t0 + 90_000), t0), 'stale')
  })
}
