/**
 * The tokenizer against an independent implementation: transformers.js (@huggingface/transformers, pure-JS port of
 * HF tokenizers) loads the same self-made model directory offline with AutoTokenizer, and both must produce the same
 * ids and the same decoded text on a varied string set, for every tokenizer.json layout the engine accepts.
 * transformers.js runs models only from ONNX files (onnx/model.onnx), not safetensors, so logits are checked against
 * the plain-TypeScript float64 forward pass in reference.test.ts instead.
 * Where transformers.js itself departs from the Rust `tokenizers` library (what Python's AutoTokenizer runs), the
 * case is tested below against the Rust semantics by hand and the divergence is named.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Tokenizer } from '../../src/cortex/tokenizer.js'
import { mergeRichText, mergeRichTokenizerJson, writeTinyModel, type SpmLayout } from '../../src/cortex/testing/tiny-model.js'
import { tempDir } from './helpers.js'

interface HfTokenizer {
  encode(text: string, o: { add_special_tokens: boolean }): number[]
  decode(ids: number[], o: { skip_special_tokens: boolean; clean_up_tokenization_spaces: boolean }): string
}

const root = tempDir('zeone-hf-oracle-')
after(() => root.cleanup())
let loadHf: (name: string) => Promise<HfTokenizer>
before(async () => {
  const hf = await import('@huggingface/transformers')
  hf.env.allowRemoteModels = false
  hf.env.allowLocalModels = true
  hf.env.localModelPath = root.dir
  loadHf = async (name) => (await hf.AutoTokenizer.from_pretrained(name)) as unknown as HfTokenizer
})

const STRINGS = [
  'hello world', 'the quick brown fox jumps over the lazy dog.', ' hello', '  two leading spaces', 'trailing space ',
  '   ', 'a  b   c', 'x\n\ny', 'tab\there', 'line\r\nbreak', 'Hello World', 'MiXeD CaSe',
  'ünïcödé ✓ 日本語', 'emoji 😀 and 👩‍👩‍👧 family', '\uFEFFbom first', 'mid\uFEFFbom', 'digits 12345 and 3.14',
  '\u2581already metaspace', 'punctuation!?;:,.', "it's we're they'll",
  // special tokens: at the start, the end, between words, glued to text, repeated, and text after them
  '</s>', '<s>', '<s>hello', '<s> hello', 'hello</s>', 'hello </s> world', 'hi</s>there', '</s></s>', '<s><s>x',
  '<unk>', 'a<unk>b', '<|endoftext|>', 'end<|endoftext|>start', '<|endoftext|> after space', '<s', '</s x',
  'stages: the first stage embeds the tokens, the last stage predicts the next token.',
]

const nameOf = (family: string, spm?: SpmLayout, byteFallback?: boolean): string =>
  family + (spm ? `_${spm}` : '') + (byteFallback === false ? '_nobf' : '')

/** Writes the model, loads both tokenizers and compares encode (with and without special tokens) and decode. */
async function compare(name: string, dir: string, strings = STRINGS): Promise<number> {
  const ours = Tokenizer.fromFile(join(dir, 'tokenizer.json'))
  const hf = await loadHf(name)
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'))
  const hfDropsBom = JSON.stringify(json.decoder).includes('ByteFallback')
  let checked = 0
  for (const s of strings) {
    for (const add of [true, false]) {
      assert.deepEqual(ours.encode(s, { addSpecialTokens: add }), hf.encode(s, { add_special_tokens: add }), `${name}: encode ${JSON.stringify(s)} (special tokens ${add})`)
      checked++
    }
    // decode: the engine drops BOS (it never streams it) and otherwise prints added tokens, like skip_special_tokens: false
    const ids = hf.encode(s, { add_special_tokens: true }).filter((id) => id !== ours.bosId)
    if (!ids.length) continue
    const mine = ours.decode(ids)
    const theirs = hf.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false })
    // transformers.js's ByteFallback decoder runs each byte run through a default TextDecoder, which drops U+FEFF
    // at the start of the run; Rust keeps it (so do we: it is model output, not a byte-order mark)
    if (hfDropsBom && s.includes('\uFEFF')) {
      assert.equal(mine.replaceAll('\uFEFF', ''), theirs.replaceAll('\uFEFF', ''), `${name}: decode ${JSON.stringify(s)}`)
      if (json.model.byte_fallback) assert.equal(mine.split('\uFEFF').length, s.split('\uFEFF').length, `${name}: decode keeps U+FEFF`)
      continue
    }
    assert.equal(mine, theirs, `${name}: decode ${JSON.stringify(s)}`)
  }
  return checked
}

const layouts: [('gpt2' | 'llama'), SpmLayout | undefined, boolean | undefined][] = [
  ['gpt2', undefined, undefined],
  ['llama', 'legacy', true], ['llama', 'legacy', false],
  ['llama', 'metaspace-first', true], ['llama', 'metaspace-first', false],
  ['llama', 'metaspace-always', true],
]
for (const [family, spm, byteFallback] of layouts) {
  test(`tokenizer == transformers.js: ${nameOf(family, spm, byteFallback)}`, async () => {
    const name = nameOf(family, spm, byteFallback)
    const dir = join(root.dir, name)
    writeTinyModel(dir, { family, layers: 1, spm, byteFallback })
    const n = await compare(name, dir)
    assert.equal(n, STRINGS.length * 2)
  })
}

test('tokenizer == transformers.js: added tokens with lstrip/rstrip and a normalized (non-special) added token', async () => {
  for (const spm of ['legacy', 'metaspace-first'] as const) {
    const name = `llama_added_${spm}`
    const dir = join(root.dir, name)
    writeTinyModel(dir, { family: 'llama', layers: 1, spm })
    const p = join(dir, 'tokenizer.json')
    const j = JSON.parse(readFileSync(p, 'utf8'))
    const next = Math.max(...Object.values(j.model.vocab as Record<string, number>)) + 1
    j.added_tokens.push(
      { id: next, content: '<|user|>', single_word: false, lstrip: false, rstrip: true, normalized: false, special: true },
      { id: next + 1, content: '<mask>', single_word: false, lstrip: true, rstrip: false, normalized: false, special: true },
      { id: next + 2, content: 'zeone', single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
    )
    writeFileSync(p, JSON.stringify(j))
    await compare(name, dir, [...STRINGS, '<|user|>  hi there', 'a <mask> b', 'a<mask>', '  <mask>x', 'hello zeone!', 'zeone', 'the zeone node<|user|> zeone'])
  }
})

test('tokenizer == transformers.js: GPT-2 with ByteLevel add_prefix_space (applied to every piece, also after special tokens)', async () => {
  const name = 'gpt2_prefix_space'
  const dir = join(root.dir, name)
  writeTinyModel(dir, { family: 'gpt2', layers: 1 })
  const p = join(dir, 'tokenizer.json')
  const j = JSON.parse(readFileSync(p, 'utf8'))
  j.pre_tokenizer.add_prefix_space = true
  writeFileSync(p, JSON.stringify(j))
  await compare(name, dir)
})

test('tokenizer == transformers.js: Llama 3 layout (Split regex + ByteLevel without regex, <|begin_of_text|> template, ignore_merges)', async () => {
  const name = 'llama3_bytelevel'
  const dir = join(root.dir, name)
  writeTinyModel(dir, { family: 'gpt2', layers: 1 })
  const p = join(dir, 'tokenizer.json')
  const j = JSON.parse(readFileSync(p, 'utf8'))
  const next = Math.max(...Object.values(j.model.vocab as Record<string, number>)) + 1
  j.added_tokens = [
    { id: next, content: '<|begin_of_text|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    { id: next + 1, content: '<|end_of_text|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
  ]
  const split = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
  j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: split }, behavior: 'Isolated', invert: false }, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] }
  j.post_processor = {
    type: 'Sequence', processors: [
      { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [], special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [next], tokens: ['<|begin_of_text|>'] } } },
    ],
  }
  j.model.ignore_merges = true
  // a word in the vocabulary that the merges cannot reach: ignore_merges emits it whole
  j.model.vocab['\u0120zq'] = next + 2
  j.added_tokens.push({ id: next + 3, content: '<|eot_id|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })
  writeFileSync(p, JSON.stringify(j))
  await compare(name, dir, [...STRINGS, "I'M 12345 ok", 'a zq b', '<|begin_of_text|>hi<|eot_id|> there', '<|end_of_text|>'])
  const ours = Tokenizer.fromFile(p)
  assert.equal(ours.encode('x')[0], next, 'the template puts <|begin_of_text|> first')
  assert.equal(ours.bosId, next)
})

test('tokenizer == transformers.js: merge-rich vocabulary (4680 merges in shuffled rank order), long words', async () => {
  const name = 'merge_rich'
  const dir = join(root.dir, name)
  mkdirSync(dir)
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(mergeRichTokenizerJson(3)))
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'LlamaTokenizer', clean_up_tokenization_spaces: false }))
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama' }))
  // transformers.js does not fuse unknown runs (fuse_unk), so its input stays inside the alphabet
  const strings = Array.from({ length: 60 }, (_, i) => mergeRichText(1 + ((i * 37) % 400), 100 + i))
  await compare(name, dir, [...strings, mergeRichText(5000, 9), 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'abababababababab ab'])
})

// ---- Rust `tokenizers` semantics that transformers.js does not implement, checked by hand ----

const spmJson = (extra: Record<string, unknown>, model: Record<string, unknown> = {}): never => ({
  added_tokens: [{ id: 0, content: '<unk>', special: true, normalized: false }],
  model: { type: 'BPE', vocab: { '<unk>': 0, '\u2581': 1, a: 2, b: 3, '\u2581a': 4, '\u2581b': 5 }, merges: ['\u2581 a', '\u2581 b'], unk_token: '<unk>', ...model },
  ...extra,
}) as never

test('tokenizer (Rust semantics): fuse_unk fuses a run of unknown characters into one <unk>', () => {
  const fused = new Tokenizer(spmJson({ pre_tokenizer: { type: 'Metaspace', prepend_scheme: 'always', split: false } }, { fuse_unk: true }))
  const plain = new Tokenizer(spmJson({ pre_tokenizer: { type: 'Metaspace', prepend_scheme: 'always', split: false } }, { fuse_unk: false }))
  assert.deepEqual(fused.encode('a日本b'), [4, 0, 3])
  assert.deepEqual(plain.encode('a日本b'), [4, 0, 0, 3])
})

test('tokenizer (Rust semantics): Metaspace split: true cuts before every "▁"; prepend_scheme never adds none and strips none', () => {
  // with split the merge "b ▁" cannot apply across the cut; without it, it does
  const vocab = { '<unk>': 0, '\u2581': 1, a: 2, b: 3, 'b\u2581': 4 }
  const mk = (split: boolean, scheme = 'always'): Tokenizer => new Tokenizer({
    model: { type: 'BPE', vocab, merges: ['b \u2581'], unk_token: '<unk>' },
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: scheme, split },
    decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: scheme, split },
  } as never)
  assert.deepEqual(mk(true).encode('b a'), [1, 3, 1, 2])
  assert.deepEqual(mk(false).encode('b a'), [1, 4, 2])
  const never = mk(false, 'never')
  assert.deepEqual(never.encode('a b'), [2, 1, 3])
  assert.equal(never.decode([1, 2]), ' a', 'prepend_scheme never: the decoder keeps the leading space')
  assert.equal(mk(false).decode([1, 2]), 'a')
})

test('tokenizer: prepend_scheme first prepends only at the start of the text, always after every special token', () => {
  const vocab = { '<unk>': 0, '</s>': 1, '\u2581': 2, a: 3, '\u2581a': 4 }
  const mk = (scheme: string): Tokenizer => new Tokenizer({
    added_tokens: [{ id: 1, content: '</s>', special: true, normalized: false }],
    model: { type: 'BPE', vocab, merges: ['\u2581 a'], unk_token: '<unk>' },
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: scheme, split: false },
  } as never)
  assert.deepEqual(mk('first').encode('a</s>a'), [4, 1, 3])
  assert.deepEqual(mk('always').encode('a</s>a'), [4, 1, 4])
  assert.deepEqual(mk('first').encode('</s>a'), [1, 3])
  assert.deepEqual(mk('first').encode(' a'), [4], 'no second "▁" before text that starts with a space')
})

test('tokenizer: unsupported tokenizer.json stages and options are refused by name, never skipped', () => {
  const base = { model: { type: 'BPE', vocab: { a: 0 }, merges: [] } }
  const refuse = (extra: Record<string, unknown>, re: RegExp): void => {
    assert.throws(() => new Tokenizer({ ...base, ...extra } as never), (e: Error & { code?: string }) => e.code === 'unsupported_tokenizer' && re.test(e.message))
  }
  refuse({ normalizer: { type: 'Lowercase' } }, /normalizer "Lowercase"/)
  refuse({ normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'BertNormalizer' }] } }, /BertNormalizer/)
  refuse({ pre_tokenizer: { type: 'Whitespace' } }, /pre_tokenizer "Whitespace"/)
  refuse({ pre_tokenizer: { type: 'Split', pattern: { String: ' ' }, behavior: 'Removed' } }, /Split behavior/)
  refuse({ pre_tokenizer: { type: 'Metaspace', prepend_scheme: 'sometimes' } }, /prepend_scheme/)
  refuse({ post_processor: { type: 'RobertaProcessing' } }, /post_processor "RobertaProcessing"/)
  refuse({ decoder: { type: 'WordPiece' } }, /decoder "WordPiece"/)
  refuse({ added_tokens: [{ id: 0, content: 'a', single_word: true }] }, /single_word/)
  refuse({ model: { ...base.model, dropout: 0.1 } }, /dropout/)
  refuse({ model: { ...base.model, continuing_subword_prefix: '##' } }, /continuing_subword_prefix/)
  assert.throws(() => new Tokenizer({ ...base, post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>' } }, { Sequence: { id: 'A' } }], special_tokens: { '<s>': { ids: [99] } } } } as never), { code: 'bad_tokenizer' })
  assert.throws(() => new Tokenizer({ ...base, post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>' } }, { Sequence: { id: 'A' } }], special_tokens: {} } } as never), { code: 'bad_tokenizer' })
})
