import assert from 'node:assert/strict'
import { appendFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { randomBytes } from '../../src/crypto/sign.js'
import { ReplayGuard } from '../../src/transport/replay-guard.js'
import { tempDir } from './helpers.js'

test('replay journal: nonces recorded between saves survive a crash (no save, no close); a torn tail is ignored', (t) => {
  const file = join(tempDir(t), 'replay.bloom')
  const g = new ReplayGuard({ file, bits: 1 << 12 })
  const seen = Array.from({ length: 20 }, () => randomBytes(32))
  for (const n of seen) assert.equal(g.checkAndAdd(n), false)
  assert.equal(statSync(`${file}.journal`).size, 20 * 33)
  assert.equal(statSync(`${file}.journal`).mode & 0o777, 0o600)
  // crash: the process dies mid-append of one more entry
  appendFileSync(`${file}.journal`, Buffer.from([32, 1, 2, 3]))
  const after = new ReplayGuard({ file, bits: 1 << 12 })
  for (const n of seen) assert.equal(after.checkAndAdd(n), true, 'a journaled nonce is a replay after the restart')
  assert.equal(statSync(`${file}.journal`).size, 0, 'loading saved the filter and emptied the journal')
  assert.equal(after.checkAndAdd(randomBytes(32)), false)
  after.close()
  assert.equal(statSync(`${file}.journal`).size, 0)
  const small = new ReplayGuard({ file, bits: 1 << 12, maxJournal: 3 })
  for (let i = 0; i < 3; i++) small.checkAndAdd(randomBytes(32))
  assert.equal(statSync(`${file}.journal`).size, 0, 'a full journal triggers a save')
  small.close()
  assert.throws(() => small.checkAndAdd(new Uint8Array(0)), RangeError)
})
