/**
 * The embedding engine against transformers.js (@huggingface/transformers 4.3.1, offline) loading the same self-made
 * model directory: its own WordPiece tokenizer on the same tokenizer.json, its feature-extraction pipeline
 * (pooling 'mean', normalize true) over an independently written ONNX export of the same safetensors
 * (embed-reference.ts). Ids must be equal, embeddings within 1e-5.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Embedder } from '../../src/cortex/embed/embedder.js'
import { WordPieceTokenizer } from '../../src/cortex/embed/wordpiece.js'
import { writeTinyBert } from '../../src/cortex/embed/tiny-bert.js'
import { writeReferenceOnnx } from './embed-reference.js'
import { tempDir } from './helpers.js'

interface HfTok { encode(t: string, o?: { add_special_tokens?: boolean }): number[] }
type Extractor = (t: string | string[], o: { pooling: 'mean'; normalize: boolean }) => Promise<{ data: Float32Array; dims: number[] }>

const root = tempDir('zeone-embed-oracle-')
after(() => root.cleanup())
let hf: typeof import('@huggingface/transformers')
before(async () => {
  hf = await import('@huggingface/transformers')
  hf.env.allowRemoteModels = false
  hf.env.allowLocalModels = true
  hf.env.localModelPath = root.dir
})

const STRINGS = [
  'hello world', 'The quick brown fox jumps over the lazy dog.', 'HELLO   World', '  leading and trailing  ',
  'Café naïve résumé', 'ÀÉÎÕÜ ñ ß', 'punctuation!?;:,. (brackets) [x] {y} "quotes" \'single\'', 'a-b_c/d\\e@f#g$h%i^j&k*l',
  '日本語 text 中文', '日本語のテキスト', 'emoji 😀 here', 'snow☃man xylophone', 'tokens tokening streamed',
  'digits 12345 and 3.14', 'tab\tnew\nline\r\nbreak', 'zero\u0000width\u200bspace\ufeffbom', 'control\u0007bell',
  '¿qué? ¡sí! «quoted» — dash … ellipsis', '[CLS] [SEP] [MASK] in text', 'hello[MASK]world', 'x', '', '   ',
  'a'.repeat(120), `${'word '.repeat(10)}end`,
]

test('WordPiece ids == transformers.js on varied strings (accents, CJK, punctuation, [UNK], control chars, added tokens)', async () => {
  const dir = join(root.dir, 'tok')
  writeTinyBert(dir, { layers: 1 })
  const ours = WordPieceTokenizer.fromFile(join(dir, 'tokenizer.json'))
  const theirs = (await hf.AutoTokenizer.from_pretrained('tok')) as unknown as HfTok
  for (const s of STRINGS) assert.deepEqual(ours.encode(s), theirs.encode(s), `ids of ${JSON.stringify(s)}`)
  // something really went to [UNK], and the long word too (over max_input_chars_per_word)
  assert.ok(ours.encode('snow☃man').includes(ours.unkId))
  assert.deepEqual(ours.encode('a'.repeat(120)), [ours.clsId, ours.unkId, ours.sepId])
})

// Rust `tokenizers` (what Python's BertTokenizerFast and sentence-transformers run) truncates before the post-processor,
// keeping room for [SEP]; transformers.js cuts the finished sequence (its [SEP] falls off). We keep Rust's: the ids
// agree up to the last position, which is [SEP] here.
test('WordPiece truncation at model_max_length: == transformers.js up to the last id, which stays [SEP] (Rust semantics)', async () => {
  const dir = join(root.dir, 'trunc')
  writeTinyBert(dir, { layers: 1, maxPositions: 64, modelMaxLength: 16 })
  const ours = WordPieceTokenizer.fromFile(join(dir, 'tokenizer.json'), { maxLength: 16 })
  const tok = (await hf.AutoTokenizer.from_pretrained('trunc')) as unknown as (t: string, o: object) => { input_ids: { data: BigInt64Array } }
  for (const s of ['the quick brown fox jumps over the lazy dog and the network of nodes shares layers', 'short one', 'a, b, c, d, e, f, g, h, i, j, k, l, m, n']) {
    const want = Array.from(tok(s, { truncation: true }).input_ids.data, Number)
    const full = Array.from(tok(s, { truncation: false }).input_ids.data, Number)
    const mine = ours.encode(s)
    if (full.length <= 16) assert.deepEqual(mine, want, JSON.stringify(s))
    else {
      assert.deepEqual(mine.slice(0, -1), want.slice(0, -1), JSON.stringify(s))
      assert.equal(mine.at(-1), ours.sepId)
      assert.equal(mine.length, 16)
    }
    assert.ok(ours.encode(s).length <= 16)
  }
})

test('WordPiece (Rust semantics by hand): CJK outside the BMP is split like the BMP ideographs; transformers.js walks UTF-16 units and does not', () => {
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'a', '\u{20000}']
  const t = new WordPieceTokenizer({
    model: { type: 'WordPiece', unk_token: '[UNK]', vocab: Object.fromEntries(vocab.map((v, i) => [v, i])) },
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' }, post_processor: null,
  })
  assert.deepEqual(t.encodeRaw('a\u{20000}a'), [4, 5, 4])
})

async function compareEmbeddings(name: string, opts: Parameters<typeof writeTinyBert>[1]): Promise<void> {
  const dir = join(root.dir, name)
  writeTinyBert(dir, opts)
  writeReferenceOnnx(dir)
  const extractor = (await hf.pipeline('feature-extraction', name, { dtype: 'fp32' })) as unknown as Extractor
  const emb = await Embedder.load(dir, { maxBatch: 4 })
  try {
    const texts = STRINGS.filter((s) => s.trim())
    const mine = await emb.embed(texts)
    // transformers.js batches everything into one padded tensor; the engine sorts into batches of 4 by length
    const ref = await extractor(texts, { pooling: 'mean', normalize: true })
    assert.deepEqual(ref.dims, [texts.length, emb.dim])
    let worst = 0
    texts.forEach((t, i) => {
      const r = ref.data.subarray(i * emb.dim, (i + 1) * emb.dim)
      const m = mine.vectors[i]!
      let n = 0
      for (let k = 0; k < emb.dim; k++) { worst = Math.max(worst, Math.abs(m[k]! - r[k]!)); n += m[k]! * m[k]! }
      assert.ok(Math.abs(Math.sqrt(n) - 1) < 1e-5, `unit norm: ${t}`)
    })
    assert.ok(worst < 1e-5, `${name}: max |engine - transformers.js| = ${worst}`)
    // the vectors are not degenerate: different texts give different embeddings
    assert.ok(Math.abs(mine.vectors[0]![0]! - mine.vectors[1]![0]!) > 1e-4)
    // the standard-ops attention (no com.microsoft MultiHeadAttention) agrees as well
    const plain = await Embedder.load(dir, { maxBatch: 3, attention: 'plain' })
    const p = await plain.embed(texts)
    await plain.close()
    texts.forEach((_, i) => { for (let k = 0; k < emb.dim; k++) assert.ok(Math.abs(p.vectors[i]![k]! - ref.data[i * emb.dim + k]!) < 1e-5, `plain attention, text ${i}`) })
    // one at a time (no padding) gives the same answer as padded batches
    const single = await emb.embed([texts[5]!])
    for (let k = 0; k < emb.dim; k++) assert.ok(Math.abs(single.vectors[0]![k]! - mine.vectors[5]![k]!) < 1e-5)
  } finally {
    await emb.close()
    await (extractor as unknown as { dispose(): Promise<void> }).dispose?.()
  }
}

test('embeddings == transformers.js feature-extraction (mean, normalize) to 1e-5: MiniLM-shaped, 2 layers', async () => {
  await compareEmbeddings('bert2', { layers: 2, hidden: 48, heads: 4, intermediate: 96, seed: 3 })
})

test('embeddings == transformers.js: bert.-prefixed checkpoint, 3 layers, F16 weights', async () => {
  await compareEmbeddings('bert3p', { layers: 3, hidden: 32, heads: 2, seed: 4, prefixed: true, dtype: 'F16' })
})
