/** Download progress: a pure snapshot type plus a one-line terminal renderer (rate and ETA). */

export interface Progress {
  bytesDone: number
  bytesTotal: number
  chunksDone: number
  chunksTotal: number
  /** Bytes per second fetched in this session. */
  rate: number
  /** Seconds left at the current rate, undefined while unknown. */
  etaS: number | undefined
  /** Providers still in use. */
  providers: number
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let u = 0
  while (n >= 1024 && u < units.length - 1) { n /= 1024; u++ }
  return `${n.toFixed(u === 0 ? 0 : 1)} ${units[u]}`
}

function formatEta(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '--:--'
  const t = Math.round(s)
  const h = Math.floor(t / 3600)
  const m = Math.floor((t % 3600) / 60)
  const sec = t % 60
  return `${h > 0 ? `${h}:` : ''}${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`
}

/** Renders `[#####.....]  42%  420.0 MiB/1.0 GiB  85.3 MiB/s  ETA 00:07  4 peers` to fit `columns`. */
export function renderProgress(p: Progress, columns = 80): string {
  const frac = p.bytesTotal === 0 ? 1 : Math.min(1, p.bytesDone / p.bytesTotal)
  const tail = ` ${String(Math.floor(frac * 100)).padStart(3)}%  ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)}  ${formatBytes(p.rate)}/s  ETA ${formatEta(p.etaS)}  ${p.providers} peer${p.providers === 1 ? '' : 's'}`
  const width = Math.max(10, Math.min(40, columns - tail.length - 3))
  const filled = Math.round(frac * width)
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]${tail}`
}

/** Tracks rate over the session (bytes fetched now, not resumed bytes) and builds snapshots. */
export class ProgressMeter {
  #start: number
  #fetched = 0
  constructor(readonly bytesTotal: number, public bytesDone: number, readonly chunksTotal: number, public chunksDone: number, readonly now: () => number) {
    this.#start = now()
  }
  add(bytes: number): void { this.#fetched += bytes; this.bytesDone += bytes; this.chunksDone++ }
  snapshot(providers: number): Progress {
    const elapsed = Math.max(1e-3, (this.now() - this.#start) / 1000)
    const rate = this.#fetched / elapsed
    const left = this.bytesTotal - this.bytesDone
    return { bytesDone: this.bytesDone, bytesTotal: this.bytesTotal, chunksDone: this.chunksDone, chunksTotal: this.chunksTotal, rate, etaS: rate > 0 ? left / rate : undefined, providers }
  }
}
