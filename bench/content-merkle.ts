/**
 * Merkle build and verify throughput vs raw node:crypto SHA-256 over the same file (default 1 GiB, streamed in
 * 1 MiB chunks; `--mib N` to change). Prints JSON. Rounds alternate raw/build/verify so the page cache treats all
 * three alike; medians are reported. All three read the file the same way (1 MiB pieces, one read ahead).
 *   raw    = one SHA-256 over the file
 *   build  = leaf hashes + RFC 6962 root on one thread (`zeone publish` per file, without the whole-file hash)
 *   buildPool = the same with leaf hashes in a worker pool, one worker per core (publish uses a pool from 4 cores up)
 *   verify = what a downloader does: each chunk's leaf hash checked against the hash layer, the layer against the root
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir, cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { hashFile, readChunks } from '../src/content/hasher.js'
import { HASH_BYTES, leafHash, rootOfLeafHashes } from '../src/content/merkle.js'
import { equalBytes } from '../src/util/bytes.js'
import { median, sizeArg, writeBigFile } from './content/fixture.js'

const CHUNK = 1 << 20

/** Raw baseline: one SHA-256 over the file, read the same way (1 MiB pieces, one read ahead). */
async function rawSha(path: string): Promise<void> {
  const h = createHash('sha256')
  for await (const c of readChunks(path, CHUNK)) h.update(c)
  h.digest()
}

async function verify(path: string, leaves: Uint8Array, root: Uint8Array): Promise<void> {
  if (!equalBytes(rootOfLeafHashes(leaves), root)) throw new Error('root mismatch')
  let i = 0
  for await (const c of readChunks(path, CHUNK)) {
    if (!equalBytes(leafHash(c), leaves.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES))) throw new Error(`chunk ${i} mismatch`)
    i++
  }
}

async function main(): Promise<void> {
  const bytes = sizeArg(process.argv, 1 << 30)
  const ri = process.argv.indexOf('--rounds')
  const rounds = ri >= 0 ? Number(process.argv[ri + 1]) : 5
  const dir = mkdtempSync(join(tmpdir(), 'zeone-bench-merkle-'))
  try {
    const file = join(dir, 'data.bin')
    writeBigFile(file, bytes)
    const t = { raw: [] as number[], build: [] as number[], buildPool: [] as number[], verify: [] as number[] }
    let digest = await hashFile(file, CHUNK, { wholeFile: false, workers: 0 }) // warm the page cache
    for (let r = 0; r < rounds; r++) {
      let s = performance.now(); await rawSha(file); t.raw.push(performance.now() - s)
      s = performance.now(); digest = await hashFile(file, CHUNK, { wholeFile: false, workers: 0 }); t.build.push(performance.now() - s)
      s = performance.now(); const pooled = await hashFile(file, CHUNK, { wholeFile: false, workers: availableParallelism() }); t.buildPool.push(performance.now() - s)
      if (!equalBytes(pooled.root, digest.root)) throw new Error('pool root differs')
      s = performance.now(); await verify(file, digest.leaves, digest.root); t.verify.push(performance.now() - s)
    }
    const mbps = (ms: number): number => Math.round((bytes / (1 << 20)) / (ms / 1000))
    const raw = mbps(median(t.raw)); const build = mbps(median(t.build)); const ver = mbps(median(t.verify)); const pool = mbps(median(t.buildPool))
    console.log(JSON.stringify({
      bench: 'content-merkle', bytes, load: loadavg()[0], chunkSize: CHUNK, rounds, cpu: cpus()[0]?.model, cores: cpus().length, node: process.version,
      rawSha256MiBps: raw, merkleBuildMiBps: build, merkleBuildPoolMiBps: pool, poolWorkers: availableParallelism(), merkleVerifyMiBps: ver,
      buildVsRaw: +(build / raw).toFixed(3), buildPoolVsRaw: +(pool / raw).toFixed(3), verifyVsRaw: +(ver / raw).toFixed(3), target: 0.9,
      // per-round ratios (each against the raw pass just before it): less sensitive to load shifts between rounds
      perRoundMedian: {
        buildVsRaw: +median(t.raw.map((r, i) => r / t.build[i]!)).toFixed(3),
        buildPoolVsRaw: +median(t.raw.map((r, i) => r / t.buildPool[i]!)).toFixed(3),
        verifyVsRaw: +median(t.raw.map((r, i) => r / t.verify[i]!)).toFixed(3),
      },
      ms: t,
    }))
  } finally { rmSync(dir, { recursive: true, force: true }) }
}

await main()
