/**
 * A download's SHA-256 work on a worker thread: the leaf hash of each received chunk and the whole-file hash, so
 * the event loop keeps receiving and decrypting while another core hashes. Chunks in SharedArrayBuffer memory (the
 * downloader copies each received chunk into such a pool) are hashed where they lie; anything else is posted as a
 * copy. Messages to one worker keep their order, so the whole-file hash sees the updates in the order `update` was
 * called. The two hash passes were about 40% of a download's main-thread time (perf, bench/content-download.ts);
 * with them on the worker the 1 GiB download ran at 333-370 MiB/s against 280-335 on the main thread (2 vCPUs,
 * alternating runs). The copy into shared memory is not free (V8 moves bytes into a SharedArrayBuffer with relaxed
 * atomic word moves: ~20% of the main thread), but moving plain ArrayBuffers to the worker and back instead was
 * slower still: every transfer re-registers 1 MiB of external memory and GCs came back (measured, 159-319 MiB/s).
 */
import { Worker } from 'node:worker_threads'
import { DownloadError } from './errors.js'

/**
 * The worker's whole program (plain CommonJS, so it runs the same from compiled output and from source). Leaf hash
 * = SHA-256(0x00 || chunk), RFC 6962, the same as merkle.ts `leafHash` (tests compare them).
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const LEAF = Buffer.from([0])
const whole = createHash('sha256')
parentPort.on('message', (m) => {
  const view = new Uint8Array(m.buf, m.off, m.len)
  if (m.t === 'leaf') {
    parentPort.postMessage({ t: m.t, id: m.id, hash: new Uint8Array(createHash('sha256').update(LEAF).update(view).digest()) })
  } else if (m.t === 'upd') {
    whole.update(view)
    parentPort.postMessage({ t: m.t, id: m.id })
  } else if (m.t === 'dig') {
    parentPort.postMessage({ t: m.t, id: m.id, hash: new Uint8Array(whole.digest()) })
  }
})
`

interface Waiter { resolve(v: Uint8Array | undefined): void; reject(e: Error): void }

export class HashThread {
  readonly #worker = new Worker(WORKER_SOURCE, { eval: true })
  readonly #waiting = new Map<number, Waiter>()
  #next = 1
  #failed: Error | undefined
  #closed = false

  constructor() {
    this.#worker.on('message', (m: { id: number; hash?: Uint8Array }) => {
      const w = this.#waiting.get(m.id)
      this.#waiting.delete(m.id)
      w?.resolve(m.hash)
    })
    this.#worker.on('error', (err) => this.#fail(new DownloadError('hash_thread', `hashing thread failed: ${err.message}`, { cause: err })))
    this.#worker.on('exit', () => this.#fail(new DownloadError('hash_thread', 'hashing thread exited')))
  }

  /** RFC 6962 leaf hash of `chunk`, computed on the worker. */
  async leaf(chunk: Uint8Array): Promise<Uint8Array> {
    return (await this.#post('leaf', chunk))!
  }

  /**
   * Appends `data` to the whole-file hash. `done` is called once the worker no longer reads `data` (at once when it
   * was posted as a copy). If the update fails, every later call, digest() included, fails with that error: a digest
   * that missed an update must never be compared with the manifest. A failed update's shared memory is not reused.
   */
  update(data: Uint8Array, done?: () => void): void {
    const p = this.#post('upd', data)
    const shared = data.buffer instanceof SharedArrayBuffer
    if (!shared) done?.()
    p.then(() => { if (shared) done?.() }, (err: Error) => this.#fail(err))
  }

  /** The whole-file SHA-256 of every update so far (call once, after the last update). */
  async digest(): Promise<Uint8Array> {
    return (await this.#post('dig', new Uint8Array(0)))!
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#fail(new DownloadError('hash_thread', 'hashing thread closed'))
    void this.#worker.terminate()
  }

  #post(t: string, data: Uint8Array): Promise<Uint8Array | undefined> {
    if (this.#failed) return Promise.reject(this.#failed)
    const id = this.#next++
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject })
      try {
        const shared = data.buffer instanceof SharedArrayBuffer
        // a SharedArrayBuffer is shared with the worker, not copied; anything else is copied into a buffer of its
        // own (never Buffer#slice: that is a view, and transferring its memory would detach the caller's buffer)
        const buf = shared ? data.buffer : new Uint8Array(data).buffer
        this.#worker.postMessage({ t, id, buf, off: shared ? data.byteOffset : 0, len: data.byteLength }, shared ? [] : [buf as ArrayBuffer])
      } catch (err) {
        this.#waiting.delete(id)
        reject(new DownloadError('hash_thread', `cannot hand this chunk to the hashing thread: ${(err as Error).message}`, { cause: err }))
      }
    })
  }

  #fail(err: Error): void {
    this.#failed ??= err
    for (const w of this.#waiting.values()) w.reject(this.#failed)
    this.#waiting.clear()
  }
}
