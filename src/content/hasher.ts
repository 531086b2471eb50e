/**
 * Streaming file hashing for publishing: one pass computes the leaf hashes, the RFC 6962 root and the whole-file
 * SHA-256, reading `chunkSize` bytes at a time into one reused buffer (bounded memory).
 */
import { createHash } from 'node:crypto'
import { open, stat } from 'node:fs/promises'
import { HASH_BYTES, leafHash, MerkleBuilder } from './merkle.js'
import { availableParallelism } from 'node:os'
import { ManifestError } from './errors.js'
import { LeafHashPool } from './hash-pool.js'
import { MAX_LEAVES } from './manifest.js'

export interface FileDigest {
  size: number
  /** n*32 bytes of leaf hashes. */
  leaves: Uint8Array
  root: Uint8Array
  sha256: Uint8Array
}

export interface HashFileOptions {
  /** Also compute the whole-file SHA-256. @default true */
  wholeFile?: boolean
  /** Worker threads for leaf hashes (0 = on this thread). @default defaultWorkers() for files of 8+ chunks */
  workers?: number
  signal?: AbortSignal
}

/** Reads `buf.byteLength` bytes at `pos` (fewer only at end of file). */
export async function readFully(fh: import('node:fs/promises').FileHandle, buf: Uint8Array, pos: number): Promise<number> {
  let got = 0
  while (got < buf.byteLength) {
    const { bytesRead } = await fh.read(buf, got, buf.byteLength - got, pos + got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return got
}

/**
 * Yields a file's contents in `chunkSize` pieces with one read ahead (two reused buffers), so disk or page-cache
 * reads overlap hashing. A yielded buffer is only valid until the next iteration.
 */
export async function* readChunks(path: string, chunkSize: number, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r')
  try {
    const size = (await fh.stat()).size
    const bufs = [Buffer.allocUnsafe(Math.min(chunkSize, Math.max(size, 1))), Buffer.allocUnsafe(Math.min(chunkSize, Math.max(size, 1)))]
    let pos = 0
    let pending: Promise<number> | undefined = size > 0 ? readFully(fh, bufs[0]!.subarray(0, Math.min(chunkSize, size)), 0) : undefined
    for (let i = 0; pending; i++) {
      signal?.throwIfAborted()
      const n = await pending
      if (n === 0) break
      const cur = bufs[i % 2]!
      pos += n
      const want = Math.min(chunkSize, size - pos)
      pending = want > 0 ? readFully(fh, bufs[(i + 1) % 2]!.subarray(0, want), pos) : undefined
      yield cur.subarray(0, n)
    }
    // let a read still in flight finish before the handle closes
    await pending?.catch(() => 0)
  } finally {
    await fh.close()
  }
}

/**
 * Leaf-hash workers used by default: none below 4 cores (measured on 2 vCPU: the pool's copies and messages made
 * publishing slower than hashing inline, bench/content-merkle.ts), else cores - 1 (this thread reads and computes
 * the whole-file hash).
 */
function defaultWorkers(): number {
  const cores = availableParallelism()
  return cores >= 4 ? cores - 1 : 0
}

export async function hashFile(path: string, chunkSize: number, opts: HashFileOptions = {}): Promise<FileDigest> {
  const size = (await stat(path)).size
  const n = Math.ceil(size / chunkSize)
  if (n > MAX_LEAVES) throw new ManifestError('too_many_chunks', `${path} would have ${n} chunks (max ${MAX_LEAVES}); use a larger chunk size`)
  const leaves = new Uint8Array(n * HASH_BYTES)
  const builder = new MerkleBuilder()
  const whole = opts.wholeFile === false ? undefined : createHash('sha256')
  let i = 0
  let total = 0
  const workers = n >= 8 ? (opts.workers ?? defaultWorkers()) : 0
  const pool = workers > 0 ? new LeafHashPool(chunkSize, workers) : undefined
  // with a pool: at most 2 chunks per worker in flight; leaf hashes are pushed into the builder in order
  const inflight: Promise<Uint8Array>[] = []
  try {
    const settle = async (): Promise<void> => {
      const lh = await inflight.shift()!
      builder.push(lh)
      leaves.set(lh, (builder.count - 1) * HASH_BYTES)
    }
    for await (const chunk of readChunks(path, chunkSize, opts.signal)) {
      if (i >= n) throw new ManifestError('file_changed', `${path} grew while hashing`)
      if (pool) {
        inflight.push(pool.hash(chunk))
        if (inflight.length >= 2 * workers) await settle()
      } else {
        const lh = leafHash(chunk)
        leaves.set(lh, i * HASH_BYTES)
        builder.push(lh)
      }
      whole?.update(chunk)
      total += chunk.byteLength
      i++
    }
    while (inflight.length > 0) await settle()
  } finally {
    for (const p of inflight) p.catch(() => {})
    await pool?.close()
  }
  if (total !== size || i !== n) throw new ManifestError('file_changed', `${path} changed size while hashing`)
  return { size, leaves, root: builder.root(), sha256: new Uint8Array(whole ? whole.digest() : new Uint8Array(32)) }
}
