/** Benchmark fixtures: a large pseudo-random file written in 1 MiB blocks (never held in memory). */
import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs'

export function writeBigFile(path: string, bytes: number): void {
  const fd = openSync(path, 'w')
  try {
    const block = randomBytes(1 << 20)
    for (let off = 0; off < bytes; off += block.length) {
      // vary each block so chunks differ (deduplication or caching could otherwise flatter the results)
      block.writeUInt32BE(off / block.length, 0)
      writeSync(fd, block, 0, Math.min(block.length, bytes - off))
    }
    // on disk before anything is measured: its writeback would otherwise compete with the first runs
    fsyncSync(fd)
  } finally { closeSync(fd) }
}

export function sizeArg(argv: string[], def: number): number {
  const i = argv.indexOf('--mib')
  return i >= 0 ? Number(argv[i + 1]) * (1 << 20) : def
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}
