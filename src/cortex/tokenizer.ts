/**
 * BPE tokenizer loaded from a Hugging Face tokenizer.json, with the semantics of the Rust `tokenizers` library that
 * `AutoTokenizer` runs. Covers the GPT-2 and Llama families:
 *  - byte-level BPE (GPT-2, Llama 3): ByteLevel pre-tokenizer, bytes mapped to printable code points, GPT-2 or Split regex;
 *  - SentencePiece-style BPE (Llama 1/2, Mistral): spaces become U+2581 ("▁", via a Metaspace pre-tokenizer or a
 *    Prepend/Replace normalizer), characters outside the vocabulary fall back to `<0xXX>` byte tokens or `<unk>`.
 * Encoding: added tokens are cut out of the raw text first; every remaining section is normalized, pre-tokenized and
 * BPE-encoded on its own (so text after a special token is handled like HF); the post-processor (e.g. Llama's
 * `<s> $A` template) wraps the result. The pipeline stages live in tokenizer-pipeline.ts.
 */
import { readFileSync, statSync } from 'node:fs'
import { BpeMerger, MAX_TOKEN_ID } from './bpe.js'
import { ModelFormatError } from './errors.js'
import {
  parseDecoder, parseNormalizer, parsePostProcessor, parsePreTokenizer,
  type Normalizer, type Piece, type PostProcessor, type PreTokenizer,
} from './tokenizer-pipeline.js'

export { splitRegexFromHf } from './tokenizer-pipeline.js'

/** Largest tokenizer.json accepted. */
export const MAX_TOKENIZER_BYTES = 64 * 1024 * 1024
const SPM_SPACE = '\u2581'
/** The per-word cache holds short words only: a hostile prompt of huge distinct words must not fill memory. */
const MAX_CACHED_WORDS = 65536
const MAX_CACHED_WORD = 256

/** GPT-2's reversible byte <-> printable code point table. */
export function bytesToUnicode(): string[] {
  const bs: number[] = []
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b)
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b)
  for (let b = 0xae; b <= 0xff; b++) bs.push(b)
  const table: string[] = new Array(256)
  for (const b of bs) table[b] = String.fromCodePoint(b)
  let n = 0
  for (let b = 0; b < 256; b++) if (table[b] === undefined) table[b] = String.fromCodePoint(256 + n++)
  return table
}

interface AddedTokenJson { id: number; content: string; special?: boolean; normalized?: boolean; lstrip?: boolean; rstrip?: boolean; single_word?: boolean }

interface TokenizerJson {
  model?: {
    type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[]; byte_fallback?: boolean
    unk_token?: string | null; fuse_unk?: boolean; ignore_merges?: boolean; dropout?: number | null
    continuing_subword_prefix?: string | null; end_of_word_suffix?: string | null
  }
  added_tokens?: AddedTokenJson[]
  normalizer?: unknown
  pre_tokenizer?: unknown
  post_processor?: unknown
  decoder?: unknown
}

interface Added { id: number; lstrip: boolean; rstrip: boolean }

/** Matches any of `tokens` (longest first at a position, like the leftmost-longest automaton HF uses). */
function alternation(tokens: string[]): RegExp | null {
  const ts = tokens.filter((s) => s.length > 0).sort((a, b) => b.length - a.length)
  return ts.length ? new RegExp(`(${ts.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'u') : null
}

export interface EncodeOptions {
  /** Apply the post-processor (BOS for SentencePiece/Llama models), as HF's `tokenizer(text)` does. @default true */
  addSpecialTokens?: boolean
}

export class Tokenizer {
  readonly vocab: Map<string, number>
  readonly idToToken: string[]
  /** How token strings map to bytes when decoding. */
  readonly mode: 'bytelevel' | 'spm'
  /** Every added token (special or not), matched verbatim before BPE. */
  readonly special: Map<string, number>
  readonly bosId: number | undefined
  readonly eosId: number | undefined
  readonly #merger: BpeMerger
  readonly #byteFallback: boolean
  readonly #unkId: number | undefined
  readonly #fuseUnk: boolean
  readonly #ignoreMerges: boolean
  readonly #space: string
  readonly #leadingStrip: number
  readonly #decodeBytes: boolean
  readonly #u2b = new Map<string, number>()
  readonly #cache = new Map<string, number[]>()
  readonly #raw: RegExp | null
  readonly #normalized: RegExp | null
  readonly #rawAdded = new Map<string, Added>()
  readonly #normAdded = new Map<string, Added>()
  readonly #normalizer: Normalizer | null
  readonly #preTokenizer: PreTokenizer | null
  readonly #postProcessor: PostProcessor | null

  constructor(json: TokenizerJson) {
    const m = json.model
    if (!m || (m.type !== undefined && m.type !== 'BPE') || !m.vocab || typeof m.vocab !== 'object') {
      throw new ModelFormatError('unsupported_tokenizer', `tokenizer model type ${m?.type ?? 'missing'} is not supported (BPE only)`)
    }
    if (m.dropout !== undefined && m.dropout !== null && m.dropout !== 0) throw new ModelFormatError('unsupported_tokenizer', 'tokenizer.json: BPE dropout is not supported')
    if (m.continuing_subword_prefix || m.end_of_word_suffix) throw new ModelFormatError('unsupported_tokenizer', 'tokenizer.json: BPE continuing_subword_prefix / end_of_word_suffix are not supported')
    this.vocab = new Map(Object.entries(m.vocab))
    this.idToToken = []
    for (const [t, id] of this.vocab) {
      if (!Number.isSafeInteger(id) || id < 0 || id >= MAX_TOKEN_ID) throw new ModelFormatError('bad_tokenizer', `bad token id for ${t}`)
      this.idToToken[id] = t
    }
    this.special = new Map()
    this.#normalizer = parseNormalizer(json.normalizer)
    for (const a of json.added_tokens ?? []) {
      if (!a || typeof a.content !== 'string' || !Number.isSafeInteger(a.id) || a.id < 0 || a.id >= MAX_TOKEN_ID) throw new ModelFormatError('bad_tokenizer', 'bad added token')
      if (a.single_word === true) throw new ModelFormatError('unsupported_tokenizer', `tokenizer.json: added token ${JSON.stringify(a.content)} with single_word is not supported`)
      this.special.set(a.content, a.id)
      this.idToToken[a.id] = a.content
      const entry = { id: a.id, lstrip: a.lstrip === true, rstrip: a.rstrip === true }
      // HF matches `normalized` tokens (the default for non-special ones) in the normalized text, others in the raw text
      const normalized = a.normalized ?? a.special !== true
      if (normalized && this.#normalizer) this.#normAdded.set(this.#normalizer(a.content), entry)
      else this.#rawAdded.set(a.content, entry)
    }
    const merges = (Array.isArray(m.merges) ? m.merges : []).map((mg, i): [string, string] => {
      const pair = typeof mg === 'string' ? mg.split(' ') : mg
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') throw new ModelFormatError('bad_tokenizer', `bad merge #${i}`)
      return [pair[0], pair[1]]
    })
    this.#merger = new BpeMerger(this.vocab, merges)
    const b2u = bytesToUnicode()
    b2u.forEach((u, b) => this.#u2b.set(u, b))
    const pre = parsePreTokenizer(json.pre_tokenizer, b2u)
    this.#preTokenizer = pre.run
    const decoderIsByteLevel = JSON.stringify(json.decoder ?? null).includes('"type":"ByteLevel"')
    this.mode = pre.byteLevel || decoderIsByteLevel ? 'bytelevel' : 'spm'
    this.#space = pre.metaspace ?? SPM_SPACE
    this.#postProcessor = parsePostProcessor(json.post_processor, (id) => this.idToToken[id] !== undefined)
    // without a decoder section, a SentencePiece tokenizer that prepends "▁" strips one leading space on decode
    const probe = this.#normalizer ? this.#normalizer('x') : 'x'
    const prepends = (this.#preTokenizer ? this.#preTokenizer([{ text: probe, atStart: true }]).map((p) => p.text).join('') : probe).startsWith(this.#space)
    const decoder = parseDecoder(json.decoder)
    this.#leadingStrip = decoder?.leadingStrip ?? (this.mode === 'spm' && prepends ? 1 : 0)
    this.#byteFallback = m.byte_fallback === true
    this.#decodeBytes = decoder?.byteFallback ?? this.#byteFallback
    this.#unkId = m.unk_token ? (this.special.get(m.unk_token) ?? this.vocab.get(m.unk_token)) : undefined
    this.#fuseUnk = m.fuse_unk === true
    this.#ignoreMerges = m.ignore_merges === true
    this.#raw = alternation([...this.#rawAdded.keys()])
    this.#normalized = alternation([...this.#normAdded.keys()])
    const template = this.#postProcessor?.([]) ?? []
    this.bosId = template[0] ?? this.special.get('<s>') ?? this.special.get('<|begin_of_text|>')
    this.eosId = this.special.get('</s>') ?? this.special.get('<|endoftext|>') ?? this.special.get('<|end_of_text|>')
  }

  static fromFile(path: string): Tokenizer {
    const size = statSync(path).size
    if (size > MAX_TOKENIZER_BYTES) throw new ModelFormatError('bad_tokenizer', `${path}: ${size} bytes exceeds ${MAX_TOKENIZER_BYTES}`)
    let json: TokenizerJson
    try { json = JSON.parse(readFileSync(path, 'utf8')) as TokenizerJson } catch (e) {
      throw new ModelFormatError('bad_tokenizer', `${path}: not valid JSON`, { cause: e })
    }
    return new Tokenizer(json)
  }

  get vocabSize(): number { return this.idToToken.length }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = []
    const sections = splitAdded(text, this.#raw, this.#rawAdded)
    sections.forEach((sec, i) => {
      if (typeof sec === 'number') { out.push(sec); return }
      const norm = this.#normalizer ? this.#normalizer(sec) : sec
      const subs = splitAdded(norm, this.#normalized, this.#normAdded)
      subs.forEach((sub, j) => {
        if (typeof sub === 'number') { out.push(sub); return }
        const piece: Piece = { text: sub, atStart: i === 0 && j === 0 }
        // push one by one: spreading a long word's ids into push() overflows the stack (a 1 MiB prompt did)
        for (const p of this.#preTokenizer ? this.#preTokenizer([piece]) : [piece]) if (p.text) for (const id of this.#bpe(p.text)) out.push(id)
      })
    })
    return opts.addSpecialTokens !== false && this.#postProcessor ? this.#postProcessor(out) : out
  }

  /** The bytes a token id stands for (added tokens: their UTF-8 text). */
  tokenBytes(id: number): Uint8Array {
    const t = this.idToToken[id]
    if (t === undefined) return new Uint8Array(0)
    if (this.special.has(t)) return Buffer.from(t, 'utf8')
    if (this.mode === 'bytelevel') {
      const bytes: number[] = []
      for (const ch of t) { const b = this.#u2b.get(ch); if (b !== undefined) bytes.push(b) }
      return Uint8Array.from(bytes)
    }
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t)
    if (m && this.#decodeBytes) return Uint8Array.of(parseInt(m[1]!, 16))
    return Buffer.from(t.replaceAll(this.#space, ' '), 'utf8')
  }

  decode(ids: number[]): string {
    const dec = this.streamDecoder()
    return ids.map((id) => dec.push(id)).join('') + dec.flush()
  }

  /** Incremental decoder for streaming: returns only complete UTF-8 text; strips SentencePiece's leading space. */
  streamDecoder(): { push(id: number): string; flush(): string } {
    const td = new TextDecoder('utf-8', { ignoreBOM: true }) // keep a leading U+FEFF: it is text the model produced, not a file's byte-order mark
    let strip = this.#leadingStrip
    return {
      push: (id) => {
        if (id === this.bosId) return ''
        let s = td.decode(this.tokenBytes(id), { stream: true })
        while (strip > 0 && s.length > 0) {
          if (s[0] !== ' ') { strip = 0; break }
          s = s.slice(1); strip--
        }
        return s
      },
      flush: () => td.decode(),
    }
  }

  #bpe(word: string): number[] {
    const cached = this.#cache.get(word)
    if (cached) return cached
    const whole = this.#ignoreMerges ? this.vocab.get(word) : undefined
    if (whole !== undefined) return [whole]
    const merged = this.#merger.merge(word)
    const ids: number[] = []
    let lastUnk = false
    for (const id of merged.ids) {
      if (id >= 0) { ids.push(id); lastUnk = false; continue }
      const s = merged.unknown[-id - 1]!
      if (this.#byteFallback) {
        const bytes = [...Buffer.from(s, 'utf8')].map((b) => this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`))
        // HF uses the byte tokens only when every one exists, else <unk>
        if (bytes.every((b) => b !== undefined)) { for (const b of bytes as number[]) ids.push(b); lastUnk = false; continue }
      }
      if (this.#unkId === undefined) throw new ModelFormatError('untokenizable', `symbol ${JSON.stringify(s)} is not in the vocabulary`)
      if (!(this.#fuseUnk && lastUnk)) ids.push(this.#unkId)
      lastUnk = true
    }
    if (this.#cache.size < MAX_CACHED_WORDS && word.length <= MAX_CACHED_WORD) this.#cache.set(word, ids)
    return ids
  }
}

/** Cuts added tokens out of `text`: strings are text sections, numbers the added tokens' ids (lstrip/rstrip applied). */
function splitAdded(text: string, re: RegExp | null, table: Map<string, Added>): (string | number)[] {
  if (!re) return text ? [text] : []
  const parts: (string | Added)[] = text.split(re).map((p, i) => (i % 2 === 1 ? table.get(p)! : p))
  for (let i = 1; i < parts.length; i += 2) {
    const a = parts[i] as Added
    if (a.lstrip) parts[i - 1] = (parts[i - 1] as string).trimEnd()
    if (a.rstrip && i + 1 < parts.length) parts[i + 1] = (parts[i + 1] as string).trimStart()
  }
  return parts.filter((p) => p !== '').map((p) => (typeof p === 'string' ? p : p.id))
}
