/**
 * Byte-pair merging of one word, as the Rust `tokenizers` BPE model does it: repeatedly merge the adjacent pair with
 * the lowest merge rank (leftmost first on a tie), one merge at a time, through a min-heap of candidate pairs, on
 * integer token ids. O(n log n) in the word length: a SentencePiece-style tokenizer (no pre-tokenizer split) hands
 * the whole prompt over as one word, and the rescan-per-merge loop this replaces was O(length x distinct merges)
 * (53 s for 64 Ki characters on a merge-rich vocabulary; `npm run bench -- cortex-tokenizer`).
 */
import { ModelFormatError } from './errors.js'

/** Token ids stay below this (so a pair packs into one safe integer). */
export const MAX_TOKEN_ID = 1 << 24

export class BpeMerger {
  /** (left id * MAX_TOKEN_ID + right id) -> rank * MAX_TOKEN_ID + merged id */
  readonly #table = new Map<number, number>()

  /** `merges` in rank order; like Rust, a merge whose parts or result are not in the vocabulary is refused. */
  constructor(readonly vocab: ReadonlyMap<string, number>, merges: readonly [string, string][]) {
    if (merges.length >= MAX_TOKEN_ID) throw new ModelFormatError('bad_tokenizer', 'too many merges')
    merges.forEach(([a, b], rank) => {
      const l = vocab.get(a), r = vocab.get(b), m = vocab.get(a + b)
      if (l === undefined || r === undefined || m === undefined) throw new ModelFormatError('bad_tokenizer', `tokenizer.json: merge #${rank} "${a} ${b}" uses a token outside the vocabulary`)
      const k = l * MAX_TOKEN_ID + r
      if (!this.#table.has(k)) this.#table.set(k, rank * MAX_TOKEN_ID + m)
    })
  }

  /**
   * Merges `word` (split into code points). Returns token ids; a character outside the vocabulary comes back as a
   * negative id -(i + 1) with its text in `unknown[i]` (it takes part in no merge), for the caller's fallback.
   */
  merge(word: string): { ids: number[]; unknown: string[] } {
    const unknown: string[] = []
    const sym: number[] = []
    for (const ch of word) {
      const id = this.vocab.get(ch)
      if (id !== undefined) sym.push(id)
      else { unknown.push(ch); sym.push(-unknown.length) }
    }
    const n = sym.length
    if (n < 2) return { ids: sym, unknown }
    const next = new Int32Array(n), prev = new Int32Array(n)
    for (let i = 0; i < n; i++) { next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1 }
    const alive = new Uint8Array(n).fill(1)
    // heap of candidate pairs keyed by rank * 2^24 + position of the left symbol (rank first, then leftmost)
    const heap: number[] = []
    const pairKey = (pos: number): number | undefined => {
      const l = sym[pos]!, r = sym[next[pos]!]!
      return l < 0 || r < 0 ? undefined : this.#table.get(l * MAX_TOKEN_ID + r)
    }
    const pushAt = (pos: number): void => {
      const v = pairKey(pos)
      if (v === undefined) return
      let i = heap.length
      heap.push(Math.floor(v / MAX_TOKEN_ID) * MAX_TOKEN_ID + pos)
      while (i > 0) {
        const p = (i - 1) >> 1
        if (heap[p]! <= heap[i]!) break
        const t = heap[p]!; heap[p] = heap[i]!; heap[i] = t; i = p
      }
    }
    const pop = (): number => {
      const top = heap[0]!
      const last = heap.pop()!
      if (heap.length) {
        heap[0] = last
        for (let i = 0; ;) {
          const l = 2 * i + 1, r = l + 1
          let m = i
          if (l < heap.length && heap[l]! < heap[m]!) m = l
          if (r < heap.length && heap[r]! < heap[m]!) m = r
          if (m === i) break
          const t = heap[m]!; heap[m] = heap[i]!; heap[i] = t; i = m
        }
      }
      return top
    }
    if (n >= MAX_TOKEN_ID) throw new ModelFormatError('oversize', 'word too long to merge')
    for (let i = 0; i + 1 < n; i++) pushAt(i)
    while (heap.length) {
      const top = pop()
      const pos = top % MAX_TOKEN_ID, rank = Math.floor(top / MAX_TOKEN_ID)
      const right = next[pos]!
      if (!alive[pos] || right < 0) continue
      // stale entry: the pair at pos changed since it was queued
      const v = pairKey(pos)
      if (v === undefined || Math.floor(v / MAX_TOKEN_ID) !== rank) continue
      sym[pos] = v % MAX_TOKEN_ID
      alive[right] = 0
      next[pos] = next[right]!
      if (next[pos]! >= 0) prev[next[pos]!] = pos
      if (prev[pos]! >= 0) pushAt(prev[pos]!)
      if (next[pos]! >= 0) pushAt(pos)
    }
    const ids: number[] = []
    for (let i = 0; i >= 0; i = next[i]!) ids.push(sym[i]!)
    return { ids, unknown }
  }
}
