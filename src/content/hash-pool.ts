/**
 * A small pool of worker threads that compute leaf hashes (SHA-256(0x00||chunk)) in parallel, so publishing and
 * benchmarks are not limited to one core. Chunk buffers are transferred to the worker and back (and reused), so
 * memory stays at about 2 chunks per worker. Construct, use, `close()`; nothing runs before the first `hash`.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

interface Job { resolve(h: Uint8Array): void; reject(e: Error): void }

/**
 * The worker's whole program (plain CommonJS, so it runs the same from compiled output and from source):
 * receives `{id, buf, len}` (a transferred chunk), answers `{id, hash, buf}` with the RFC 6962 leaf hash
 * SHA-256(0x00 || chunk), the same as merkle.ts `leafHash` (the tests compare them).
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const LEAF = Buffer.from([0])
parentPort.on('message', (m) => {
  const hash = new Uint8Array(createHash('sha256').update(LEAF).update(new Uint8Array(m.buf, 0, m.len)).digest())
  parentPort.postMessage({ id: m.id, hash, buf: m.buf }, [m.buf])
})
`

export class LeafHashPool {
  readonly size: number
  #workers: Worker[] = []
  #jobs = new Map<number, Job>()
  #nextId = 1
  #rr = 0
  #free: ArrayBuffer[] = []
  #closed = false
  readonly chunkSize: number

  /** @param size worker threads, default max(1, availableParallelism() - 1) */
  constructor(chunkSize: number, size = Math.max(1, availableParallelism() - 1)) {
    this.size = size
    this.chunkSize = chunkSize
  }

  #start(): void {
    if (this.#workers.length > 0) return
    for (let i = 0; i < this.size; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true })
      w.on('message', (m: { id: number; hash: Uint8Array; buf: ArrayBuffer }) => {
        if (this.#free.length < this.size * 2) this.#free.push(m.buf)
        const j = this.#jobs.get(m.id)
        this.#jobs.delete(m.id)
        j?.resolve(m.hash)
      })
      w.on('error', (err) => { for (const j of this.#jobs.values()) j.reject(err); this.#jobs.clear() })
      this.#workers.push(w)
    }
  }

  /** Hashes a copy of `chunk` on a worker; the caller may reuse `chunk` as soon as this returns. */
  hash(chunk: Uint8Array): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new Error('hash pool closed'))
    if (chunk.byteLength > this.chunkSize) return Promise.reject(new RangeError('chunk larger than the pool chunk size'))
    this.#start()
    const buf = this.#free.pop() ?? new ArrayBuffer(this.chunkSize)
    new Uint8Array(buf).set(chunk)
    const id = this.#nextId++
    const w = this.#workers[this.#rr++ % this.#workers.length]!
    return new Promise((resolve, reject) => {
      this.#jobs.set(id, { resolve, reject })
      w.postMessage({ id, buf, len: chunk.byteLength }, [buf])
    })
  }

  get pending(): number { return this.#jobs.size }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const j of this.#jobs.values()) j.reject(new Error('hash pool closed'))
    this.#jobs.clear()
    await Promise.all(this.#workers.map((w) => w.terminate()))
    this.#workers = []
    this.#free = []
  }
}
