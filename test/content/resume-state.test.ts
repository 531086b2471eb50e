/** The resume sidecar, v2: two slots written in place in turn; the newest intact one counts; v1 files still load. */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { Bitfield, encodeState, readState, slotBytes, StateWriter } from '../../src/content/bitfield.js'
import { randomBytes } from '../../src/crypto/sign.js'

function dir(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'zeone-state-'))
  t.after(() => rmSync(d, { recursive: true, force: true }))
  return d
}

test('resume state: saves alternate slots, the newest intact one wins, a torn slot falls back to the other', (t) => {
  const path = join(dir(t), 'f.zeone-state')
  const id = randomBytes(32)
  const n = 1000
  const bf = new Bitfield(n)
  const w = new StateWriter(path, n, 1)
  for (let i = 0; i < 10; i++) { bf.set(i); w.save(id, 3, bf) }
  w.close()
  const got = readState(path, id, 3, n)!
  assert.equal(got.gen, 10)
  assert.equal(got.bf.count, 10)
  assert.equal(readFileSync(path).length, 2 * slotBytes(n), 'the file never grows: two slots')
  // tear the newest slot (gen 10 lives in slot 0): the other slot (gen 9, nine chunks) is used
  const raw = readFileSync(path)
  raw[20]! ^= 0xff
  writeFileSync(path, raw)
  const back = readState(path, id, 3, n)!
  assert.equal(back.gen, 9)
  assert.equal(back.bf.count, 9)
  // another manifest, file or size reads as nothing
  assert.equal(readState(path, randomBytes(32), 3, n), undefined)
  assert.equal(readState(path, id, 4, n), undefined)
  assert.equal(readState(path, id, 3, n + 1), undefined)
})

test('resume state: a v1 sidecar loads as generation 0 and a writer takes over without losing it before its first save', (t) => {
  const path = join(dir(t), 'f.zeone-state')
  const id = randomBytes(32)
  const bf = new Bitfield(64)
  for (const i of [1, 5, 63]) bf.set(i)
  writeFileSync(path, encodeState(id, 0, bf))
  const v1 = readState(path, id, 0, 64)!
  assert.equal(v1.gen, 0)
  assert.deepEqual([...v1.bf.bits], [...bf.bits])
  const w = new StateWriter(path, 64, v1.gen + 1)
  assert.equal(readState(path, id, 0, 64)?.bf.count, 3, 'opening the writer changes nothing')
  bf.set(7)
  w.save(id, 0, bf)
  w.close()
  const v2 = readState(path, id, 0, 64)!
  assert.equal(v2.gen, 1)
  assert.equal(v2.bf.count, 4)
})
