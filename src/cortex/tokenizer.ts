/**
 * BPE tokenizer loaded from a Hugging Face tokenizer.json. Supports the two layouts the GPT-2 and Llama families use:
 *  - byte-level BPE (GPT-2, Llama 3): ByteLevel pre-tokenizer, bytes mapped to printable code points, GPT-2 split regex;
 *  - SentencePiece-style BPE (Llama 1/2): spaces become U+2581 ("▁", via a Metaspace pre-tokenizer or a
 *    Prepend/Replace normalizer), characters outside the vocabulary fall back to `<0xXX>` byte tokens.
 * Added (special) tokens are matched verbatim before BPE. Merges apply lowest rank first.
 */
import { readFileSync, statSync } from 'node:fs'
import { ModelFormatError } from './errors.js'

/** Largest tokenizer.json accepted. */
export const MAX_TOKENIZER_BYTES = 64 * 1024 * 1024
const SPM_SPACE = '\u2581'
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu

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

interface PreTok { type?: string; add_prefix_space?: boolean; pattern?: { Regex?: string; String?: string } }

/** Longest Split regex accepted from tokenizer.json. */
const MAX_SPLIT_REGEX = 4096

/** Translates a Hugging Face (Oniguruma/Rust) split regex to JavaScript: `(?i:...)` groups become letter classes. */
export function splitRegexFromHf(pattern: string): RegExp {
  if (pattern.length > MAX_SPLIT_REGEX) throw new ModelFormatError('bad_tokenizer', 'split regex too long')
  const js = pattern.replace(/\(\?i:([^()]*)\)/g, (_m, body: string) => {
    if (/[\\[]/.test(body)) throw new ModelFormatError('unsupported_tokenizer', 'case-insensitive group with escapes or classes is not supported')
    return `(?:${body.replace(/[a-zA-Z]/g, (ch) => `[${ch.toLowerCase()}${ch.toUpperCase()}]`)})`
  })
  try { return new RegExp(js, 'gu') } catch (e) { throw new ModelFormatError('unsupported_tokenizer', 'split regex not supported', { cause: e }) }
}

interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[]; byte_fallback?: boolean; unk_token?: string | null }
  added_tokens?: { id: number; content: string; special?: boolean }[]
  pre_tokenizer?: { type?: string; pretokenizers?: PreTok[]; add_prefix_space?: boolean; prepend_scheme?: string; pattern?: { Regex?: string } } | null
  normalizer?: { type?: string; normalizers?: { type?: string; prepend?: string }[] } | null
}

export class Tokenizer {
  readonly vocab: Map<string, number>
  readonly idToToken: string[]
  readonly mode: 'bytelevel' | 'spm'
  readonly special: Map<string, number>
  readonly bosId: number | undefined
  readonly eosId: number | undefined
  readonly #ranks = new Map<string, number>()
  readonly #byteFallback: boolean
  readonly #unkId: number | undefined
  readonly #prependSpace: boolean
  readonly #bytePrefixSpace: boolean
  readonly #b2u = bytesToUnicode()
  readonly #u2b = new Map<string, number>()
  readonly #cache = new Map<string, number[]>()
  readonly #specialRe: RegExp | null
  readonly #splitRe: RegExp

  constructor(json: TokenizerJson) {
    const m = json.model
    if (!m || (m.type !== undefined && m.type !== 'BPE') || !m.vocab || typeof m.vocab !== 'object') {
      throw new ModelFormatError('unsupported_tokenizer', `tokenizer model type ${m?.type ?? 'missing'} is not supported (BPE only)`)
    }
    this.vocab = new Map(Object.entries(m.vocab))
    this.idToToken = []
    for (const [t, id] of this.vocab) {
      if (!Number.isSafeInteger(id) || id < 0 || id > 10_000_000) throw new ModelFormatError('bad_tokenizer', `bad token id for ${t}`)
      this.idToToken[id] = t
    }
    this.special = new Map()
    for (const a of json.added_tokens ?? []) {
      if (typeof a.content !== 'string' || !Number.isSafeInteger(a.id)) throw new ModelFormatError('bad_tokenizer', 'bad added token')
      this.special.set(a.content, a.id)
      this.idToToken[a.id] = a.content
    }
    ;(m.merges ?? []).forEach((mg, i) => {
      const pair = typeof mg === 'string' ? mg.split(' ') : mg
      if (!Array.isArray(pair) || pair.length !== 2) throw new ModelFormatError('bad_tokenizer', `bad merge #${i}`)
      const k = `${pair[0]} ${pair[1]}`
      if (!this.#ranks.has(k)) this.#ranks.set(k, i)
    })
    const pre = json.pre_tokenizer
    const preTypes = [pre?.type, ...(pre?.pretokenizers ?? []).map((p) => p.type)]
    const normTypes = [json.normalizer?.type, ...(json.normalizer?.normalizers ?? []).map((n) => n.type)]
    if (preTypes.includes('ByteLevel')) this.mode = 'bytelevel'
    else if (preTypes.includes('Metaspace') || normTypes.includes('Prepend') || normTypes.includes('Replace') || m.byte_fallback) this.mode = 'spm'
    else this.mode = 'bytelevel'
    this.#prependSpace = this.mode === 'spm' && (normTypes.includes('Prepend') || (pre?.type === 'Metaspace' && pre.prepend_scheme !== 'never'))
    const split = [pre, ...(pre?.pretokenizers ?? [])].find((p) => p?.type === 'Split' && typeof p.pattern?.Regex === 'string')
    this.#splitRe = split ? splitRegexFromHf(split.pattern!.Regex!) : GPT2_SPLIT
    this.#bytePrefixSpace = this.mode === 'bytelevel' && [pre, ...(pre?.pretokenizers ?? [])].some((p) => p?.type === 'ByteLevel' && p.add_prefix_space === true)
    this.#byteFallback = m.byte_fallback === true
    this.#unkId = m.unk_token ? this.vocab.get(m.unk_token) : undefined
    this.#b2u.forEach((u, b) => this.#u2b.set(u, b))
    const specials = [...this.special.keys()].filter((s) => s.length > 0).sort((a, b) => b.length - a.length)
    this.#specialRe = specials.length ? new RegExp(`(${specials.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`) : null
    this.bosId = this.special.get('<s>') ?? this.special.get('<|begin_of_text|>')
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

  encode(text: string): number[] {
    const out: number[] = []
    const parts = this.#specialRe ? text.split(this.#specialRe) : [text]
    let first = true
    for (const part of parts) {
      if (part === '') continue
      const sid = this.special.get(part)
      if (sid !== undefined) { out.push(sid); continue }
      if (this.mode === 'bytelevel') {
        const text = first && this.#bytePrefixSpace && !part.startsWith(' ') ? ` ${part}` : part
        for (const w of splitIsolated(text, this.#splitRe)) {
          let mapped = ''
          for (const b of Buffer.from(w, 'utf8')) mapped += this.#b2u[b]
          out.push(...this.#bpe(mapped))
        }
      } else {
        const norm = (first && this.#prependSpace ? SPM_SPACE : '') + part.replaceAll(' ', SPM_SPACE)
        out.push(...this.#bpe(norm))
      }
      first = false
    }
    return out
  }

  /** The bytes a token id stands for (special tokens: their UTF-8 text). */
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
    if (m) return Uint8Array.of(parseInt(m[1]!, 16))
    return Buffer.from(t.replaceAll(SPM_SPACE, ' '), 'utf8')
  }

  decode(ids: number[]): string {
    const dec = this.streamDecoder()
    return ids.map((id) => dec.push(id)).join('') + dec.flush()
  }

  /** Incremental decoder for streaming: returns only complete UTF-8 text; strips SentencePiece's leading space. */
  streamDecoder(): { push(id: number): string; flush(): string } {
    const td = new TextDecoder('utf-8', { ignoreBOM: true }) // keep a leading U+FEFF: it is text the model produced, not a file's byte-order mark
    let started = false
    return {
      push: (id) => {
        if (id === this.bosId) return ''
        let s = td.decode(this.tokenBytes(id), { stream: true })
        if (!started && s.length > 0) {
          started = true
          if (this.mode === 'spm' && this.#prependSpace && s.startsWith(' ')) s = s.slice(1)
        }
        return s
      },
      flush: () => td.decode(),
    }
  }

  #bpe(word: string): number[] {
    const cached = this.#cache.get(word)
    if (cached) return cached
    let syms = Array.from(word)
    while (syms.length > 1) {
      let best = -1
      let bestRank = Infinity
      for (let i = 0; i < syms.length - 1; i++) {
        const r = this.#ranks.get(`${syms[i]} ${syms[i + 1]}`)
        if (r !== undefined && r < bestRank) { bestRank = r; best = i }
      }
      if (best < 0) break
      const a = syms[best]!, b = syms[best + 1]!
      const next: string[] = []
      for (let i = 0; i < syms.length; i++) {
        if (i < syms.length - 1 && syms[i] === a && syms[i + 1] === b) { next.push(a + b); i++ } else next.push(syms[i]!)
      }
      syms = next
    }
    const ids: number[] = []
    for (const s of syms) {
      const id = this.vocab.get(s)
      if (id !== undefined) { ids.push(id); continue }
      if (this.#byteFallback) {
        for (const b of Buffer.from(s, 'utf8')) {
          const bid = this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)
          if (bid === undefined) throw new ModelFormatError('bad_tokenizer', `byte-fallback token for 0x${b.toString(16)} missing`)
          ids.push(bid)
        }
      } else if (this.#unkId !== undefined) ids.push(this.#unkId)
      else throw new ModelFormatError('untokenizable', `symbol ${JSON.stringify(s)} is not in the vocabulary`)
    }
    if (this.#cache.size < 65536) this.#cache.set(word, ids)
    return ids
  }
}

/** Split with the "Isolated" behaviour: every match is a piece, and so is every gap between matches. */
function splitIsolated(text: string, re: RegExp): string[] {
  const out: string[] = []
  let last = 0
  for (const m of text.matchAll(re)) {
    if (m[0].length === 0) continue
    if (m.index! > last) out.push(text.slice(last, m.index))
    out.push(m[0])
    last = m.index! + m[0].length
  }
  if (last < text.length) out.push(text.slice(last))
  return out
}
