/**
 * Streaming file hashing for publishing: one pass computes the leaf hashes, the RFC 6962 root and the whole-file
 * SHA-256, reading `chunkSize` bytes at a time into one reused buffer (bounded memory).
 */
import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { HASH_BYTES, leafHash, MerkleBuilder } from './merkle.js'
import { ManifestError } from './errors.js'
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

export async function hashFile(path: string, chunkSize: number, opts: HashFileOptions = {}): Promise<FileDigest> {
  const fh = await open(path, 'r')
  try {
    const size = (await fh.stat()).size
    const n = Math.ceil(size / chunkSize)
    if (n > MAX_LEAVES) throw new ManifestError('too_many_chunks', `${path} would have ${n} chunks (max ${MAX_LEAVES}); use a larger chunk size`)
    const leaves = new Uint8Array(n * HASH_BYTES)
    const builder = new MerkleBuilder()
    const whole = opts.wholeFile === false ? undefined : createHash('sha256')
    const buf = Buffer.allocUnsafe(Math.min(chunkSize, Math.max(size, 1)))
    for (let i = 0; i < n; i++) {
      opts.signal?.throwIfAborted()
      const want = Math.min(chunkSize, size - i * chunkSize)
      const got = await readFully(fh, buf.subarray(0, want), i * chunkSize)
      if (got !== want) throw new ManifestError('file_changed', `${path} shrank while hashing`)
      const chunk = buf.subarray(0, want)
      const lh = leafHash(chunk)
      leaves.set(lh, i * HASH_BYTES)
      builder.push(lh)
      whole?.update(chunk)
    }
    return { size, leaves, root: builder.root(), sha256: new Uint8Array(whole ? whole.digest() : new Uint8Array(32)) }
  } finally {
    await fh.close()
  }
}
