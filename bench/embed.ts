/**
 * Embeddings benchmark (issue 21), one run, JSON out:
 *  - throughput: sentences/s of the engine vs transformers.js (feature-extraction, mean + normalize) on the same
 *    all-MiniLM-L6-v2-shaped model (6 layers, 384 wide, 12 heads, 1536 FFN, ~30k vocabulary, seeded random weights),
 *    the same sentences, batch size and onnxruntime thread count; the max |difference| of their vectors is printed;
 *  - ANN: recall@10 of the usearch index behind the SQLite store vs exact brute force at 100k 384-d vectors
 *    (synthetic: a 1000-centre Gaussian mixture, queries drawn fresh from it), query latency p50 for both;
 *  - lazy reindex: 10k documents embedded by model v1; then the default switches to model v2 and the first query in
 *    the new space (query embedded by both models, old-space hits re-embedded and written back) is timed, p50 over
 *    fresh switches; the steady-state query p50 after a full migration is printed next to it.
 * Usage: npm run bench -- embed [--threads N] [--sentences N] [--vectors N] [--docs N] [--queries N] [--only throughput|ann|reindex]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Embedder } from '../src/cortex/embed/embedder.js'
import { writeTinyBert } from '../src/cortex/embed/tiny-bert.js'
import { AnnIndex, distance } from '../src/cortex/embed/ann.js'
import { VectorStore, type Space } from '../src/cortex/embed/vector-store.js'
import { SemanticIndex, type EmbedModel } from '../src/cortex/embed/semantic-index.js'
import { Prng } from '../src/cortex/sampling.js'
import { writeReferenceOnnx } from '../test/cortex/embed-reference.js'

const args = process.argv.slice(2)
const opt = (name: string, d: number): number => { const i = args.indexOf(`--${name}`); return i >= 0 ? Number(args[i + 1]) : d }
const only = ((): string | undefined => { const i = args.indexOf('--only'); return i >= 0 ? args[i + 1] : undefined })()
const THREADS = opt('threads', 1)
const MINILM = { layers: 6, hidden: 384, heads: 12, intermediate: 1536, maxPositions: 512, extraWords: 30000 }
const WORDS = 'the quick brown fox jumps over lazy dog a peer to network of nodes shares layers model and each node keeps cache its own tokens stream back that asked hello world zeone inference runs in stages first stage embeds last predicts next token vector space query search embedding sentence similar different'.split(' ')

const p50 = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }
const r3 = (x: number): number => Math.round(x * 1000) / 1000
function sentences(n: number, seed: number): string[] {
  const r = new Prng(seed)
  return Array.from({ length: n }, () => Array.from({ length: 6 + Math.floor(r.next() * 24) }, () => WORDS[Math.floor(r.next() * WORDS.length)]).join(' ') + '.')
}

async function throughput(root: string): Promise<object> {
  const dir = join(root, 'minilm')
  writeTinyBert(dir, { ...MINILM, seed: 7, std: 0.05 })
  writeReferenceOnnx(dir)
  const hf = await import('@huggingface/transformers')
  hf.env.allowRemoteModels = false
  hf.env.allowLocalModels = true
  hf.env.localModelPath = root
  const BATCH = 32
  const texts = sentences(opt('sentences', 256), 3)
  const extractor = await hf.pipeline('feature-extraction', 'minilm', { dtype: 'fp32', session_options: { intraOpNumThreads: THREADS, interOpNumThreads: 1 } } as never) as unknown as
    (t: string[], o: object) => Promise<{ data: Float32Array }>
  const ours = await Embedder.load(dir, { threads: THREADS, maxBatch: BATCH })
  // warm both (first runs allocate arenas)
  await ours.embed(texts.slice(0, BATCH)); await extractor(texts.slice(0, BATCH), { pooling: 'mean', normalize: true })
  const runHf = async (): Promise<Float32Array[]> => {
    const out: Float32Array[] = []
    for (let i = 0; i < texts.length; i += BATCH) {
      const r = await extractor(texts.slice(i, i + BATCH), { pooling: 'mean', normalize: true })
      for (let j = 0; j < Math.min(BATCH, texts.length - i); j++) out.push(r.data.slice(j * 384, (j + 1) * 384))
    }
    return out
  }
  const rounds: { ours: number; hf: number }[] = []
  let diff = 0
  for (let round = 0; round < 3; round++) {
    // alternate the order so machine-load drift hits both sides alike
    const t0 = performance.now(); const mine = await ours.embed(texts); const t1 = performance.now()
    const theirs = await runHf(); const t2 = performance.now()
    rounds.push({ ours: texts.length / ((t1 - t0) / 1000), hf: texts.length / ((t2 - t1) / 1000) })
    mine.vectors.forEach((v, i) => { for (let k = 0; k < v.length; k++) diff = Math.max(diff, Math.abs(v[k]! - theirs[i]![k]!)) })
  }
  await ours.close()
  const o = p50(rounds.map((r) => r.ours)), h = p50(rounds.map((r) => r.hf))
  return {
    model: 'all-MiniLM-L6-v2 shape (6x384, 12 heads, FFN 1536, vocab ' + (ours.vocabSize) + '), random weights', threads: THREADS, batch: BATCH,
    sentences: texts.length, meanTokens: r3(ours.tokenize(texts).reduce((a, s) => a + s.length, 0) / texts.length),
    oursSentencesPerSec: r3(o), transformersJsSentencesPerSec: r3(h), ratio: r3(o / h), maxAbsDiff: diff, rounds,
  }
}

async function ann(root: string): Promise<object> {
  const N = opt('vectors', 100_000), D = 384, Q = opt('queries', 100)
  const rng = new Prng(11)
  const centres = Array.from({ length: 1000 }, () => Float32Array.from({ length: D }, () => rng.normal()))
  const point = (): Float32Array => { const c = centres[Math.floor(rng.next() * centres.length)]!; return Float32Array.from(c, (x) => x + rng.normal() * 0.6) }
  const flat = new Float32Array(N * D)
  for (let i = 0; i < N; i++) flat.set(point(), i * D)
  const store = new VectorStore(join(root, 'ann'))
  const sp = store.ensureSpace({ modelId: 'synthetic', modelVersion: '1', weightsRoot: 'none', dim: D, metric: 'cos' }).id
  const t0 = performance.now()
  for (let i = 0; i < N; i += 1000) {
    store.upsert(sp, Array.from({ length: Math.min(1000, N - i) }, (_, j) => ({ key: `v${i + j}`, text: '', vector: flat.subarray((i + j) * D, (i + j + 1) * D) })))
  }
  const insertS = (performance.now() - t0) / 1000
  // restart: the saved index loads; then a rebuild from SQLite is timed too
  store.close()
  const t1 = performance.now()
  const store2 = new VectorStore(join(root, 'ann'))
  store2.ann(sp)
  const loadS = (performance.now() - t1) / 1000
  const t2 = performance.now()
  const rebuilt = new AnnIndex(D, 'cos')
  const keys = new BigUint64Array(N); for (let i = 0; i < N; i++) keys[i] = BigInt(i + 1)
  rebuilt.addMany(keys, flat)
  const buildS = (performance.now() - t2) / 1000
  const annMs: number[] = [], bruteMs: number[] = []
  let hit = 0
  for (let q = 0; q < Q; q++) {
    const v = point()
    let t = performance.now()
    const got = store2.search(sp, v, 10).map((h) => h.docId)
    annMs.push(performance.now() - t)
    t = performance.now()
    const best: [number, number][] = []
    for (let i = 0; i < N; i++) {
      const d = distance('cos', v, flat.subarray(i * D, (i + 1) * D))
      if (best.length < 10 || d < best[9]![1]) { best.push([i + 1, d]); best.sort((a, b) => a[1] - b[1]); if (best.length > 10) best.pop() }
    }
    bruteMs.push(performance.now() - t)
    const exact = new Set(best.map((b) => b[0]))
    hit += got.filter((g) => exact.has(g)).length
  }
  store2.close()
  return {
    vectors: N, dim: D, queries: Q, data: 'synthetic Gaussian mixture, 1000 centres, sigma 0.6', params: { connectivity: 16, expansionAdd: 128, expansionSearch: 128 },
    recallAt10: r3(hit / (Q * 10)), annP50Ms: r3(p50(annMs)), bruteForceP50Ms: r3(p50(bruteMs)), speedup: r3(p50(bruteMs) / p50(annMs)),
    insertSeconds: r3(insertS), loadSavedIndexSeconds: r3(loadS), rebuildIndexSeconds: r3(buildS),
  }
}

async function reindex(root: string): Promise<object> {
  const DOCS = opt('docs', 10_000)
  const d1 = join(root, 'v1'), d2 = join(root, 'v2')
  writeTinyBert(d1, { ...MINILM, seed: 31, std: 0.05 })
  writeTinyBert(d2, { ...MINILM, seed: 32, std: 0.05 })
  const e1 = await Embedder.load(d1, { threads: THREADS, maxBatch: 32 }), e2 = await Embedder.load(d2, { threads: THREADS, maxBatch: 32 })
  const models = new Map<string, EmbedModel>()
  const key = (e: Embedder, v: string): EmbedModel => ({ space: { modelId: 'minilm', modelVersion: v, weightsRoot: e.weightsRoot, dim: e.dim, metric: 'cos' }, embed: (t) => e.embed(t) })
  models.set(e1.weightsRoot, key(e1, 'v1'))
  const store = new VectorStore(join(root, 'reindex'))
  const ix = new SemanticIndex(store, async (s: Space) => (s.weightsRoot === e1.weightsRoot ? models.get(e1.weightsRoot) : s.weightsRoot === e2.weightsRoot ? key(e2, s.modelVersion) : undefined), 64)
  const a = store.ensureSpace(key(e1, 'v1').space).id
  store.defaultSpace = a
  const docs = sentences(DOCS, 5)
  const t0 = performance.now()
  for (let i = 0; i < DOCS; i += 256) await ix.add(docs.slice(i, i + 256).map((text, j) => ({ key: `d${i + j}`, text })))
  const addS = (performance.now() - t0) / 1000
  const queries = sentences(15, 77).map((s) => s.split(' ').slice(0, 6).join(' '))
  const first: number[] = [], reembedded: number[] = []
  for (const [i, q] of queries.entries()) {
    // a fresh switch each time: a new space for v2 (new version string), nothing in it yet
    const b = store.ensureSpace(key(e2, `v2.${i}`).space).id
    store.setMeta('migration', null)
    store.defaultSpace = b
    ix.beginMigration(a, b)
    const t = performance.now()
    const r = await ix.query(q, { k: 10 })
    first.push(performance.now() - t)
    reembedded.push(r.reembedded)
  }
  // steady state: one full migration into a last space, then the same queries
  const last = store.ensureSpace(key(e2, 'v2.final').space).id
  store.setMeta('migration', null)
  store.defaultSpace = last
  ix.beginMigration(a, last)
  const t1 = performance.now()
  await ix.runMigration()
  const migS = (performance.now() - t1) / 1000
  const steady: number[] = []
  for (const q of queries) { const t = performance.now(); await ix.query(q, { k: 10 }); steady.push(performance.now() - t) }
  await ix.close(); store.close(); await e1.close(); await e2.close()
  return {
    documents: DOCS, model: 'all-MiniLM-L6-v2 shape, v1 and v2 = two seeds', threads: THREADS, k: 10, switches: queries.length,
    firstQueryAfterSwitchP50Ms: r3(p50(first)), reembeddedPerFirstQueryP50: p50(reembedded), steadyQueryP50Ms: r3(p50(steady)),
    addDocsPerSec: r3(DOCS / addS), backgroundMigrationSeconds: r3(migS), backgroundMigrationDocsPerSec: r3(DOCS / migS),
  }
}

const root = mkdtempSync(join(tmpdir(), 'zeone-bench-embed-'))
try {
  const out: Record<string, unknown> = { bench: 'embed', machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg().map(r3), node: process.version } }
  if (!only || only === 'throughput') out.throughput = await throughput(root)
  if (!only || only === 'ann') out.ann = await ann(root)
  if (!only || only === 'reindex') out.reindex = await reindex(root)
  console.log(JSON.stringify(out, null, 2))
} finally {
  rmSync(root, { recursive: true, force: true })
}
