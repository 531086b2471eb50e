/**
 * Safe relative paths (docs/protocol/content.md §"Paths"). A manifest path is '/'-separated, relative and
 * normalised: no empty, '.' or '..' components, no backslash, colon, NUL or control characters, at most 255 bytes
 * per component and 4096 bytes in all. `safeJoin` re-checks after resolving, so nothing can escape the target.
 */
import { lstatSync, mkdirSync } from 'node:fs'
import { isAbsolute, join, resolve, sep } from 'node:path'
import { UnsafePathError } from './errors.js'

export const MAX_PATH_BYTES = 4096
export const MAX_COMPONENT_BYTES = 255

/** Throws UnsafePathError unless `p` is a normalised safe relative path. Returns it unchanged. */
export function validateRelPath(p: string): string {
  if (typeof p !== 'string' || p.length === 0) throw new UnsafePathError(String(p), 'empty path')
  if (Buffer.byteLength(p) > MAX_PATH_BYTES) throw new UnsafePathError(p, `longer than ${MAX_PATH_BYTES} bytes`)
  if (p.startsWith('/') || isAbsolute(p)) throw new UnsafePathError(p, 'absolute path')
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\:]/.test(p)) throw new UnsafePathError(p, 'control character, backslash or colon')
  if (p.normalize('NFC') !== p) throw new UnsafePathError(p, 'not in Unicode NFC form')
  for (const c of p.split('/')) {
    if (c === '') throw new UnsafePathError(p, 'empty component (leading, trailing or double slash)')
    if (c === '.' || c === '..') throw new UnsafePathError(p, `'${c}' component`)
    if (Buffer.byteLength(c) > MAX_COMPONENT_BYTES) throw new UnsafePathError(p, `component longer than ${MAX_COMPONENT_BYTES} bytes`)
  }
  return p
}

/** Joins a validated relative path under `root` and proves the result stays inside it. */
export function safeJoin(root: string, rel: string): string {
  validateRelPath(rel)
  const base = resolve(root)
  const full = resolve(base, ...rel.split('/'))
  if (!full.startsWith(base + sep)) throw new UnsafePathError(rel, 'resolves outside the target directory')
  return full
}

/**
 * Creates the parent directories of `rel` under `root`, refusing to traverse any symlink (a planted link could
 * otherwise redirect writes outside the target). Returns the full path of the file.
 */
export function prepareTarget(root: string, rel: string): string {
  const full = safeJoin(root, rel)
  const parts = rel.split('/')
  let cur = resolve(root)
  mkdirSync(cur, { recursive: true })
  for (let i = 0; i < parts.length - 1; i++) {
    cur = join(cur, parts[i]!)
    let st
    try { st = lstatSync(cur) } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      mkdirSync(cur)
      continue
    }
    if (st.isSymbolicLink()) throw new UnsafePathError(rel, `${parts.slice(0, i + 1).join('/')} is a symlink`)
    if (!st.isDirectory()) throw new UnsafePathError(rel, `${parts.slice(0, i + 1).join('/')} is not a directory`)
  }
  return full
}

/** Checks a set of manifest paths: each safe, no duplicates, no file that is also another file's directory. */
export function validatePathSet(paths: readonly string[]): void {
  const seen = new Set<string>()
  for (const p of paths) {
    validateRelPath(p)
    if (seen.has(p)) throw new UnsafePathError(p, 'duplicate path')
    seen.add(p)
  }
  for (const p of paths) {
    const parts = p.split('/')
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/')
      if (seen.has(dir)) throw new UnsafePathError(p, `'${dir}' is both a file and a directory`)
    }
  }
}
