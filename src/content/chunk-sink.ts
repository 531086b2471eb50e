/**
 * Where a verified chunk of one file goes: written at its offset in the partial file, recorded in the bitfields
 * (the resume state saved every `flushEvery` chunks), announced, then fed to the in-flight whole-file hash. Also
 * flushes written data to disk in the background and, with a hashing thread, copies received chunks into shared
 * memory. The first disk error ends the file: it is kept in `fatal` for the download loop to throw.
 */
import type { FileHandle } from 'node:fs/promises'
import type { SlabPool } from '../transport/slab-pool.js'
import type { Bitfield, StateWriter } from './bitfield.js'
import { DownloadError } from './errors.js'
import type { PrefixHasher } from './prefix-hasher.js'

/** Bytes written between background flushes of the partial file. */
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

/** A verified chunk, and the function that gives its receive buffer back to the transport (Message.release). */
export interface Fetched { data: Uint8Array; release?: () => void }

export interface ChunkSinkInit {
  fh: FileHandle
  /** The file's path in the manifest (error messages). */
  path: string
  chunkSize: number
  writer: ChunkWriter
  /** Chunks on record (the resume state) and chunks verified in this session (what readers may see). */
  bf: Bitfield
  vf: Bitfield
  state: StateWriter
  /** Content id and file index the resume state is saved under. */
  id: Uint8Array
  index: number
  flushEvery: number
  hasher: PrefixHasher
  /** Shared-memory buffers received chunks are copied into (for a hashing thread); none = chunks stay where received. */
  copies?: SlabPool
}

export class ChunkSink {
  readonly #s: ChunkSinkInit
  #fatal: Error | undefined
  #sinceFlush = 0
  #unsynced = 0
  #syncing: Promise<void> | undefined
  /** Chunks written in this session. */
  written = 0

  constructor(init: ChunkSinkInit) { this.#s = init }

  /** The error that ends this file, if one happened. */
  get fatal(): Error | undefined { return this.#fatal }
  fail(err: Error): void { this.#fatal ??= err }

  /**
   * Takes a received chunk: with shared memory, copies it there and gives the receive buffer back at once (the copy,
   * 61 us per MiB in isolation, buys the event loop the two SHA-256 passes, ~1.3 ms, which the worker then does
   * where the copy lies).
   */
  hold(data: Uint8Array, release?: () => void): Fetched {
    const pool = this.#s.copies
    if (!pool) return release ? { data, release } : { data }
    const buf = pool.take(data.byteLength)
    const copy = buf.subarray(0, data.byteLength)
    copy.set(data)
    release?.()
    let given = false
    return { data: copy, release: () => { if (!given) { given = true; pool.give(buf) } } }
  }

  /**
   * Writes chunk `i`, records it, calls `announce` (after the record: what a listener has seen is on record), then
   * hands the data to the hasher, which gives its buffer back once hashed. Never rejects: false when the write
   * failed (the chunk must be fetched again; `fatal` is set), true when the chunk is on record.
   */
  async write(i: number, chunk: Fetched, announce: () => void): Promise<boolean> {
    const s = this.#s
    const { data } = chunk
    let ok = false
    let hashing = false
    try {
      await s.writer(s.fh, data, i * s.chunkSize)
      ok = true
      this.#writeback(data.byteLength)
      s.bf.set(i)
      s.vf.set(i)
      this.written++
      if (++this.#sinceFlush >= s.flushEvery) this.flush()
      announce()
      hashing = true
      s.hasher.feed(i, data, chunk.release)
    } catch (err) {
      if (!ok) {
        const code = (err as NodeJS.ErrnoException).code === 'ENOSPC' ? 'disk_full' : 'disk_error'
        this.fail(new DownloadError(code, `writing ${s.path}: ${(err as Error).message}`, { cause: err }))
      } else {
        this.fail(err as Error)
      }
    } finally {
      if (!hashing) chunk.release?.()
    }
    return ok
  }

  /**
   * Saves the resume state: synchronously (one in-place write, StateWriter). Async saves queued behind the chunk
   * writes in the thread pool and lagged tens of chunks under load; a sync save of a few hundred bytes bounds the
   * loss at a kill to flushEvery - 1 chunks. No fsync: a killed process loses nothing the kernel has, and after a
   * power loss every resumed chunk is re-verified against the hash layer before it counts.
   */
  flush(): void {
    this.#sinceFlush = 0
    try {
      this.#s.state.save(this.#s.id, this.#s.index, this.#s.bf)
    } catch (err) {
      this.fail(new DownloadError('disk_error', `saving resume state: ${(err as Error).message}`, { cause: err }))
    }
  }

  /**
   * Written chunks are flushed to disk in the background, one fdatasync at a time every WRITEBACK_BYTES, so the disk
   * works while the transfer runs and the fsync before the rename has little left to do (it took 350-430 ms of a
   * ~4 s 1 GiB download when everything was flushed at the end).
   */
  #writeback(bytes: number): void {
    this.#unsynced += bytes
    if (this.#syncing || this.#unsynced < WRITEBACK_BYTES) return
    this.#unsynced = 0
    this.#syncing = this.#s.fh.datasync().then(() => { this.#syncing = undefined }, (err: Error) => {
      this.#syncing = undefined
      this.fail(new DownloadError('disk_error', `flushing ${this.#s.path}: ${err.message}`, { cause: err }))
    })
  }

  /** Waits for a background flush in progress, then saves the resume state a last time. */
  async close(): Promise<void> {
    await this.#syncing
    this.flush()
  }
}
