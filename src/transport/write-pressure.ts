/**
 * Backpressure for any Duplex a link runs over. Node streams (net.Socket) report the bytes they still hold in
 * `writableLength`; streamx streams (udx-native UDX streams) have no such property but keep the same count in
 * `_writableState.buffered`; and every stream's `write()` returns false when it wants the writer to wait for
 * 'drain'. A link reads all three through this one object, so no adapter can leave the writer waiting for a
 * 'drain' that never comes (`undefined + n < hwm` is false, and a stream that took a small write emits no drain).
 */
import type { Duplex } from 'node:stream'

export class WritePressure {
  readonly #stream: Duplex
  /** The last write returned false and no 'drain' came since. */
  #mustDrain = false

  constructor(stream: Duplex) {
    this.#stream = stream
    stream.on('drain', () => { this.#mustDrain = false })
  }

  /** Writes `chunk`, remembering whether the stream asked for a 'drain'. */
  write(chunk: Uint8Array, cb?: (err?: Error | null) => void): boolean {
    const ok = cb ? this.#stream.write(chunk, cb) : this.#stream.write(chunk)
    if (!ok) this.#mustDrain = true
    return ok
  }

  /** Bytes the stream has accepted but not yet handed on (0 where the stream does not say). */
  get queued(): number {
    const s = this.#stream as Duplex & { _writableState?: { buffered?: unknown } | null }
    const n = s.writableLength
    if (typeof n === 'number') return n
    const b = s._writableState?.buffered
    return typeof b === 'number' ? b : 0
  }

  /** The stream asked the writer to wait: a 'drain' (or 'close') will follow. */
  get mustDrain(): boolean { return this.#mustDrain }
}
