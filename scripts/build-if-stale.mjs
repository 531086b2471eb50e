#!/usr/bin/env node
// `npm start` / `npm test`: compile only when a source changed since the last successful build. tsc's own
// incremental check still loads the compiler (seconds); comparing mtimes against a stamp takes milliseconds.
// The stamp is written only after tsc succeeds, so a failed build is retried next time. `npm ci` runs it too
// (package.json `prepare`), so the first `npm start` after an install starts the node instead of compiling.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const root = new URL('..', import.meta.url).pathname
const STAMP = join(root, 'dist', '.build-stamp')
const INPUTS = ['src', 'test', 'bench', 'tsconfig.json', 'package.json']

/** Newest mtime under `p` (directories count too: deleting or renaming a file changes its directory's mtime). */
function newest(p) {
  let st
  try { st = statSync(p) } catch { return 0 }
  let t = st.mtimeMs
  if (st.isDirectory()) for (const e of readdirSync(p)) if (e !== 'node_modules') t = Math.max(t, newest(join(p, e)))
  return t
}

export function isStale() {
  let stamp
  try { stamp = statSync(STAMP).mtimeMs } catch { return true }
  return INPUTS.some((i) => newest(join(root, i)) > stamp)
}

/** Runs tsc when stale; returns the exit status to use (0: fresh or built). `prepare`: a missing compiler is no error. */
export function buildIfStale({ prepare = false } = {}) {
  if (!isStale()) return 0
  const started = Date.now()
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  if (!existsSync(tsc)) {
    // `npm ci --omit=dev` runs `prepare` without the compiler: a tree someone built already is fine as it is
    process.stderr.write('build-if-stale: typescript is not installed (npm ci --omit=dev?): not building dist/\n')
    return existsSync(join(root, 'dist', 'src', 'cli', 'main.js')) || prepare ? 0 : 1
  }
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' })
  if (r.status !== 0) return r.status ?? 1
  mkdirSync(join(root, 'dist'), { recursive: true })
  writeFileSync(STAMP, `${new Date().toISOString()}\n`)
  process.stderr.write(`built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
  return 0
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  if (process.argv.includes('--check')) process.stdout.write(isStale() ? 'stale\n' : 'fresh\n')
  else process.exitCode = buildIfStale({ prepare: process.argv.includes('--prepare') })
}
