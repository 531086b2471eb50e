/**
 * Signed model cards (issue 21 item 3): signing and hostile decoding, recomputation against a model directory
 * (weights root from the content layer's Merkle roots, config and tokenizer hashes, architecture), the stage gate
 * that refuses mismatching weights, and evaluation attestations as provider records on a real in-process DHT.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync, cpSync, openSync, writeSync, closeSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { cardId, decodeCard, encodeCard, signCard, verifyCardSignature, type ModelCard } from '../../src/cortex/cards/card.js'
import { recompute, verifyCard } from '../../src/cortex/cards/recompute.js'
import { checkServeCard } from '../../src/cortex/cards/serve-check.js'
import { encodeAttestation, findAttestations, publishAttestation, signAttestation } from '../../src/cortex/cards/attestation.js'
import { createTestnet } from '../../src/dht/testnet.js'
import { providerDirectory } from '../../src/dht/control.js'
import { sha256 } from '../../src/crypto/hash.js'
import { writeTinyModel } from '../../src/cortex/testing/tiny-model.js'
import { identity, tempDir } from './helpers.js'

const tmp = tempDir('zeone-cards-')
const dir = join(tmp.dir, 'model')
const publisher = identity(100)
let card: ModelCard
before(async () => {
  writeTinyModel(dir, { family: 'gpt2', layers: 2, seed: 4 })
  const r = await recompute(dir)
  card = signCard(publisher, { model: 'tiny-gpt2', ...r, license: 'apache-2.0', evals: [{ name: 'hellaswag-mini', metric: 'acc', value: 0.25, evalSetHash: sha256(new TextEncoder().encode('eval set')) }], created: 1_767_225_600 })
})
after(() => tmp.cleanup())

test('a card round-trips, its signature covers every field, and hostile encodings are refused', () => {
  const back = decodeCard(encodeCard(card))
  assert.equal(verifyCardSignature(back), true)
  assert.deepEqual(cardId(back), cardId(card))
  assert.equal(verifyCardSignature({ ...back, license: 'proprietary' }), false)
  assert.equal(verifyCardSignature({ ...back, evals: [{ ...back.evals[0]!, value: 0.9 }] }), false)
  assert.equal(verifyCardSignature({ ...back, publisher: identity(101).publicKey }), false)
  assert.throws(() => decodeCard(new Uint8Array(70 * 1024)), /over/)
  assert.throws(() => decodeCard(new Uint8Array([0xa1, 0x61, 0x76, 0x02])), /v1/)
})

test('zeone model verify: the recomputed bindings match, and a changed weight, config or tokenizer is named', async () => {
  assert.equal((await verifyCard(card, dir)).ok, true)
  const bad = join(tmp.dir, 'bad')
  cpSync(dir, bad, { recursive: true })
  // flip one byte in the middle of the weights
  const f = join(bad, 'model.safetensors')
  const fd = openSync(f, 'r+')
  writeSync(fd, new Uint8Array([0x42]), 0, 1, Math.floor(statSync(f).size / 2))
  closeSync(fd)
  const r = await verifyCard(card, bad)
  assert.deepEqual({ ok: r.ok, weights: r.weights, config: r.config, tokenizer: r.tokenizer }, { ok: false, weights: false, config: true, tokenizer: true })
  writeFileSync(join(bad, 'tokenizer.json'), readFileSync(join(bad, 'tokenizer.json'), 'utf8') + ' ')
  assert.equal((await verifyCard(card, bad)).tokenizer, false)
  const cfg = JSON.parse(readFileSync(join(bad, 'config.json'), 'utf8')) as Record<string, unknown>
  writeFileSync(join(bad, 'config.json'), JSON.stringify({ ...cfg, layer_norm_epsilon: 1e-6 }))
  assert.equal((await verifyCard(card, bad)).config, false)
})

test('a stage refuses to serve weights whose root differs from its card, and a card with a bad signature', async () => {
  const cardPath = join(tmp.dir, 'card.cbor')
  writeFileSync(cardPath, encodeCard(card))
  assert.deepEqual(cardId(await checkServeCard(cardPath, dir)), cardId(card))
  const other = join(tmp.dir, 'other')
  writeTinyModel(other, { family: 'gpt2', layers: 2, seed: 5 })
  await assert.rejects(checkServeCard(cardPath, other), (e: Error & { code?: string }) => e.code === 'card_mismatch' && /weights/.test(e.message))
  const forged = join(tmp.dir, 'forged.cbor')
  writeFileSync(forged, encodeCard({ ...card, license: 'mit' }))
  await assert.rejects(checkServeCard(forged, dir), /signature/)
})

test('evaluation attestations are provider records: honest ones are found, forged and misattributed ones are not', async () => {
  const tn = await createTestnet({ size: 12 })
  try {
    const id = cardId(card)
    const ev = { cardId: id, name: 'hellaswag-mini', metric: 'acc', value: 0.25, evalSetHash: card.evals[0]!.evalSetHash }
    const [n1, n2, n3, n4] = [tn.nodes[1]!, tn.nodes[4]!, tn.nodes[7]!, tn.nodes[9]!]
    await publishAttestation(providerDirectory(n1.dht), signAttestation(n1.identity, ev))
    await publishAttestation(providerDirectory(n2.dht), signAttestation(n2.identity, { ...ev, value: 0.26 }))
    // n3 publishes an attestation signed by n1's key (misattributed), n4 one whose signature is broken
    const stolen = signAttestation(n1.identity, { ...ev, value: 0.99 })
    await providerDirectory(n3.dht).provide((await import('../../src/cortex/cards/attestation.js')).attestationKey(id), encodeAttestation(stolen))
    const broken = { ...signAttestation(n4.identity, ev), value: 0.5 }
    await providerDirectory(n4.dht).provide((await import('../../src/cortex/cards/attestation.js')).attestationKey(id), encodeAttestation(broken))
    const found = await findAttestations(providerDirectory(tn.nodes[11]!.dht), id)
    assert.deepEqual(found.map((a) => a.value).sort(), [0.25, 0.26])
    assert.equal(found.every((a) => Buffer.compare(a.cardId, id) === 0), true)
  } finally { tn.destroy() }
})

test('zeone model card signs with the node identity and zeone model verify reports a match (exit 0) or the mismatch (exit 1)', async () => {
  const { PassThrough } = await import('node:stream')
  const { commands } = await import('../../src/cli/commands/model-card.js')
  const run = async (name: string, positionals: string[], flags: Record<string, string | boolean | string[]>): Promise<{ rc: number; out: string }> => {
    const stdout = new PassThrough(), stderr = new PassThrough()
    let out = ''
    stdout.on('data', (d) => { out += d })
    const rc = await commands.find((c) => c.name === name)!.run({ positionals, flags }, { stdout, stderr })
    return { rc, out }
  }
  writeFileSync(join(tmp.dir, 'set.txt'), 'eval set')
  const cardFile = join(tmp.dir, 'cli-card.cbor')
  const made = await run('model card', [dir], { id: 'tiny', license: 'mit', eval: 'mini:acc:0.5:' + join(tmp.dir, 'set.txt'), out: cardFile, 'data-dir': join(tmp.dir, 'data') })
  assert.equal(made.rc, 0)
  const ok = await run('model verify', [dir], { card: cardFile, json: true })
  assert.equal(ok.rc, 0)
  const j = JSON.parse(ok.out) as { ok: boolean; evals: { evalSet: string }[] }
  assert.equal(j.ok, true)
  assert.equal(j.evals[0]!.evalSet, Buffer.from(sha256(new TextEncoder().encode('eval set'))).toString('hex'))
  const other = join(tmp.dir, 'other-cli')
  writeTinyModel(other, { family: 'gpt2', layers: 2, seed: 6 })
  const bad = await run('model verify', [other], { card: cardFile, json: true })
  assert.equal(bad.rc, 1)
  assert.equal((JSON.parse(bad.out) as { weights: boolean }).weights, false)
})
