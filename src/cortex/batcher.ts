/**
 * Continuous batching: requests from concurrent sessions queue here and, whenever the engine is free, every queued
 * request with the same new-token count (up to `maxBatch`, one per session) runs in one forward pass. Sessions join
 * and leave between passes; prefill (T > 1) and decode (T = 1) both go through the queue.
 */
import type { ForwardItem, ForwardOut } from './stage.js'
import { InferenceError } from './errors.js'

export interface BatchEngine {
  forwardBatch(items: ForwardItem[]): Promise<ForwardOut[]>
}

export interface BatcherInit {
  /** Most sessions in one forward pass. @default 16 */
  maxBatch?: number
  /** Most queued requests; more are refused. @default 1024 */
  maxQueue?: number
  /** Called with the size of every forward pass. */
  onBatch?: (size: number) => void
}

interface Job { item: ForwardItem; resolve(o: ForwardOut): void; reject(e: Error): void }

export class Batcher {
  readonly maxBatch: number
  readonly maxQueue: number
  #queue: Job[] = []
  #running = false
  #closed = false
  /** Sizes of the batches run so far (bounded ring, for metrics and tests). */
  readonly recentBatchSizes: number[] = []

  constructor(readonly engine: BatchEngine, readonly init: BatcherInit = {}) {
    this.maxBatch = init.maxBatch ?? 16
    this.maxQueue = init.maxQueue ?? 1024
  }

  get queued(): number { return this.#queue.length }

  submit(item: ForwardItem): Promise<ForwardOut> {
    if (this.#closed) return Promise.reject(new InferenceError('closed', 'batcher is closed'))
    if (this.#queue.length >= this.maxQueue) return Promise.reject(new InferenceError('busy', 'stage queue is full'))
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject })
      // start on the next check phase, so requests arriving in the same I/O round join the same pass
      if (!this.#running && this.#queue.length === 1) setImmediate(() => void this.#pump())
    })
  }

  async #pump(): Promise<void> {
    if (this.#running || this.#closed) return
    this.#running = true
    try {
      while (this.#queue.length && !this.#closed) {
        const T = this.#queue[0]!.item.T
        const batch: Job[] = []
        const sids = new Set<string>()
        const rest: Job[] = []
        for (const j of this.#queue) {
          if (batch.length < this.maxBatch && j.item.T === T && !sids.has(j.item.sid)) { batch.push(j); sids.add(j.item.sid) } else rest.push(j)
        }
        this.#queue = rest
        this.init.onBatch?.(batch.length)
        this.recentBatchSizes.push(batch.length)
        if (this.recentBatchSizes.length > 256) this.recentBatchSizes.shift()
        try {
          const outs = await this.engine.forwardBatch(batch.map((j) => j.item))
          batch.forEach((j, i) => j.resolve(outs[i]!))
        } catch (e) {
          if (batch.length === 1) batch[0]!.reject(e as Error)
          else {
            // isolate the offending request: run each alone so one bad input does not fail its neighbours
            for (const j of batch) {
              try { j.resolve((await this.engine.forwardBatch([j.item]))[0]!) } catch (e2) { j.reject(e2 as Error) }
            }
          }
        }
      }
    } finally {
      this.#running = false
    }
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    const err = new InferenceError('closed', 'batcher is closed')
    for (const j of this.#queue.splice(0)) j.reject(err)
  }
}
