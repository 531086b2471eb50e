/**
 * The stages of a Hugging Face tokenizer.json around the BPE model: normalizer, pre-tokenizer, post-processor and the
 * decoder's leading-space rule. Each is parsed from its JSON once into a plain function, following the semantics of the
 * Rust `tokenizers` library (what `AutoTokenizer` runs). A type or option we do not implement is refused with
 * ModelFormatError('unsupported_tokenizer'), never skipped: a skipped stage silently changes every token id.
 */
import { ModelFormatError } from './errors.js'

/** One piece of text on its way to the BPE model. `atStart`: it begins at offset 0 of the caller's text. */
export interface Piece { text: string; atStart: boolean }

export type Normalizer = (s: string) => string
export type PreTokenizer = (pieces: Piece[]) => Piece[]
/** Wraps the ids of one sequence with the template's special tokens. */
export type PostProcessor = (ids: number[]) => number[]

type Json = Record<string, unknown>

/** Longest Split regex accepted from tokenizer.json. */
const MAX_SPLIT_REGEX = 4096
/** Longest literal in Replace / Split / Prepend / Metaspace options. */
const MAX_LITERAL = 256
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu

const unsupported = (what: string): never => { throw new ModelFormatError('unsupported_tokenizer', `tokenizer.json: ${what} is not supported`) }
const bad = (what: string): never => { throw new ModelFormatError('bad_tokenizer', `tokenizer.json: ${what}`) }

function obj(v: unknown, where: string): Json {
  if (!v || typeof v !== 'object' || Array.isArray(v)) bad(`${where} must be an object`)
  return v as Json
}

function literal(v: unknown, where: string): string {
  if (typeof v !== 'string' || v.length > MAX_LITERAL) bad(`${where} must be a string of at most ${MAX_LITERAL} characters`)
  return v as string
}

function list(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v) || v.length > 64) bad(`${where} must be a list of at most 64 entries`)
  return v as unknown[]
}

/** Translates a Hugging Face (Oniguruma/Rust) split regex to JavaScript: `(?i:...)` groups become letter classes. */
export function splitRegexFromHf(pattern: string): RegExp {
  if (pattern.length > MAX_SPLIT_REGEX) throw new ModelFormatError('bad_tokenizer', 'split regex too long')
  const js = pattern.replace(/\(\?i:([^()]*)\)/g, (_m, body: string) => {
    if (/[\\[]/.test(body)) throw new ModelFormatError('unsupported_tokenizer', 'case-insensitive group with escapes or classes is not supported')
    return `(?:${body.replace(/[a-zA-Z]/g, (ch) => `[${ch.toLowerCase()}${ch.toUpperCase()}]`)})`
  })
  try { return new RegExp(js, 'gu') } catch (e) { throw new ModelFormatError('unsupported_tokenizer', 'split regex not supported', { cause: e }) }
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** A `{String}` or `{Regex}` pattern object as a global regex. */
function pattern(v: unknown, where: string): RegExp {
  const p = obj(v, where)
  if (typeof p.String === 'string') return new RegExp(escapeRe(literal(p.String, `${where}.String`)), 'gu')
  if (typeof p.Regex === 'string') return splitRegexFromHf(p.Regex)
  return bad(`${where} needs String or Regex`)
}

/** Split with the "Isolated" behaviour: every match is a piece, and so is every gap between matches. */
export function splitIsolated(text: string, re: RegExp): string[] {
  const out: string[] = []
  let last = 0
  for (const m of text.matchAll(re)) {
    if (m[0].length === 0) continue
    if (m.index > last) out.push(text.slice(last, m.index))
    out.push(m[0])
    last = m.index + m[0].length
  }
  if (last < text.length) out.push(text.slice(last))
  return out
}

/** Splits keeping each delimiter at the start of the piece after it ("MergedWithNext"). */
function splitMergedWithNext(text: string, delim: string): string[] {
  const out: string[] = []
  let start = 0
  for (let i = text.indexOf(delim, 1); i >= 0; i = text.indexOf(delim, i + delim.length)) {
    if (i > start) { out.push(text.slice(start, i)); start = i }
  }
  out.push(text.slice(start))
  return out.filter((s) => s.length > 0)
}

/** Splits every piece with `f`; only the first sub-piece of a piece at offset 0 is still at offset 0. */
const splitEach = (pieces: Piece[], f: (s: string) => string[]): Piece[] =>
  pieces.flatMap((p) => f(p.text).map((text, i) => ({ text, atStart: p.atStart && i === 0 })))

export function parseNormalizer(v: unknown): Normalizer | null {
  if (v === null || v === undefined) return null
  const n = obj(v, 'normalizer')
  switch (n.type) {
    case 'Sequence': {
      const fs = list(n.normalizers, 'normalizer.normalizers').map(parseNormalizer).filter((f): f is Normalizer => f !== null)
      return (s) => fs.reduce((acc, f) => f(acc), s)
    }
    case 'Prepend': {
      const pre = literal(n.prepend, 'Prepend.prepend')
      return (s) => (s.length ? pre + s : s)
    }
    case 'Replace': {
      const re = pattern(n.pattern, 'Replace.pattern')
      const content = literal(n.content, 'Replace.content')
      return (s) => s.replace(re, () => content)
    }
    case 'NFC': case 'NFD': case 'NFKC': case 'NFKD': {
      const form = n.type
      return (s) => s.normalize(form)
    }
    default: return unsupported(`normalizer ${JSON.stringify(n.type)}`)
  }
}

/** What the pre-tokenizer tells the rest of the tokenizer. */
export interface PreTokenizerInfo {
  run: PreTokenizer | null
  /** A ByteLevel stage maps bytes to printable code points (token strings are byte-level). */
  byteLevel: boolean
  /** The Metaspace replacement character, when there is a Metaspace stage. */
  metaspace?: string
}

export function parsePreTokenizer(v: unknown, b2u: string[]): PreTokenizerInfo {
  if (v === null || v === undefined) return { run: null, byteLevel: false }
  const p = obj(v, 'pre_tokenizer')
  switch (p.type) {
    case 'Sequence': {
      const stages = list(p.pretokenizers, 'pre_tokenizer.pretokenizers').map((x) => parsePreTokenizer(x, b2u))
      const runs = stages.map((s) => s.run).filter((r): r is PreTokenizer => r !== null)
      return {
        run: (pieces) => runs.reduce((acc, r) => r(acc), pieces),
        byteLevel: stages.some((s) => s.byteLevel),
        metaspace: stages.find((s) => s.metaspace !== undefined)?.metaspace,
      }
    }
    case 'ByteLevel': {
      // Rust applies the prefix space to every piece (so also to text after a special token), then the GPT-2 regex.
      const prefix = p.add_prefix_space === true
      const useRegex = p.use_regex !== false
      const toUnicode = (s: string): string => { let m = ''; for (const b of Buffer.from(s, 'utf8')) m += b2u[b]; return m }
      return {
        byteLevel: true,
        run: (pieces) => splitEach(pieces, (s) => {
          const t = prefix && !s.startsWith(' ') ? ` ${s}` : s
          return (useRegex ? splitIsolated(t, GPT2_SPLIT) : [t]).map(toUnicode)
        }),
      }
    }
    case 'Metaspace': {
      const rep = literal(p.replacement ?? '\u2581', 'Metaspace.replacement')
      if (Array.from(rep).length !== 1) bad('Metaspace.replacement must be one character')
      // tokenizers < 0.19 wrote add_prefix_space (true = always); newer files write prepend_scheme
      const scheme = p.prepend_scheme ?? (p.add_prefix_space === false ? 'never' : 'always')
      if (scheme !== 'always' && scheme !== 'first' && scheme !== 'never') unsupported(`Metaspace.prepend_scheme ${JSON.stringify(scheme)}`)
      const split = p.split !== false
      return {
        byteLevel: false, metaspace: rep,
        run: (pieces) => pieces.flatMap((pc) => {
          let t = pc.text.replaceAll(' ', rep)
          if (!t.startsWith(rep) && (scheme === 'always' || (scheme === 'first' && pc.atStart))) t = rep + t
          return (split ? splitMergedWithNext(t, rep) : [t]).map((text, i) => ({ text, atStart: pc.atStart && i === 0 }))
        }),
      }
    }
    case 'Split': {
      if (p.invert === true) unsupported('Split with invert: true')
      if (p.behavior !== undefined && p.behavior !== 'Isolated') unsupported(`Split behavior ${JSON.stringify(p.behavior)}`)
      const re = pattern(p.pattern, 'Split.pattern')
      return { byteLevel: false, run: (pieces) => splitEach(pieces, (s) => splitIsolated(s, re)) }
    }
    case 'Digits': {
      const re = p.individual_digits === true ? /\p{N}/gu : /\p{N}+/gu
      return { byteLevel: false, run: (pieces) => splitEach(pieces, (s) => splitIsolated(s, re)) }
    }
    default: return unsupported(`pre_tokenizer ${JSON.stringify(p.type)}`)
  }
}

/**
 * The post-processor as ids around one sequence. `ByteLevel` only moves offsets; `TemplateProcessing` (Llama/Mistral:
 * `<s> $A`) adds its special tokens, using the ids its `special_tokens` table lists.
 */
export function parsePostProcessor(v: unknown, validId: (id: number) => boolean): PostProcessor | null {
  if (v === null || v === undefined) return null
  const p = obj(v, 'post_processor')
  switch (p.type) {
    case 'ByteLevel': return null
    case 'Sequence': {
      const fs = list(p.processors, 'post_processor.processors').map((x) => parsePostProcessor(x, validId)).filter((f): f is PostProcessor => f !== null)
      return (ids) => fs.reduce((acc, f) => f(acc), ids)
    }
    case 'TemplateProcessing': {
      const table = obj(p.special_tokens ?? {}, 'TemplateProcessing.special_tokens')
      const parts: (number[] | 'A')[] = []
      for (const item of list(p.single, 'TemplateProcessing.single')) {
        const it = obj(item, 'TemplateProcessing.single[]')
        if (it.Sequence !== undefined) {
          const id = obj(it.Sequence, 'TemplateProcessing Sequence').id
          if (id !== 'A') bad(`TemplateProcessing.single refers to sequence ${JSON.stringify(id)}`)
          parts.push('A')
        } else if (it.SpecialToken !== undefined) {
          const name = literal(obj(it.SpecialToken, 'TemplateProcessing SpecialToken').id, 'SpecialToken.id')
          const entry = Object.hasOwn(table, name) ? obj(table[name], `special_tokens.${name}`) : bad(`TemplateProcessing special token ${JSON.stringify(name)} is not in special_tokens`)
          const ids = list(entry.ids, `special_tokens.${name}.ids`)
          if (!ids.every((x) => typeof x === 'number' && validId(x))) bad(`special_tokens.${name}.ids must be token ids of this vocabulary`)
          parts.push(ids as number[])
        } else bad('TemplateProcessing.single entries are Sequence or SpecialToken')
      }
      if (parts.filter((x) => x === 'A').length !== 1) bad('TemplateProcessing.single must contain sequence A once')
      return (ids) => parts.flatMap((x) => (x === 'A' ? ids : x))
    }
    default: return unsupported(`post_processor ${JSON.stringify(p.type)}`)
  }
}

/** What the decoder does that byte-wise decoding has to copy. */
export interface DecoderInfo {
  /** Leading spaces removed from the start of the text (SentencePiece's prepended "▁"). */
  leadingStrip: number
  /** `<0xXX>` tokens become their byte (a ByteFallback stage); without one HF prints them literally. */
  byteFallback: boolean
}

/** The decoder's rules, or undefined when tokenizer.json has no decoder (the caller infers them from the encoder). */
export function parseDecoder(v: unknown): DecoderInfo | undefined {
  if (v === null || v === undefined) return undefined
  const d = obj(v, 'decoder')
  switch (d.type) {
    case 'ByteLevel': case 'Fuse': return { leadingStrip: 0, byteFallback: false }
    case 'ByteFallback': return { leadingStrip: 0, byteFallback: true }
    case 'Replace': {
      // only the SentencePiece one ("▁" -> " "), which byte-wise decoding already does
      if (obj(d.pattern, 'Replace.pattern').String !== '\u2581' || d.content !== ' ') unsupported('Replace decoder other than "\u2581" -> " "')
      return { leadingStrip: 0, byteFallback: false }
    }
    case 'Metaspace': {
      const scheme = d.prepend_scheme ?? (d.add_prefix_space === false ? 'never' : 'always')
      return { leadingStrip: scheme === 'never' ? 0 : 1, byteFallback: false }
    }
    case 'Strip': {
      if (d.content !== ' ' || (d.stop ?? 0) !== 0) unsupported('Strip decoder other than leading spaces')
      const n = d.start ?? 0
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > 16) bad('Strip.start must be a small integer')
      return { leadingStrip: n as number, byteFallback: false }
    }
    case 'Sequence': {
      const parts = list(d.decoders, 'decoder.decoders').map(parseDecoder).filter((x): x is DecoderInfo => x !== undefined)
      return { leadingStrip: parts.reduce((a, x) => a + x.leadingStrip, 0), byteFallback: parts.some((x) => x.byteFallback) }
    }
    default: return unsupported(`decoder ${JSON.stringify(d.type)}`)
  }
}
