/**
 * Downloads one file of a manifest from a provider set: fetches the hash layer (verified against the file's
 * Merkle root once), then runs `window` pipelined chunk requests per provider. Each chunk is checked against its
 * leaf hash before it is written; the bitfield of verified chunks is saved atomically (temp file + rename) every
 * `flushEvery` chunks, resumed chunks are re-verified against the hash layer before they are
 * trusted, and the partial file becomes the target only after its whole SHA-256 (computed in flight) matches.
 */
import { createHash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { lstat, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import type { Message } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import { equalBytes, toHex } from '../util/bytes.js'
import { AbortedError } from '../util/errors.js'
import { Bitfield, readState, StateWriter } from './bitfield.js'
import { DownloadError } from './errors.js'
import { readChunks, readFully } from './hasher.js'
import { SlabPool } from '../transport/slab-pool.js'
import { HashThread } from './hash-thread.js'
import { PrefixHasher } from './prefix-hasher.js'
import { leafCountOf, type ManifestFile } from './manifest.js'
import { HASH_BYTES, leafHash, rootOfLeafHashes } from './merkle.js'
import {
  ContentMessageType as T, decodeCacheResponse, decodeChunkReply, decodeHashesReply, encodeCacheRequest, encodeGetChunk, encodeGetHashes, MAX_HASH_BATCH,
} from './messages.js'
import { prepareTarget } from './paths.js'
import { openOwnFile } from './safe-file.js'
import type { ProviderSet, ProviderState } from './provider-set.js'

export const PART_SUFFIX = '.zeone-part'
/** Reorder buffer of the in-flight whole-file hash. */
export const DEFAULT_REORDER_BYTES = 64 * 1024 * 1024
export const STATE_SUFFIX = '.zeone-state'
/** Smallest chunk size hashed on a worker thread (a smaller chunk hashes in less time than its messages take). */
const THREAD_MIN_CHUNK = 256 * 1024
/**
 * Shared-memory chunk copies for the hashing thread (see fetchChunks), reused by every download of the process: at
 * most 64 MiB kept free. With a pool per download each one touched fresh memory inside the copy: 14-26k minor page
 * faults per 1 GiB download, against 2-3k once the process-wide pool is warm (measured).
 */
const sharedChunks = new SlabPool(64 * 1024 * 1024, true)
/** Bytes written between background flushes of the partial file (see fetchChunks). */
export const WRITEBACK_BYTES = 64 * 1024 * 1024

/** Positional write, injectable so tests can simulate a full disk. */
export type ChunkWriter = (fh: FileHandle, data: Uint8Array, position: number) => Promise<void>
export const defaultWriter: ChunkWriter = async (fh, data, position) => {
  let off = 0
  while (off < data.byteLength) {
    const { bytesWritten } = await fh.write(data, off, data.byteLength - off, position + off)
    off += bytesWritten
  }
}

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

/** A verified chunk, and the function that gives its receive buffer back to the transport (Message.release). */
interface Fetched { data: Uint8Array; release?: () => void }

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

/** Fetches and verifies a file's hash layer, trying providers in turn. */
async function fetchHashLayer(job: FileJob, n: number): Promise<Uint8Array> {
  for (const p of job.providers.active(true)) {
    const out = new Uint8Array(n * HASH_BYTES)
    try {
      for (let start = 0; start < n; start += MAX_HASH_BATCH) {
        const count = Math.min(MAX_HASH_BATCH, n - start)
        const r = await p.link.request(T.CONTENT_GET_HASHES, encodeGetHashes({ id: job.id, file: job.index, start, count }), { timeoutMs: job.requestTimeoutMs, signal: job.signal })
        if (r.type !== T.CONTENT_HASHES) throw new DownloadError('unexpected_reply', `expected HASHES, got 0x${r.type.toString(16)}`)
        const rep = decodeHashesReply(r.body)
        if (rep.start !== start || rep.hashes.byteLength !== count * HASH_BYTES) {
          job.providers.misbehaved(p, 'invalid_message', 'hash batch of the wrong range or length')
          throw new DownloadError('bad_hashes', 'bad hash batch')
        }
        out.set(rep.hashes, start * HASH_BYTES)
      }
    } catch (err) {
      if (job.signal.aborted) throw new AbortedError('download aborted', { cause: err })
      if (!p.dropped) job.providers.failed(p, `hash layer: ${(err as Error).message}`)
      continue
    }
    if (equalBytes(rootOfLeafHashes(out), job.meta.root)) return out
    job.providers.misbehaved(p, 'invalid_merkle_proof', `hash layer of ${job.meta.path} does not match the Merkle root`)
  }
  throw new DownloadError('no_providers', `no provider delivered a valid hash layer for ${job.meta.path}`)
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
        fetched = await fetchChunks(job, fh, bf, vf, leaves, n, state, hasher, thread)
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

async function fetchChunks(job: FileJob, fh: FileHandle, bf: Bitfield, vf: Bitfield, leaves: Uint8Array, n: number, state: StateWriter, hasher: PrefixHasher, thread?: HashThread): Promise<number> {
  const { meta, providers } = job
  const missing = bf.missing()
  const flushEvery = job.flushEvery ?? Math.max(1, Math.floor(n / 256))
  let next = 0
  const queue: number[] = missing
  const retry: number[] = []
  let inflight = 0
  let sinceFlush = 0
  let fetched = 0
  let fatal: Error | undefined
  let wake: (() => void) | undefined
  const notify = (): void => { const w = wake; wake = undefined; w?.() }
  const take = (): number | undefined => {
    if (retry.length > 0) { retry.sort((a, b) => a - b); return retry.shift() }
    return next < queue.length ? queue[next++] : undefined
  }
  // Resume state: saved synchronously (one in-place write, StateWriter) every `flushEvery` verified chunks. Async
  // saves queued behind the chunk writes in the thread pool and lagged tens of chunks under load; a sync save of a few
  // hundred bytes bounds the loss at a kill to flushEvery - 1 chunks. No fsync: a killed process loses nothing the
  // kernel has, and after a power loss every resumed chunk is re-verified against the hash layer before it counts.
  const flush = (): void => {
    sinceFlush = 0
    try {
      state.save(job.id, job.index, bf)
    } catch (err) {
      fatal ??= new DownloadError('disk_error', `saving resume state: ${(err as Error).message}`, { cause: err })
    }
  }
  // Written chunks are flushed to disk in the background, one fdatasync at a time every WRITEBACK_BYTES, so the disk
  // works while the transfer runs and the fsync before the rename has little left to do (it took 350-430 ms of a
  // ~4 s 1 GiB download when everything was flushed at the end).
  let unsynced = 0
  let syncing: Promise<void> | undefined
  const writeback = (bytes: number): void => {
    unsynced += bytes
    if (syncing || unsynced < WRITEBACK_BYTES) return
    unsynced = 0
    syncing = fh.datasync().then(() => { syncing = undefined }, (err: Error) => {
      syncing = undefined
      fatal ??= new DownloadError('disk_error', `flushing ${meta.path}: ${err.message}`, { cause: err })
    })
  }
  // one abort listener for all requests of this file (not one per request on the long-lived signal)
  const controllers = new Set<AbortController>()
  const onAbort = (): void => { for (const c of controllers) c.abort() }
  job.signal.addEventListener('abort', onAbort, { once: true })
  const request = async (p: ProviderState, type: number, body: Uint8Array) => {
    const ctl = new AbortController()
    controllers.add(ctl)
    try { return await p.link.request(type, body, { timeoutMs: job.requestTimeoutMs, signal: ctl.signal }) } finally { controllers.delete(ctl) }
  }

  // A verified chunk is written while the lane already asks for its next one (at most one write per lane in flight,
  // so a lane holds at most two chunks); it counts as in flight until written.
  const commit = async (p: ProviderState, i: number, chunk: Fetched, leaf: Uint8Array): Promise<void> => {
    let ok = false
    let hashing = false
    const { data } = chunk
    try {
      await job.writer(fh, data, i * meta.chunkSize)
      ok = true
      writeback(data.byteLength)
      bf.set(i)
      vf.set(i)
      fetched++
      p.chunks++
      p.bytes += data.byteLength
      // persist before telling anyone: what a listener has seen is on record
      if (++sinceFlush >= flushEvery) flush()
      job.onChunk(i, data.byteLength, p.link.peer.nodeId)
      job.onVerified?.(leaf, data)
      // last: the hasher gives the chunk's receive buffer back (release) once it has hashed it
      hashing = true
      hasher.feed(i, data, chunk.release)
    } catch (err) {
      if (!ok) {
        const code = (err as NodeJS.ErrnoException).code === 'ENOSPC' ? 'disk_full' : 'disk_error'
        fatal ??= new DownloadError(code, `writing ${meta.path}: ${(err as Error).message}`, { cause: err })
      } else {
        fatal ??= err as Error
      }
    } finally {
      if (!hashing) chunk.release?.()
      inflight--
      if (!ok) retry.push(i)
      notify()
    }
  }

  // With a hash thread, each chunk is copied out of its receive buffer (given back at once) into shared memory the
  // worker hashes where it lies; the copy (61 us per MiB in isolation) buys the event loop the two SHA-256 passes (~1.3 ms).
  const shared = thread ? sharedChunks : undefined
  const received = (r: Message, data: Uint8Array): Fetched => {
    if (!shared) return r.release ? { data, release: r.release } : { data }
    const buf = shared.take(data.byteLength)
    const copy = buf.subarray(0, data.byteLength)
    copy.set(data)
    r.release?.()
    let given = false
    return { data: copy, release: () => { if (!given) { given = true; shared.give(buf) } } }
  }
  const leafOf = (c: Fetched): Promise<Uint8Array> | Uint8Array => (thread ? thread.leaf(c.data) : leafHash(c.data))

  /** Fetches and verifies chunk i from p; undefined when it must be fetched again (elsewhere). */
  const fetchOne = async (p: ProviderState, i: number, leaf: Uint8Array): Promise<Fetched | undefined> => {
    const len = i === n - 1 ? meta.size - i * meta.chunkSize : meta.chunkSize
    let r: Message | undefined
    let chunk: Fetched | undefined
    let ok = false
    try {
      if (p.cache) {
        r = await request(p, T.CACHE_REQUEST, encodeCacheRequest({ hash: leaf }))
        if (r.type !== T.CACHE_RESPONSE) throw new DownloadError('unexpected_reply', `expected CACHE_RESPONSE, got 0x${r.type.toString(16)}`)
        const rep = decodeCacheResponse(r.body)
        if (!rep.data) { providers.missed(p); return undefined }
        if (equalBytes(rep.hash, leaf) && rep.data.byteLength === len) chunk = received(r, rep.data)
        if (!chunk || !equalBytes(await leafOf(chunk), leaf)) {
          providers.misbehaved(p, 'invalid_merkle_proof', `cached chunk ${i} of ${meta.path} does not match its leaf hash`)
          return undefined
        }
      } else {
        r = await request(p, T.CONTENT_GET_CHUNK, encodeGetChunk({ id: job.id, file: job.index, index: i, proof: false }))
        if (r.type !== T.CONTENT_CHUNK) throw new DownloadError('unexpected_reply', `expected CHUNK, got 0x${r.type.toString(16)}`)
        const rep = decodeChunkReply(r.body)
        if (rep.index === i && rep.data.byteLength === len) chunk = received(r, rep.data)
        if (!chunk || !equalBytes(await leafOf(chunk), leaf)) {
          providers.misbehaved(p, 'invalid_merkle_proof', `chunk ${i} of ${meta.path} does not match its leaf hash`)
          return undefined
        }
      }
      ok = true
      return chunk
    } catch (err) {
      // the hashing thread failing is this node's fault, not the provider's
      if (err instanceof DownloadError && err.code === 'hash_thread') fatal ??= err
      else if (!job.signal.aborted && !p.dropped) providers.failed(p, `chunk ${i}: ${(err as Error).message}`)
      return undefined
    } finally {
      if (!ok) { chunk?.release?.(); r?.release?.() }
    }
  }

  const lane = async (p: ProviderState): Promise<void> => {
    let writing: Promise<void> | undefined
    try {
      while (!fatal && !job.signal.aborted && !p.dropped) {
        // its link closed: the node may route the peer again; carry on over the new link, or stop this lane
        if (p.link.closed) { if (!await providers.relinked(p)) break; continue }
        const i = take()
        if (i === undefined) {
          if (inflight === 0) return
          await new Promise<void>((r) => { const prev = wake; wake = () => { prev?.(); r() } })
          continue
        }
        inflight++
        let handed = false
        try {
          const leaf = leaves.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES)
          const chunk = await fetchOne(p, i, leaf)
          if (!chunk) continue
          if (writing) await writing // commit() never rejects
          if (fatal || job.signal.aborted) { chunk.release?.(); continue }
          writing = commit(p, i, chunk, leaf)
          handed = true
        } finally {
          if (!handed) { inflight--; retry.push(i); notify() }
        }
      }
    } finally {
      await writing
    }
  }

  const lanes: Promise<void>[] = []
  for (const p of providers.active()) for (let w = 0; w < job.window; w++) lanes.push(lane(p))
  try {
    await Promise.all(lanes)
  } finally {
    job.signal.removeEventListener('abort', onAbort)
    await syncing
  }
  flush()
  if (fatal) throw fatal
  if (job.signal.aborted) throw new AbortedError('download aborted')
  if (!bf.complete) throw new DownloadError('no_providers', `${meta.path}: ${n - bf.count} chunks left and no provider remains; run again to resume`)
  return fetched
}
