/**
 * Open file handles of published files, kept between chunk requests (an open/stat/close per 1 MiB chunk costs
 * three extra thread-pool round trips). Bounded LRU; a handle in use is never closed under its user; fstat results
 * are reused for `statTtlMs`.
 */
import { open, type FileHandle } from 'node:fs/promises'

interface Entry {
  fh: Promise<FileHandle>
  users: number
  stat?: Promise<{ size: number; mtimeMs: number }>
  statAt: number
}

export interface FileStat { size: number; mtimeMs: number }

export class FileHandleCache {
  #map = new Map<string, Entry>()
  #closed = false

  /** @param max handles kept open when idle @param statTtlMs how long an fstat result is reused */
  constructor(readonly max = 64, readonly statTtlMs = 1000, readonly now: () => number = Date.now) {}

  get size(): number { return this.#map.size }

  async use<T>(path: string, fn: (fh: FileHandle, stat: () => Promise<FileStat>) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('file handle cache closed')
    let e = this.#map.get(path)
    if (e) { this.#map.delete(path); this.#map.set(path, e) } else {
      e = { fh: open(path, 'r'), users: 0, statAt: 0 }
      this.#map.set(path, e)
      e.fh.catch(() => { if (this.#map.get(path) === e) this.#map.delete(path) })
    }
    const entry = e
    entry.users++
    try {
      const fh = await entry.fh
      const stat = (): Promise<FileStat> => {
        if (!entry.stat || this.statTtlMs === 0 || this.now() - entry.statAt > this.statTtlMs) {
          entry.statAt = this.now()
          entry.stat = fh.stat().then((s) => ({ size: s.size, mtimeMs: s.mtimeMs }))
        }
        return entry.stat
      }
      return await fn(fh, stat)
    } finally {
      entry.users--
      this.#evict()
    }
  }

  #evict(): void {
    for (const [k, e] of this.#map) {
      if (this.#map.size <= this.max) return
      if (e.users > 0) continue
      this.#map.delete(k)
      e.fh.then((fh) => fh.close()).catch(() => {})
    }
  }

  /** Closes every idle handle now and the others as their users finish. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    const all = [...this.#map.values()]
    this.#map.clear()
    await Promise.all(all.map((e) => e.fh.then((fh) => fh.close()).catch(() => {})))
  }
}
