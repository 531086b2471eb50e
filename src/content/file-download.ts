/**
 * Downloads one file of a manifest from a provider set: fetches the hash layer (verified against the file's
 * Merkle root once), then the missing chunks (chunk-fetch.ts). Each chunk is checked against its
 * leaf hash before it is written; the bitfield of verified chunks is saved atomically (temp file + rename) every
 * `flushEvery` chunks, resumed chunks are re-verified against the hash layer before they are
 * trusted, and the partial file becomes the target only after its whole SHA-256 (computed in flight) matches.
 */
import { createHash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { lstat, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import type { Logger } from '../interfaces/logger.js'
import { equalBytes, toHex } from '../util/bytes.js'
import { Bitfield, readState, StateWriter } from './bitfield.js'
import { DownloadError } from './errors.js'
import { readChunks, readFully } from './hasher.js'
import { SlabPool } from '../transport/slab-pool.js'
import { HashThread } from './hash-thread.js'
import { PrefixHasher } from './prefix-hasher.js'
import { ChunkSink, type ChunkWriter } from './chunk-sink.js'
import { fetchChunks, fetchHashLayer } from './chunk-fetch.js'
import { leafCountOf, type ManifestFile } from './manifest.js'
import { HASH_BYTES, leafHash } from './merkle.js'
import { prepareTarget } from './paths.js'
import { openOwnFile } from './safe-file.js'
import type { ProviderSet } from './provider-set.js'

export const PART_SUFFIX = '.zeone-part'
/** Reorder buffer of the in-flight whole-file hash. */
const DEFAULT_REORDER_BYTES = 64 * 1024 * 1024
export const STATE_SUFFIX = '.zeone-state'
/** Smallest chunk size hashed on a worker thread (a smaller chunk hashes in less time than its messages take). */
const THREAD_MIN_CHUNK = 256 * 1024
/**
 * Shared-memory chunk copies kept free per download when the job brings no pool of its own (FileJob.copies). A pool
 * reused across downloads (the content service owns one) saves fresh memory: 14-26k minor page faults per 1 GiB
 * download with a pool per download, against 2-3k once a reused pool is warm (measured).
 */
export const CHUNK_COPY_POOL_BYTES = 64 * 1024 * 1024
export { WRITEBACK_BYTES, defaultWriter, type ChunkWriter } from './chunk-sink.js'

export interface FileJob {
  id: Uint8Array
  index: number
  meta: ManifestFile
  outDir: string
  providers: ProviderSet
  window: number
  requestTimeoutMs: number
  flushEvery?: number
  /** @default DEFAULT_REORDER_BYTES */
  reorderBytes?: number
  writer: ChunkWriter
  /**
   * Shared-memory buffers for chunk copies when chunks are hashed on a worker thread, owned by the caller so
   * downloads reuse them and the owner frees them (the content service clears its pool on stop).
   * @default a pool of CHUNK_COPY_POOL_BYTES for this download only
   */
  copies?: SlabPool
  logger: Logger
  signal: AbortSignal
  /** Called once per chunk verified and written (index, bytes, the provider that sent it). */
  onChunk: (index: number, bytes: number, provider: Uint8Array) => void
  /** Called with each verified chunk's data (feeds the local CDN cache); `data` is valid during the call only. */
  onVerified?: (leaf: Uint8Array, data: Uint8Array) => void
  /** Called with the resumed count before fetching starts. */
  onResume: (chunks: number, bytes: number) => void
  /** Called when the partial file exists (the streaming reader may open it), with the verified-chunk test. */
  onPartial: (path: string, verified: (i: number) => boolean) => void
}

export interface FileResult { path: string; fetched: number; resumed: number; alreadyComplete: boolean }

export async function sha256OfFile(path: string, signal?: AbortSignal): Promise<Uint8Array> {
  const h = createHash('sha256')
  for await (const c of readChunks(path, 1 << 20, signal)) h.update(c)
  return new Uint8Array(h.digest())
}

/** Whether anything (a link included: it is not followed) has this name. */
async function exists(p: string): Promise<boolean> {
  try { await lstat(p); return true } catch { return false }
}

async function isRegularFile(p: string): Promise<boolean> {
  try { return (await lstat(p)).isFile() } catch { return false }
}

export async function downloadFile(job: FileJob): Promise<FileResult> {
  const { meta } = job
  const n = leafCountOf(meta)
  const target = prepareTarget(job.outDir, meta.path)
  const partial = target + PART_SUFFIX
  const statePath = target + STATE_SUFFIX
  const partialExists = await exists(partial)
  if (!partialExists && await isRegularFile(target) && (await stat(target)).size === meta.size && equalBytes(await sha256OfFile(target, job.signal), meta.sha256)) {
    await rm(statePath, { force: true })
    return { path: target, fetched: 0, resumed: n, alreadyComplete: true }
  }
  const saved = partialExists ? readState(statePath, job.id, job.index, n) : undefined
  const bf = saved?.bf ?? new Bitfield(n)
  const resumed = bf.count
  let resumedOk = resumed
  // never through a link planted at the partial's name: it would truncate and overwrite a file outside outDir
  let fh = await openOwnFile(partial, partialExists, 0o644)
  let fetched = 0
  // hashing on a worker thread when there is a core for it and chunks are large enough to pay for the messages
  const thread = !bf.complete && n >= 8 && meta.chunkSize >= THREAD_MIN_CHUNK && availableParallelism() > 1 ? new HashThread() : undefined
  let hasher = new PrefixHasher(n, job.reorderBytes ?? DEFAULT_REORDER_BYTES, thread)
  try {
    await fh.truncate(meta.size)
    // readers see a chunk only once it is verified in this session (fetched, or resumed and re-verified)
    const vf = new Bitfield(n)
    job.onPartial(partial, (i) => vf.has(i))
    const lastLen = meta.size - (n - 1) * meta.chunkSize
    const reportResumed = (): void => {
      const c = bf.count
      job.onResume(c, c === 0 ? 0 : (c - (bf.has(n - 1) ? 1 : 0)) * meta.chunkSize + (bf.has(n - 1) ? lastLen : 0))
    }
    const chunkLen = (i: number): number => (i === n - 1 ? lastLen : meta.chunkSize)
    const readChunk = async (i: number): Promise<Uint8Array> => {
      const buf = new Uint8Array(chunkLen(i))
      if (await readFully(fh, buf, i * meta.chunkSize) !== buf.byteLength) throw new DownloadError('disk_error', `${meta.path}: partial file is short`)
      return buf
    }
    let digest: Uint8Array | undefined
    if (bf.complete) {
      // everything was fetched before: if the bytes on disk hash right, no provider is needed
      digest = await hasher.finish(readChunk)
      if (equalBytes(digest, meta.sha256)) { for (let i = 0; i < n; i++) vf.set(i); reportResumed() } else { digest = undefined; hasher = new PrefixHasher(n, hasher.maxBuffered) }
    }
    if (!digest) {
      const leaves = await fetchHashLayer(job, n)
      if (resumed > 0) {
        // trust no resumed chunk blindly (a power loss may have kept the state but not the bytes): re-verify them
        let dropped = 0
        for (let i = 0; i < n; i++) {
          if (!bf.has(i)) continue
          const c = await readChunk(i)
          if (equalBytes(leafHash(c), leaves.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES))) { vf.set(i); hasher.feed(i, c) } else { bf.clear(i); dropped++ }
        }
        if (dropped > 0) job.logger.warn({ path: meta.path, dropped }, 'resumed chunks failed re-verification; fetching them again')
      }
      resumedOk = bf.count
      reportResumed()
      const state = new StateWriter(statePath, n, (saved?.gen ?? 0) + 1)
      try {
        const sink = new ChunkSink({
          fh, path: meta.path, chunkSize: meta.chunkSize, writer: job.writer, bf, vf, state, id: job.id, index: job.index,
          flushEvery: job.flushEvery ?? Math.max(1, Math.floor(n / 256)), hasher,
          ...(thread ? { copies: job.copies ?? new SlabPool(CHUNK_COPY_POOL_BYTES, true) } : {}),
        })
        fetched = await fetchChunks(job, sink, bf, leaves, n, thread)
      } finally {
        state.close()
      }
      digest = await hasher.finish(readChunk)
    }
    await fh.sync()
    await fh.close()
    fh = undefined as unknown as FileHandle
    if (!equalBytes(digest, meta.sha256)) {
      // every chunk matched the root, so the publisher's manifest is inconsistent: nothing here is reusable
      await rm(partial, { force: true })
      await rm(statePath, { force: true })
      throw new DownloadError('sha256_mismatch', `${meta.path}: whole-file SHA-256 ${toHex(digest)} does not match the manifest`)
    }
    await rename(partial, target)
    await rm(statePath, { force: true })
    return { path: target, fetched, resumed: resumedOk, alreadyComplete: false }
  } finally {
    thread?.close()
    await fh?.close().catch(() => {})
  }
}
