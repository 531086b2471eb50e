/**
 * Tokenizer encode time on long single words (a SentencePiece-style tokenizer without a pre-tokenizer split hands the
 * whole prompt to BPE as one word), merge-rich vocabulary (4680 merges): heap-based merging (bpe.ts) against the
 * rescan-per-merge loop it replaced, which is O(length x distinct merges).
 * Usage: npm run bench -- cortex-tokenizer [--max CHARS]
 */
import { BpeMerger } from '../src/cortex/bpe.js'
import { Tokenizer } from '../src/cortex/tokenizer.js'
import { mergeRichText, mergeRichTokenizerJson } from '../src/cortex/testing/tiny-model.js'

const args = process.argv.slice(2)
const i = args.indexOf('--max')
const MAX = i >= 0 ? Number(args[i + 1]) : 1 << 20

/** The previous algorithm: find the lowest-rank pair by a full scan, merge all its occurrences, repeat. */
function rescanMerge(word: string, ranks: Map<string, number>): string[] {
  let syms = Array.from(word)
  while (syms.length > 1) {
    let best = -1, bestRank = Infinity
    for (let k = 0; k < syms.length - 1; k++) { const r = ranks.get(`${syms[k]} ${syms[k + 1]}`); if (r !== undefined && r < bestRank) { bestRank = r; best = k } }
    if (best < 0) break
    const a = syms[best]!, b = syms[best + 1]!
    const next: string[] = []
    for (let k = 0; k < syms.length; k++) if (k < syms.length - 1 && syms[k] === a && syms[k + 1] === b) { next.push(a + b); k++ } else next.push(syms[k]!)
    syms = next
  }
  return syms
}

const json = mergeRichTokenizerJson(3) as { model: { merges: string[] } }
const ranks = new Map(json.model.merges.map((m, r) => [m, r]))
const tok = new Tokenizer(json as never)
const merger = new BpeMerger(new Map(Object.entries((json as unknown as { model: { vocab: Record<string, number> } }).model.vocab)), json.model.merges.map((m) => m.split(' ') as [string, string]))
const idToToken = new Map([...merger.vocab].map(([t, id]) => [id, t]))
const rows: Record<string, unknown>[] = []
for (let n = 4096; n <= MAX; n *= 4) {
  // one word: letters only, the worst case for a tokenizer without a split
  const word = mergeRichText(n, 5).replaceAll(' ', 'a')
  let t0 = performance.now()
  const heap = merger.merge(word).ids.map((id) => idToToken.get(id)!)
  const heapMs = performance.now() - t0
  let rescanMs: number | null = null
  let same: boolean | null = null
  if (n <= 65536) {
    t0 = performance.now()
    const old = rescanMerge(word, ranks)
    rescanMs = performance.now() - t0
    // they may differ: with a shuffled rank order a new pair can outrank the one being merged everywhere (the heap
    // merges it at once, as Rust does; the oracle test checks that against transformers.js)
    same = old.join(' ') === heap.join(' ')
  }
  t0 = performance.now()
  const ids = tok.encode(word).length
  const encodeMs = performance.now() - t0
  rows.push({ chars: n, tokens: ids, heap_merge_ms: Math.round(heapMs), rescan_merge_ms: rescanMs === null ? 'skipped' : Math.round(rescanMs), same_result: same, encode_ms: Math.round(encodeMs) })
}
console.log(JSON.stringify({ bench: 'cortex-tokenizer', merges: ranks.size, rows }, null, 1))
