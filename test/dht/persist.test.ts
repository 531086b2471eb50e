import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { SqliteRecordStore } from '../../src/dht/store-sqlite.js'
import { makeContact } from '../../src/dht/contact.js'
import { sha1 } from '../../src/crypto/hash.js'
import { randomBytes } from '../../src/crypto/sign.js'

test('dht.sqlite: publications survive without close (written at once), contacts after a flush; corrupt publication rows are skipped', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zdp-persist-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'dht.sqlite')
  const a = new SqliteRecordStore(file, { flushDelayMs: 60_000 })
  const key = randomBytes(20)
  a.savePublished({ kind: 'value', key, data: new Uint8Array([1, 2]), seq: 7 })
  a.savePublished({ kind: 'provider', key, data: undefined, seq: 0 })
  const id = randomBytes(32)
  a.peerAdded(makeContact(id, sha1(id), { host: '81.1.2.3', port: 4000 }, 5))
  a.flush()
  // no close: what a kill -9 leaves behind
  const raw = new Database(file)
  const ins = raw.prepare('INSERT INTO dht_published (key, kind, data, seq) VALUES (?, ?, ?, ?)')
  ins.run('zz', 0, Buffer.from([1]), 1)
  ins.run('ab'.repeat(20), 9, Buffer.from([1]), 1)
  ins.run('cd'.repeat(20), 0, null, 1)
  ins.run('ef'.repeat(20), 0, Buffer.alloc(70_000), 1)
  ins.run('01'.repeat(20), 0, Buffer.from([1]), -5)
  raw.close()
  const b = new SqliteRecordStore(file)
  const pubs = b.loadPublished()
  assert.equal(pubs.length, 2)
  assert.deepEqual(pubs.find((p) => p.kind === 'value'), { kind: 'value', key, data: new Uint8Array([1, 2]), seq: 7 })
  assert.deepEqual(b.loadPeers().map((p) => p.addr), [{ host: '81.1.2.3', port: 4000 }])
  b.deletePublished('value', key)
  b.peerRemoved(id)
  b.close()
  const c = new SqliteRecordStore(file)
  assert.deepEqual(c.loadPublished().map((p) => p.kind), ['provider'])
  assert.equal(c.loadPeers().length, 0)
  c.close()
  a.close()
})
