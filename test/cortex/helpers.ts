import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity } from '../../src/crypto/identity.js'
import { writeTinyModel, type TinyModelOptions } from '../../src/cortex/testing/tiny-model.js'

export function tempDir(prefix = 'zeone-cortex-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Writes a tiny seeded model under a fresh temp dir. */
export function tinyModel(o: TinyModelOptions): { dir: string; cleanup(): void } {
  const t = tempDir()
  writeTinyModel(t.dir, o)
  return t
}

export function identity(n: number): Identity {
  const seed = new Uint8Array(32)
  seed[0] = n
  seed[31] = 0xc0
  return Identity.fromSeed(seed)
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

/** A clock whose timers keep the event loop alive (in-memory links deliver through it). */
export const refClock = {
  now: () => Date.now(),
  setTimeout(cb: () => void, ms: number) { const t = setTimeout(cb, ms); return { cancel: () => clearTimeout(t) } },
}
