/**
 * Issue 21 item 3: an embedding model's weights root (its vector spaces' key) is the content layer's manifest Merkle
 * root, folded exactly as decoders' model cards fold it: publishing the model directory through the content store
 * yields a manifest whose weights root equals the embedder's, and a changed weight changes it.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { readFileSync, writeFileSync } from 'node:fs'
import { Embedder } from '../../src/cortex/embed/embedder.js'
import { writeTinyBert } from '../../src/cortex/embed/tiny-bert.js'
import { ContentStore } from '../../src/content/store.js'
import { manifestWeightsRoot } from '../../src/cortex/cards/weights-root.js'
import { recompute } from '../../src/cortex/cards/recompute.js'
import { identity, tempDir, tinyModel } from './helpers.js'

test('embed weights root = the content manifest\'s weights root = the decoder card function', async (t) => {
  const tmp = tempDir('zeone-embed-root-')
  t.after(() => tmp.cleanup())
  const dir = join(tmp.dir, 'bert')
  writeTinyBert(dir, { layers: 1, hidden: 32, seed: 5 })
  const e = await Embedder.load(dir)
  try {
    const pub = await new ContentStore().publish(dir, identity(40))
    assert.equal(e.weightsRoot, Buffer.from(manifestWeightsRoot(pub.manifest.files)).toString('hex'))
  } finally { await e.close() }
  // the decoders' card recompute folds the same way: a decoder dir's card root equals its manifest's
  const dec = tinyModel({ family: 'llama', layers: 1, hidden: 32, heads: 2, seed: 3 })
  t.after(() => dec.cleanup())
  const pubDec = await new ContentStore().publish(dec.dir, identity(41))
  assert.deepEqual((await recompute(dec.dir)).weightsRoot, manifestWeightsRoot(pubDec.manifest.files))
  // one changed weight byte changes the root
  const f = join(dir, 'model.safetensors')
  const b = readFileSync(f); b[b.length - 1] ^= 1; writeFileSync(f, b)
  const e2 = await Embedder.load(dir)
  try { assert.notEqual(e2.weightsRoot, e.weightsRoot) } finally { await e2.close() }
  assert.throws(() => manifestWeightsRoot([{ path: 'config.json', size: 1, chunkSize: 1 << 20, root: new Uint8Array(32) }]), /no \.safetensors/)
})
