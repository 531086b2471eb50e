import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, symlinkSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity } from '../../src/crypto/identity.js'
import { decodeManifest, encodeManifest, isValidChunkSize, manifestId, signManifest, type Manifest } from '../../src/content/manifest.js'
import { prepareTarget, safeJoin, validatePathSet, validateRelPath } from '../../src/content/paths.js'
import { decode, encode } from '../../src/wire/cbor.js'
import { toHex } from '../../src/util/bytes.js'

const id = Identity.fromSeed(new Uint8Array(32).fill(7))
const file = (path: string) => ({ path, size: 100, chunkSize: 16384, root: new Uint8Array(32).fill(1), sha256: new Uint8Array(32).fill(2) })
const make = (paths = ['a.bin']): Manifest => signManifest({ contentId: 'demo', version: 1, files: paths.map(file), created: 1_700_000_000_000 }, id)

// Vector from docs/protocol/content.md §"Test vectors" (seed 07*32, fixed body)
const VECTOR_ID = '3b39ba55ed1a1a432f2379776a520d47743b3879710eebb3b4644b9eb9f3388b'

test('manifest round-trips canonically and its id is SHA-256 of the encoding (spec vector)', () => {
  const m = make()
  const bytes = encodeManifest(m)
  const back = decodeManifest(bytes)
  assert.deepEqual(encodeManifest(back), bytes)
  assert.equal(toHex(manifestId(m)), VECTOR_ID)
  assert.equal(toHex(manifestId(bytes)), VECTOR_ID)
})

test('tampering with any field or the signature is refused', () => {
  const m = make()
  const v = decode(encodeManifest(m)) as Record<string, unknown>
  for (const mut of [
    (o: any) => { o.version = 2 },
    (o: any) => { o.files[0].size = 101 },
    (o: any) => { o.content_id = 'other' },
    (o: any) => { o.sig = new Uint8Array(64) },
    (o: any) => { o.publisher = Identity.fromSeed(new Uint8Array(32).fill(8)).publicKey },
  ]) {
    const o = structuredClone(v) as any
    mut(o)
    assert.throws(() => decodeManifest(encode(o)), { code: 'bad_signature' })
  }
  const extra = structuredClone(v) as any
  extra.extra = 1
  assert.throws(() => decodeManifest(encode(extra)), { code: 'bad_manifest' })
  assert.throws(() => decodeManifest(new Uint8Array([0xa1, 0x61])), { code: 'bad_manifest' })
})

test('chunk size must be a power of two in 16 KiB..16 MiB', () => {
  assert.equal(isValidChunkSize(16384), true)
  assert.equal(isValidChunkSize(1 << 24), true)
  assert.equal(isValidChunkSize(8192), false)
  assert.equal(isValidChunkSize(1 << 25), false)
  assert.equal(isValidChunkSize(3 * 16384), false)
  assert.throws(() => signManifest({ contentId: 'x', version: 1, files: [{ ...file('a'), chunkSize: 20000 }], created: 0 }, id), { code: 'bad_chunk_size' })
})

test('paths: hostile names are refused with a clear error', () => {
  for (const bad of ['', '/etc/passwd', '../x', 'a/../../x', 'a//b', 'a/./b', './a', 'a/', 'a\\b', 'C:x', 'a\u0000b', 'a\nb', '..', 'x/'.repeat(3000), 'e\u0301']) {
    assert.throws(() => validateRelPath(bad), { code: 'unsafe_path' }, JSON.stringify(bad))
  }
  assert.equal(validateRelPath('models/llama/layer-01.bin'), 'models/llama/layer-01.bin')
  assert.throws(() => validatePathSet(['a', 'a']), /duplicate/)
  assert.throws(() => validatePathSet(['a', 'a/b']), /both a file and a directory/)
  assert.throws(() => signManifest({ contentId: 'x', version: 1, files: [file('../evil')], created: 0 }, id), { code: 'unsafe_path' })
})

test('safeJoin stays in the root; prepareTarget refuses planted symlinks', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zeone-paths-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  assert.equal(safeJoin(dir, 'a/b'), join(dir, 'a', 'b'))
  const outside = mkdtempSync(join(tmpdir(), 'zeone-outside-'))
  t.after(() => rmSync(outside, { recursive: true, force: true }))
  mkdirSync(join(dir, 'out'))
  symlinkSync(outside, join(dir, 'out', 'link'))
  assert.throws(() => prepareTarget(join(dir, 'out'), 'link/file.bin'), { code: 'unsafe_path' })
  assert.equal(prepareTarget(join(dir, 'out'), 'sub/dir/file.bin'), join(dir, 'out', 'sub', 'dir', 'file.bin'))
})
