/**
 * BERT's WordPiece tokenizer from a Hugging Face tokenizer.json, with the semantics of the Rust `tokenizers` library:
 *  - added tokens ([CLS], [SEP], [MASK], ...) are cut out of the raw text first;
 *  - BertNormalizer: clean_text (drop NUL, U+FFFD and control/format characters, whitespace -> ' '),
 *    handle_chinese_chars (spaces around CJK ideographs, by code point), strip_accents (NFD, drop Mn; defaults to
 *    `lowercase`), lowercase;
 *  - BertPreTokenizer: split on whitespace, every punctuation character is its own word;
 *  - WordPiece: greedy longest-match-first with the `##` continuation prefix; a word with no full cover, or longer
 *    than max_input_chars_per_word, becomes [UNK];
 *  - post-processor: [CLS] $A [SEP] (TemplateProcessing or BertProcessing); truncation keeps room for both.
 */
import { readFileSync, statSync } from 'node:fs'
import { ModelFormatError } from '../errors.js'

export const MAX_TOKENIZER_BYTES = 64 * 1024 * 1024
/** Longest input text accepted (characters), checked before any work. */
export const MAX_TEXT_CHARS = 1 << 20

interface Json {
  model?: { type?: string; vocab?: Record<string, number>; unk_token?: string; continuing_subword_prefix?: string; max_input_chars_per_word?: number }
  normalizer?: { type?: string; clean_text?: boolean; handle_chinese_chars?: boolean; strip_accents?: boolean | null; lowercase?: boolean } | null
  pre_tokenizer?: { type?: string } | null
  post_processor?: { type?: string; cls?: [string, number]; sep?: [string, number]; single?: unknown[]; special_tokens?: Record<string, { ids?: number[] }> } | null
  added_tokens?: { id: number; content: string; special?: boolean }[]
}

const bad = (m: string): never => { throw new ModelFormatError('bad_tokenizer', `tokenizer.json: ${m}`) }
const unsupported = (m: string): never => { throw new ModelFormatError('unsupported_tokenizer', `tokenizer.json: ${m}`) }

function isChinese(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df)
    || (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b920 && cp <= 0x2ceaf)
    || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f)
}
const CONTROL = /\p{C}/u
const SPACE = /\p{White_Space}/u
/** Rust: char::is_ascii_punctuation || Unicode general category P*. */
const PUNCT = /[\p{P}!-/:-@[-`{-~]/u

export interface WordPieceInit { maxLength?: number }

export class WordPieceTokenizer {
  readonly vocab: Map<string, number>
  readonly unkId: number
  readonly clsId: number
  readonly sepId: number
  readonly padId: number
  readonly vocabSize: number
  /** Most ids per sequence, [CLS] and [SEP] included. */
  maxLength: number
  readonly #prefix: string
  readonly #maxWordChars: number
  readonly #norm: { clean: boolean; chinese: boolean; strip: boolean; lower: boolean }
  readonly #added: Map<string, number>
  readonly #addedRe: RegExp | null

  constructor(json: Json, init: WordPieceInit = {}) {
    const m = json.model
    if (!m || m.type !== 'WordPiece') unsupported(`model type ${JSON.stringify(m?.type)} is not WordPiece`)
    if (!m!.vocab || typeof m!.vocab !== 'object') bad('model.vocab missing')
    this.vocab = new Map(Object.entries(m!.vocab!))
    for (const [t, id] of this.vocab) if (!Number.isSafeInteger(id) || id < 0 || id >= 1 << 24) bad(`bad id for token ${JSON.stringify(t)}`)
    this.#added = new Map()
    for (const a of json.added_tokens ?? []) {
      if (typeof a?.content !== 'string' || !Number.isSafeInteger(a.id)) bad('bad added token')
      this.#added.set(a.content, a.id)
    }
    const all = [...this.vocab.values(), ...this.#added.values()]
    this.vocabSize = all.reduce((x, y) => Math.max(x, y), -1) + 1
    const id = (tok: string | undefined, what: string): number => {
      const v = tok === undefined ? undefined : this.#added.get(tok) ?? this.vocab.get(tok)
      if (v === undefined) bad(`${what} token ${JSON.stringify(tok)} is not in the vocabulary`)
      return v!
    }
    this.unkId = id(m!.unk_token ?? '[UNK]', 'unk')
    this.#prefix = m!.continuing_subword_prefix ?? '##'
    this.#maxWordChars = m!.max_input_chars_per_word ?? 100
    const n = json.normalizer
    if (n && n.type !== 'BertNormalizer') unsupported(`normalizer ${JSON.stringify(n.type)} is not supported (BertNormalizer)`)
    const lower = n ? n.lowercase !== false : false
    this.#norm = { clean: n ? n.clean_text !== false : false, chinese: n ? n.handle_chinese_chars !== false : false, lower, strip: n ? (n.strip_accents ?? lower) === true : false }
    const p = json.pre_tokenizer
    if (p && p.type !== 'BertPreTokenizer') unsupported(`pre_tokenizer ${JSON.stringify(p.type)} is not supported (BertPreTokenizer)`)
    const pp = json.post_processor
    if (pp?.type === 'BertProcessing') {
      this.clsId = id(pp.cls?.[0], 'cls'); this.sepId = id(pp.sep?.[0], 'sep')
    } else if (pp?.type === 'TemplateProcessing') {
      const names = (pp.single ?? []).map((s) => (s as { SpecialToken?: { id: string }; Sequence?: unknown }).SpecialToken?.id ?? ((s as { Sequence?: unknown }).Sequence ? '$A' : '?'))
      if (names.length !== 3 || names[1] !== '$A') unsupported(`post_processor template ${JSON.stringify(names)} is not [CLS] $A [SEP]`)
      const tid = (name: string): number => pp.special_tokens?.[name]?.ids?.[0] ?? id(name, 'template')
      this.clsId = tid(names[0]!); this.sepId = tid(names[2]!)
    } else if (!pp) {
      this.clsId = id('[CLS]', 'cls'); this.sepId = id('[SEP]', 'sep')
    } else {
      this.clsId = this.sepId = unsupported(`post_processor ${JSON.stringify(pp.type)} is not supported`)
    }
    this.padId = this.#added.get('[PAD]') ?? this.vocab.get('[PAD]') ?? 0
    this.maxLength = init.maxLength ?? 512
    if (!(Number.isSafeInteger(this.maxLength) && this.maxLength >= 2)) bad('maxLength must be at least 2')
    const toks = [...this.#added.keys()].filter((s) => s.length).sort((a, b) => b.length - a.length)
    this.#addedRe = toks.length ? new RegExp(toks.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'gu') : null
  }

  static fromFile(path: string, init?: WordPieceInit): WordPieceTokenizer {
    if (statSync(path).size > MAX_TOKENIZER_BYTES) throw new ModelFormatError('bad_tokenizer', `${path} exceeds ${MAX_TOKENIZER_BYTES} bytes`)
    let json: Json
    try { json = JSON.parse(readFileSync(path, 'utf8')) as Json } catch (e) { throw new ModelFormatError('bad_tokenizer', `${path}: invalid JSON`, { cause: e }) }
    return new WordPieceTokenizer(json, init)
  }

  normalize(s: string): string {
    const o = this.#norm
    let out = ''
    for (const ch of s) {
      const cp = ch.codePointAt(0)!
      if (o.clean) {
        if (cp === 0 || cp === 0xfffd || (ch !== '\t' && ch !== '\n' && ch !== '\r' && CONTROL.test(ch))) continue
        if (SPACE.test(ch)) { out += ' '; continue }
      }
      out += o.chinese && isChinese(cp) ? ` ${ch} ` : ch
    }
    if (o.strip) out = out.normalize('NFD').replace(/\p{Mn}/gu, '')
    if (o.lower) out = out.toLowerCase()
    return out
  }

  /** Whitespace-separated words with every punctuation character split off. */
  preTokenize(s: string): string[] {
    const words: string[] = []
    let cur = ''
    for (const ch of s) {
      if (SPACE.test(ch)) { if (cur) { words.push(cur); cur = '' } } else if (PUNCT.test(ch)) {
        if (cur) { words.push(cur); cur = '' }
        words.push(ch)
      } else cur += ch
    }
    if (cur) words.push(cur)
    return words
  }

  #word(w: string, out: number[]): void {
    const chars = Array.from(w)
    if (chars.length > this.#maxWordChars) { out.push(this.unkId); return }
    const ids: number[] = []
    let start = 0
    while (start < chars.length) {
      let end = chars.length, found: number | undefined
      while (start < end) {
        const sub = (start > 0 ? this.#prefix : '') + chars.slice(start, end).join('')
        found = this.vocab.get(sub)
        if (found !== undefined) break
        end--
      }
      if (found === undefined) { out.push(this.unkId); return }
      ids.push(found)
      start = end
    }
    for (const i of ids) out.push(i)
  }

  /** Ids of `text` without [CLS]/[SEP], stopping once `limit` ids are produced. */
  encodeRaw(text: string, limit = Infinity): number[] {
    if (typeof text !== 'string') throw new ModelFormatError('bad_input', 'text must be a string')
    if (text.length > MAX_TEXT_CHARS) throw new ModelFormatError('bad_input', `text of ${text.length} characters exceeds ${MAX_TEXT_CHARS}`)
    const out: number[] = []
    const section = (s: string): void => {
      for (const w of this.preTokenize(this.normalize(s))) { if (out.length >= limit) return; this.#word(w, out) }
    }
    if (this.#addedRe) {
      let last = 0
      for (const m of text.matchAll(this.#addedRe)) {
        section(text.slice(last, m.index))
        if (out.length < limit) out.push(this.#added.get(m[0])!)
        last = m.index! + m[0].length
      }
      section(text.slice(last))
    } else section(text)
    return out.length > limit ? out.slice(0, limit) : out
  }

  /** [CLS] ids [SEP], truncated to maxLength (the longest-first strategy on a single sequence cuts the end). */
  encode(text: string): number[] {
    const body = this.encodeRaw(text, this.maxLength - 2)
    return [this.clsId, ...body, this.sepId]
  }
}
