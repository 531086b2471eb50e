/**
 * Persists the published set across restarts: `<dataDir>/content-published.cbor` (written atomically) holds each
 * publication's signed manifest, the local absolute path of each file and its leaf hashes, so a restart serves the
 * same content without re-hashing it. Entries whose files are gone or changed size are skipped on load (and
 * per-chunk re-hashing on serve catches edits that keep the size).
 */
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../crypto/identity.js'
import type { Logger } from '../interfaces/logger.js'
import { decode, encode, type CborValue } from '../wire/cbor.js'
import { decodeManifest, encodeManifest, MAX_FILES } from './manifest.js'
import { MerkleTree } from './merkle.js'
import type { ContentStore } from './store.js'

export const PUBLISHED_INDEX = 'content-published.cbor'
/** Largest index file we read. */
const MAX_INDEX_BYTES = 512 * 1024 * 1024

export function saveIndex(dataDir: string, store: ContentStore): void {
  const entries: CborValue[] = store.list().map((p) => ({
    manifest: encodeManifest(p.manifest),
    files: p.files.map((f) => ({ abs: f.abs, leaves: f.tree.leaves(0, f.tree.leafCount), ...(f.stat ? { size: f.stat.size, mtime_ms: f.stat.mtimeMs } : {}) })),
  }))
  writeFileAtomic(join(dataDir, PUBLISHED_INDEX), encode({ v: 1, entries }), 0o600)
}

/** Loads what it can; returns the number of publications restored. */
export function loadIndex(dataDir: string, store: ContentStore, logger: Logger): number {
  const file = join(dataDir, PUBLISHED_INDEX)
  let raw: Uint8Array
  try {
    if (statSync(file).size > MAX_INDEX_BYTES) { logger.warn({ file }, 'published index too large; ignored'); return 0 }
    raw = readFileSync(file)
  } catch { return 0 }
  let v: Record<string, CborValue>
  try {
    v = decode(raw, { maxDepth: 6, maxItems: Math.max(MAX_FILES, 1 << 20), maxStringBytes: 1 << 28 }) as Record<string, CborValue>
  } catch (err) {
    logger.warn({ file, err: (err as Error).message }, 'published index unreadable; ignored')
    return 0
  }
  let n = 0
  for (const e of Array.isArray(v?.entries) ? v.entries : []) {
    try {
      const o = e as { manifest: Uint8Array; files: { abs: string; leaves: Uint8Array; size?: number; mtime_ms?: number }[] }
      const m = decodeManifest(o.manifest)
      const files = o.files.map((f, i) => {
        const meta = m.files[i]
        const st = meta && typeof f.abs === 'string' ? statSync(f.abs) : undefined
        if (!meta || !st || st.size !== meta.size) throw new Error(`file ${i} missing or changed`)
        const tree = new MerkleTree(f.leaves)
        if (Buffer.compare(tree.root, meta.root) !== 0) throw new Error(`file ${i} leaves do not match its root`)
        // a file touched since it was hashed loses its stat: every chunk served from it is re-hashed
        const same = typeof f.mtime_ms === 'number' && f.size === st.size && f.mtime_ms === st.mtimeMs
        return { abs: f.abs, tree, ...(same ? { stat: { size: st.size, mtimeMs: st.mtimeMs } } : {}) }
      })
      store.add(m, files)
      n++
    } catch (err) {
      logger.info({ err: (err as Error).message }, 'skipping a published entry')
    }
  }
  return n
}
