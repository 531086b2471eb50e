import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseHeader, SafetensorsFile, writeSafetensors, fromF32, toF32 } from '../../src/cortex/safetensors.js'
import { ModelDir } from '../../src/cortex/model.js'
import { Tokenizer } from '../../src/cortex/tokenizer.js'
import { decodeTensor, encodeTensor } from '../../src/cortex/tensor-codec.js'
import { decodeForwardReq, encodeForwardReq } from '../../src/cortex/messages.js'
import { quantizeNK, dequantizeNK } from '../../src/cortex/quant.js'
import { sample, Prng } from '../../src/cortex/sampling.js'
import { fromHex, toHex } from '../../src/util/bytes.js'
import { tempDir, tinyModel } from './helpers.js'

const t = tempDir()
after(() => t.cleanup())
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

test('tensor codec: spec test vector and round trips', () => {
  const v = encodeTensor(new Float32Array([1, -2]), [1, 2])
  assert.equal(toHex(v), '010102000000000100000002' + '0000803f000000c0')
  const d = decodeTensor(fromHex('010102000000000100000002' + '0000803f000000c0'))
  assert.deepEqual([...d.data], [1, -2])
  assert.deepEqual(d.dims, [1, 2])
  const h = decodeTensor(encodeTensor(new Float32Array([0.5, -3]), [2], 'F16'))
  assert.deepEqual([...h.data], [0.5, -3])
})

test('tensor codec refuses hostile tensors: wrong shape, oversize, NaN/Inf, truncation, bad header', () => {
  const good = encodeTensor(new Float32Array(6), [2, 3])
  assert.throws(() => decodeTensor(good, { expectDims: [-1, 4] }), { code: 'bad_shape' })
  assert.throws(() => decodeTensor(good, { maxElements: 5 }), { code: 'oversize' })
  // a header claiming 2^24 x 2^24 elements is refused before any allocation
  assert.throws(() => decodeTensor(fromHex('0101020001000000' + '01000000')), { code: 'oversize' })
  assert.throws(() => decodeTensor(encodeTensor(new Float32Array([1, NaN]), [2])), { code: 'non_finite' })
  assert.throws(() => decodeTensor(encodeTensor(new Float32Array([Infinity]), [1])), { code: 'non_finite' })
  assert.throws(() => decodeTensor(good.subarray(0, good.length - 1)), { code: 'bad_length' })
  assert.throws(() => decodeTensor(fromHex('0201010000000001')), { code: 'bad_version' })
  assert.throws(() => decodeTensor(fromHex('0109010000000001')), { code: 'bad_dtype' })
  assert.throws(() => decodeTensor(fromHex('0101050000000001')), { code: 'bad_rank' })
  assert.throws(() => decodeTensor(fromHex('010101000000000000000000')), { code: 'bad_shape' })
  assert.throws(() => decodeTensor(new Uint8Array(3)), { code: 'truncated' })
})

test('forward request codec round-trips and refuses malformed bodies', () => {
  const sid = new Uint8Array(16).fill(7)
  const r = decodeForwardReq(encodeForwardReq({ sid, model: 'm', pos: 3, ids: [1, 2] }))
  assert.deepEqual(r, { sid, model: 'm', pos: 3, ids: [1, 2] })
  assert.throws(() => decodeForwardReq(encodeForwardReq({ sid: new Uint8Array(3), model: 'm', pos: 0, ids: [1] })), { code: 'bad_message' })
  assert.throws(() => decodeForwardReq(encodeForwardReq({ sid, model: 'm', pos: 0 })), { code: 'bad_message' })
  assert.throws(() => decodeForwardReq(new Uint8Array([0xff])), (e: Error & { code?: string }) => e.code === 'cbor' || e.code === 'bad_message')
})

test('safetensors: round trip, dtypes, range reads', () => {
  const p = join(t.dir, 'a.safetensors')
  const x = new Float32Array([1.5, -2.25, 3, 0.125])
  writeSafetensors(p, { a: { dtype: 'F32', shape: [2, 2], data: fromF32(x, 'F32') }, b: { dtype: 'BF16', shape: [4], data: fromF32(x, 'BF16') }, c: { dtype: 'F16', shape: [4], data: fromF32(x, 'F16') } })
  const f = SafetensorsFile.open(p)
  try {
    for (const n of ['a', 'b', 'c']) assert.deepEqual([...f.readF32(n).data], [...x])
    assert.deepEqual(f.readF32('a').shape, [2, 2])
    assert.throws(() => f.readRaw('zzz'), { code: 'missing_tensor' })
  } finally { f.close() }
  assert.deepEqual([...toF32(fromF32(new Float32Array([65504, -0.5]), 'F16'), 'F16')], [65504, -0.5])
})

test('safetensors refuses hostile headers', () => {
  const bad = (hdr: object, size = 1000): unknown => parseHeader(enc(JSON.stringify(hdr)), size)
  assert.throws(() => bad({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 10), { code: 'bad_safetensors' }) // beyond file
  assert.throws(() => bad({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }), /do not match/)
  assert.throws(() => bad({ a: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }), /unsupported dtype/)
  assert.throws(() => bad({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }), /bad shape/)
  assert.throws(() => bad({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }), /overlap/)
  assert.throws(() => parseHeader(enc('{not json'), 100), /JSON/)
  // a header length larger than the limit is refused before allocating it
  const p = join(t.dir, 'huge.safetensors')
  const b = Buffer.alloc(16); b.writeBigUInt64LE(1n << 40n); writeFileSync(p, b)
  assert.throws(() => SafetensorsFile.open(p), /exceeds/)
})

test('model directory: unsupported architecture, missing tensors, wrong shapes', () => {
  const m = tinyModel({ family: 'gpt2', layers: 1 })
  try {
    const cfgPath = join(m.dir, 'config.json')
    const md = new ModelDir(m.dir)
    assert.equal(md.config.family, 'gpt2')
    assert.throws(() => md.read('h.5.ln_1.weight'), { code: 'missing_tensor' })
    md.close()
    writeFileSync(cfgPath, JSON.stringify({ model_type: 'bert', hidden_size: 8 }))
    assert.throws(() => new ModelDir(m.dir), { code: 'unsupported_architecture' })
    writeFileSync(cfgPath, JSON.stringify({ model_type: 'gpt2', vocab_size: 999, n_embd: 32, n_head: 4, n_layer: 1 }))
    const wrong = new ModelDir(m.dir)
    assert.throws(() => wrong.read('wte.weight'), { code: 'bad_shape' })
    wrong.close()
  } finally { m.cleanup() }
})

test('model directory: a missing head, a broken sharded index and duplicate tensors are refused when opened', () => {
  const untied = tinyModel({ family: 'gpt2', layers: 1, tied: false })
  const sharded = tinyModel({ family: 'llama', layers: 1, sharded: true })
  try {
    // untied GPT-2 reads lm_head.weight; without it the directory is refused, not run with wte
    const md = new ModelDir(untied.dir)
    assert.equal(md.has('lm_head.weight'), true)
    md.close()
    const st = SafetensorsFile.open(join(untied.dir, 'model.safetensors'))
    const kept = Object.fromEntries([...st.header.tensors].filter(([n]) => n !== 'lm_head.weight').map(([n, t]) => [n, { dtype: t.dtype, shape: t.shape, data: st.readRaw(n) }]))
    st.close()
    writeSafetensors(join(untied.dir, 'model.safetensors'), kept as never)
    assert.throws(() => new ModelDir(untied.dir), (e: Error & { code?: string }) => e.code === 'missing_tensor' && /lm_head\.weight.*tie_word_embeddings is false/.test(e.message))
    // a tensor in two files of an unindexed directory
    writeSafetensors(join(untied.dir, 'extra.safetensors'), { 'wte.weight': kept['wte.weight'] } as never)
    assert.throws(() => new ModelDir(untied.dir), /in both/)

    const idxPath = join(sharded.dir, 'model.safetensors.index.json')
    const idx = JSON.parse(readFileSync(idxPath, 'utf8')) as { weight_map: Record<string, string> }
    new ModelDir(sharded.dir).close()
    const names = Object.keys(idx.weight_map)
    const wrong = { ...idx.weight_map, [names[0]!]: idx.weight_map[names.at(-1)!]! }
    writeFileSync(idxPath, JSON.stringify({ weight_map: wrong }))
    assert.throws(() => new ModelDir(sharded.dir), (e: Error & { code?: string }) => e.code === 'missing_tensor' && /does not hold it/.test(e.message))
    writeFileSync(idxPath, JSON.stringify({ weight_map: { ...idx.weight_map, [names[0]!]: 'model-00003-of-00003.safetensors' } }))
    assert.throws(() => new ModelDir(sharded.dir), (e: Error & { code?: string }) => e.code === 'missing_file' && /named by model.safetensors.index.json/.test(e.message))
    writeFileSync(idxPath, JSON.stringify({ weight_map: { ...idx.weight_map, [names[0]!]: '../x.safetensors' } }))
    assert.throws(() => new ModelDir(sharded.dir), /bad file name/)
    writeFileSync(idxPath, JSON.stringify({ weight_map: {} }))
    assert.throws(() => new ModelDir(sharded.dir), /empty weight_map/)
  } finally { untied.cleanup(); sharded.cleanup() }
})

for (const family of ['gpt2', 'llama'] as const) {
  test(`tokenizer (${family}): round trip, merges applied, special tokens`, () => {
    const m = tinyModel({ family, layers: 1 })
    try {
      const tok = Tokenizer.fromFile(join(m.dir, 'tokenizer.json'))
      for (const s of ['hello world', 'the quick brown fox.', 'ünïcödé ✓ 日本', '  spaces  and\nnewlines']) assert.equal(tok.decode(tok.encode(s)), s)
      // A leading U+FEFF is model output, not a byte-order mark: decode keeps it (TextDecoder's default strips it).
      for (const s of ['\uFEFFbom first', 'x\uFEFF']) assert.equal(tok.decode(tok.encode(s)), s)
      const ids = tok.encode('the the the')
      assert.ok(ids.length < 'the the the'.length, 'merges shorten the token sequence')
      const eos = family === 'gpt2' ? '<|endoftext|>' : '</s>'
      const withSpecial = tok.encode(`hi${eos}`)
      assert.equal(withSpecial.at(-1), tok.eosId)
    } finally { m.cleanup() }
  })
}

test('quantisation error is bounded (8-bit and 4-bit)', () => {
  const rng = new Prng(3)
  const N = 8, K = 70
  const w = Float32Array.from({ length: N * K }, () => rng.normal())
  for (const bits of [8, 4] as const) {
    const d = dequantizeNK(quantizeNK(w, N, K, bits))
    let err = 0, amax = 0
    for (let i = 0; i < w.length; i++) { err = Math.max(err, Math.abs(d[i]! - w[i]!)); amax = Math.max(amax, Math.abs(w[i]!)) }
    assert.ok(err <= amax / (bits === 8 ? 127 : 7), `${bits}-bit error ${err}`)
  }
})

test('sampling: greedy, seeded reproducibility, top-k restricts', () => {
  const logits = new Float32Array([0.1, 2, 0.3, 1.9, -1])
  assert.equal(sample(logits, {}, new Prng(1)), 1)
  const draw = (seed: number): number[] => { const r = new Prng(seed); return Array.from({ length: 50 }, () => sample(logits, { temperature: 1, seed }, r)) }
  assert.deepEqual(draw(5), draw(5))
  assert.notDeepEqual(draw(5), draw(6))
  const r = new Prng(9)
  for (let i = 0; i < 50; i++) assert.ok([1, 3].includes(sample(logits, { temperature: 5, topK: 2 }, r)))
  for (let i = 0; i < 50; i++) assert.equal(sample(logits, { temperature: 1, topP: 0.01 }, r), 1)
})

test('tensor codec decodes from a view into a larger (pooled) buffer', () => {
  const inner = encodeTensor(new Float32Array([4, 5, 6]), [3])
  const big = Buffer.alloc(inner.length + 3)
  big.set(inner, 3)
  assert.deepEqual([...decodeTensor(big.subarray(3)).data], [4, 5, 6])
})

test('message test vectors from docs/protocol/cortex.md', async () => {
  const { encodeForwardResp, decodeForwardResp, encodeEnd } = await import('../../src/cortex/messages.js')
  const { encodeAnnouncement, decodeAnnouncement } = await import('../../src/cortex/directory.js')
  const sid = new Uint8Array(16).fill(7)
  const fwd = 'a56176016369647382010263706f7303637369645007070707070707070707070707070707656d6f64656c616d'
  assert.equal(toHex(encodeForwardReq({ sid, model: 'm', pos: 3, ids: [1, 2] })), fwd)
  assert.deepEqual(decodeForwardReq(fromHex(fwd)).ids, [1, 2])
  const fwdx = 'a66176016178540101020000000001000000020000803f000000c063706f7300637369645007070707070707070707070707070707656d6f64656c616d6673616d706c65a46175f934006474656d70f9380064746f704b0064746f705001'
  assert.equal(toHex(encodeForwardReq({ sid, model: 'm', pos: 0, x: encodeTensor(new Float32Array([1, -2]), [1, 2]), sample: { temperature: 0.5, topK: 0, topP: 1, u: 0.25 } })), fwdx)
  assert.deepEqual(decodeForwardReq(fromHex(fwdx)).sample, { temperature: 0.5, topK: 0, topP: 1, u: 0.25 })
  assert.equal(toHex(encodeForwardResp({ pos: 4, tok: 42 })), 'a361760163706f730463746f6b182a')
  assert.deepEqual(decodeForwardResp(fromHex('a361760163706f730463746f6b182a')), { pos: 4, tok: 42 })
  assert.equal(toHex(encodeEnd(sid)), 'a2617601637369645007070707070707070707070707070707')
  const ann = 'a661760163656e6406656d6f64656c646770743265737461727400666c61796572730c6863617061636974791820'
  assert.equal(toHex(encodeAnnouncement({ model: 'gpt2', start: 0, end: 6, layers: 12, capacity: 32 })), ann)
  assert.deepEqual(decodeAnnouncement(fromHex(ann)), { model: 'gpt2', start: 0, end: 6, layers: 12, capacity: 32 })
  assert.equal(decodeAnnouncement(encodeAnnouncement({ model: 'x', start: 5, end: 3, layers: 12, capacity: 1 })), null)
  // out-of-range tail sampling parameters are refused
  assert.throws(() => decodeForwardReq(encodeForwardReq({ sid, model: 'm', pos: 0, ids: [1], sample: { temperature: 1, topK: 0, topP: 1, u: 1 } })), { code: 'bad_message' })
})

test('tokenizer: hostile or unsupported tokenizer.json is refused; add_prefix_space is honoured', () => {
  assert.throws(() => new Tokenizer({ model: { type: 'WordPiece', vocab: {} } } as never), { code: 'unsupported_tokenizer' })
  assert.throws(() => new Tokenizer({ model: { type: 'BPE', vocab: { a: -1 } } } as never), { code: 'bad_tokenizer' })
  assert.throws(() => new Tokenizer({ model: { type: 'BPE', vocab: { a: 0 }, merges: ['a b c'] } } as never), { code: 'bad_tokenizer' })
  const vocab: Record<string, number> = { '\u0120': 0, h: 1, i: 2, '\u0120h': 3 }
  const t = new Tokenizer({ model: { type: 'BPE', vocab, merges: ['\u0120 h'] }, pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true } } as never)
  assert.deepEqual(t.encode('hi'), [3, 2])
  assert.throws(() => t.encode('z'), { code: 'untokenizable' })
})

test('tokenizer: merges outside the vocabulary are refused; huge one-word prompts encode (no stack overflow)', async () => {
  assert.throws(() => new Tokenizer({ model: { type: 'BPE', vocab: { a: 0, b: 1 }, merges: ['a b'] } } as never), /merge #0 "a b" uses a token outside the vocabulary/)
  assert.throws(() => new Tokenizer({ model: { type: 'BPE', vocab: { a: 0 }, merges: [['a', 7]] } } as never), /bad merge #0/)
  // the legacy SentencePiece normalizer hands a prompt without spaces to BPE as one word; 60k emoji are 240k
  // byte-fallback ids (spreading them into push() threw RangeError before)
  const m = tinyModel({ family: 'llama', layers: 1 })
  try {
    const tok = Tokenizer.fromFile(join(m.dir, 'tokenizer.json'))
    const emoji = '\u{1F600}'.repeat(60_000)
    const ids = tok.encode(emoji)
    assert.equal(ids.length, 2 + 4 * 60_000) // <s>, "▁", four bytes per emoji
    assert.equal(tok.decode(ids), emoji)
  } finally { m.cleanup() }
  const { mergeRichText, mergeRichTokenizerJson } = await import('../../src/cortex/testing/tiny-model.js')
  const rich = new Tokenizer(mergeRichTokenizerJson(3) as never)
  const word = mergeRichText(1 << 16, 5).replaceAll(' ', 'a')
  assert.equal(rich.decode(rich.encode(word)), word)
})

test('tokenizer: Llama-3 style Split pre-tokenizer (digit groups, case-insensitive contractions)', async () => {
  const { splitRegexFromHf } = await import('../../src/cortex/tokenizer.js')
  const llama3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
  assert.deepEqual("I'M 12345".match(splitRegexFromHf(llama3)), ['I', "'M", ' ', '123', '45'])
  const vocab: Record<string, number> = { 1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 34: 5 }
  const base = { model: { type: 'BPE', vocab, merges: ['3 4'] } }
  const gpt2 = new Tokenizer({ ...base, pre_tokenizer: { type: 'ByteLevel' } } as never)
  const l3 = new Tokenizer({ ...base, pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: llama3 } }, { type: 'ByteLevel' }] } } as never)
  assert.deepEqual(gpt2.encode('12345'), [0, 1, 5, 4])
  assert.deepEqual(l3.encode('12345'), [0, 1, 2, 3, 4])
  assert.throws(() => splitRegexFromHf('(?i:\\p{L})'), { code: 'unsupported_tokenizer' })
})
