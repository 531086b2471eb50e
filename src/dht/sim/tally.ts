/** Read outcomes of one simulator run, kept apart: found (success), correct value, wrong value, rollback accepted. */
import { equalBytes } from '../../util/bytes.js'
import type { SignedRecord } from '../record.js'

export interface Percentiles { p50: number; p95: number; mean: number }

export function percentiles(xs: number[]): Percentiles {
  if (xs.length === 0) return { p50: 0, p95: 0, mean: 0 }
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number): number => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!
  return { p50: at(0.5), p95: at(0.95), mean: Math.round((s.reduce((a, b) => a + b, 0) / s.length) * 100) / 100 }
}

export interface ReadStats {
  reads: number
  /** Returned a value of the publisher (any). */
  successRate: number
  /** Returned the publisher's newest value. */
  correctRate: number
  /** Returned a value that is not the newest (another value, or an older seq: a rollback). */
  wrongRate: number
  lost: number
  rollbackAccepted: number
  latencyMs: Percentiles
  hops: Percentiles
  messages: Percentiles
  /** Open-key reads: other publishers' values listed next to the publisher's (a set, never a winner). */
  foreignValues?: Percentiles
}

export class ReadTally {
  reads = 0
  #found = 0
  #correct = 0
  #wrong = 0
  #rollback = 0
  readonly #lat: number[] = []
  readonly #hops: number[] = []
  readonly #msgs: number[] = []
  readonly #foreign: number[] = []

  /** One read: what it returned (`got`), what was current (`want`), its cost; `foreign` for open-key reads. */
  add(got: SignedRecord | undefined, want: SignedRecord, latencyMs: number, hops: number, messages: number, foreign: number): void {
    this.reads++
    this.#lat.push(latencyMs); this.#hops.push(hops); this.#msgs.push(messages); this.#foreign.push(foreign)
    if (!got) return
    this.#found++
    if (equalBytes(got.publisher, want.publisher) && got.seq === want.seq && equalBytes(got.value, want.value)) { this.#correct++; return }
    this.#wrong++
    if (equalBytes(got.publisher, want.publisher) && got.seq < want.seq) this.#rollback++
  }

  stats(): ReadStats {
    const n = Math.max(1, this.reads)
    const rate = (x: number): number => Math.round((x / n) * 10000) / 10000
    return {
      reads: this.reads, successRate: rate(this.#found), correctRate: rate(this.#correct), wrongRate: rate(this.#wrong),
      lost: this.reads - this.#found, rollbackAccepted: this.#rollback,
      latencyMs: percentiles(this.#lat), hops: percentiles(this.#hops), messages: percentiles(this.#msgs),
      ...(this.#foreign.some((x) => x > 0) ? { foreignValues: percentiles(this.#foreign) } : {}),
    }
  }
}
