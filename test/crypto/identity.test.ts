import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity, loadOrCreateIdentity, staticPuzzleBits, IDENTITY_FILE } from '../../src/crypto/identity.js'
import { toHex } from '../../src/util/bytes.js'
import { sha1 } from '../../src/crypto/hash.js'

test('known-answer identity from the legacy vectors', () => {
  const id = Identity.fromSeed(new Uint8Array(32).fill(1))
  assert.equal(id.nodeIdB64, 'iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=')
  assert.equal(id.dhtIdHex, '9ad19e0f16eef714cb90c6f195dbce66e94580f9')
  assert.ok(toHex(sha1(new TextEncoder().encode('mission'))).startsWith('e59abed3'))
})

test('identity file is created 0600, reloaded, and refused when group/world readable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zeone-id-'))
  const a = loadOrCreateIdentity(dir)
  assert.equal(a.created, true)
  assert.equal(statSync(join(dir, IDENTITY_FILE)).mode & 0o777, 0o600)
  const b = loadOrCreateIdentity(dir)
  assert.equal(b.created, false)
  assert.equal(b.identity.nodeIdB64, a.identity.nodeIdB64)
  chmodSync(join(dir, IDENTITY_FILE), 0o644)
  assert.throws(() => loadOrCreateIdentity(dir), /refusing to start/)
})

test('minted identities solve the static puzzle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zeone-id-'))
  const { identity } = loadOrCreateIdentity(dir, { puzzleBits: 6 })
  assert.ok(staticPuzzleBits(identity.publicKey) >= 6)
  assert.equal(JSON.stringify(identity).includes('secret'), false)
})
