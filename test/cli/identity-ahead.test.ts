// A first start mints the identity on a worker thread while the node loads (src/cli/identity-ahead.ts): the file
// it writes must be the node's own format with the asked puzzle bits, and a cancelled mint must write nothing.
import { after, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mintIdentityAhead } from '../../src/cli/identity-ahead.js'
import { IDENTITY_FILE, loadOrCreateIdentity, staticPuzzleBits } from '../../src/crypto/identity.js'

// from the TypeScript sources there is no compiled worker: the node mints the identity itself (covered by cli.test)
const fromSource = import.meta.url.endsWith('.ts')
const root = mkdtempSync(join(tmpdir(), 'zeone-ahead-'))
after(() => rmSync(root, { recursive: true, force: true }))

it('mints an identity with the asked puzzle bits that the node then loads as its own', { skip: fromSource }, async () => {
  const dir = join(root, 'a')
  const ahead = await mintIdentityAhead(dir, 8)
  assert.ok(ahead, 'no identity yet: the worker runs')
  await ahead.done
  const file = join(dir, IDENTITY_FILE)
  assert.equal(statSync(file).mode & 0o777, 0o600)
  const { identity, created } = loadOrCreateIdentity(dir, { puzzleBits: 8 })
  assert.equal(created, false)
  assert.ok(staticPuzzleBits(identity.publicKey) >= 8)
  assert.equal(await mintIdentityAhead(dir, 8), undefined, 'an existing identity is left alone')
})

it('a cancelled mint writes no identity', { skip: fromSource }, async () => {
  const dir = join(root, 'b')
  const ahead = await mintIdentityAhead(dir, 32) // 2^32 keys: never done before the cancel
  assert.ok(ahead)
  await ahead.cancel()
  await ahead.done
  assert.equal(existsSync(join(dir, IDENTITY_FILE)), false)
})
