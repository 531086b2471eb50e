/**
 * The published set: content this node serves. Each entry maps a manifest id to the signed manifest and, per file,
 * the absolute local path and its Merkle tree. Serving looks files up only here, by (manifest id, file index), so a
 * request can never name a path and never read outside what was published.
 */
import { statSync } from 'node:fs'
import { readdir, lstat } from 'node:fs/promises'
import { basename, join, relative, resolve, sep } from 'node:path'
import type { Identity } from '../crypto/identity.js'
import { toHex } from '../util/bytes.js'
import { ManifestError } from './errors.js'
import { hashFile } from './hasher.js'
import { DEFAULT_CHUNK_SIZE, encodeManifest, isValidChunkSize, manifestId, signManifest, type Manifest, type ManifestFile } from './manifest.js'
import { MerkleTree } from './merkle.js'
import { validateRelPath } from './paths.js'

export interface PublishedFile {
  abs: string
  tree: MerkleTree
  meta: ManifestFile
  /** Size and mtime when the file was hashed: serving re-hashes chunks when they differ. */
  stat?: { size: number; mtimeMs: number }
}
export interface Publication { id: Uint8Array; idHex: string; manifest: Manifest; encoded: Uint8Array; files: PublishedFile[] }

export interface PublishOptions {
  /** @default 1 MiB */
  chunkSize?: number
  /** @default basename of the path */
  contentId?: string
  /** @default 1 */
  version?: number
  /** @default Date.now() */
  now?: number
  signal?: AbortSignal
}

/** Lists regular files under `dir` (sorted, relative '/'-paths); symlinks are skipped, never followed. */
async function listFiles(dir: string, maxFiles: number): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true })
    for (const e of entries) {
      const p = join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else if (e.isFile()) {
        out.push(relative(dir, p).split(sep).join('/'))
        if (out.length > maxFiles) throw new ManifestError('too_many_files', `more than ${maxFiles} files under ${dir}`)
      }
    }
  }
  await walk(dir)
  return out.sort()
}

export class ContentStore {
  #pubs = new Map<string, Publication>()
  /** How many publications may be held. @default 4096 */
  readonly maxPublications: number
  constructor(init: { maxPublications?: number } = {}) { this.maxPublications = init.maxPublications ?? 4096 }

  get size(): number { return this.#pubs.size }
  get(id: Uint8Array | string): Publication | undefined { return this.#pubs.get(typeof id === 'string' ? id : toHex(id)) }
  list(): Publication[] { return [...this.#pubs.values()] }
  remove(id: Uint8Array | string): boolean { return this.#pubs.delete(typeof id === 'string' ? id : toHex(id)) }

  /** Hashes a file or directory, signs its manifest and adds it to the published set. */
  async publish(path: string, identity: Identity, opts: PublishOptions = {}): Promise<Publication> {
    const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE
    if (!isValidChunkSize(chunkSize)) throw new ManifestError('bad_chunk_size', `chunk size ${chunkSize} is not a power of two in 16 KiB..16 MiB`)
    const abs = resolve(path)
    const st = await lstat(abs)
    let entries: { rel: string; abs: string }[]
    if (st.isFile()) entries = [{ rel: validateRelPath(basename(abs)), abs }]
    else if (st.isDirectory()) entries = (await listFiles(abs, 65536)).map((rel) => ({ rel: validateRelPath(rel), abs: join(abs, ...rel.split('/')) }))
    else throw new ManifestError('not_publishable', `${path} is neither a regular file nor a directory`)
    if (entries.length === 0) throw new ManifestError('empty_publication', `${path} contains no files`)
    const files: PublishedFile[] = []
    for (const e of entries) {
      const before = statSync(e.abs)
      const d = await hashFile(e.abs, chunkSize, opts.signal ? { signal: opts.signal } : {})
      const after = statSync(e.abs)
      // edited while hashing: keep no stat, so every served chunk is re-hashed
      const stable = before.mtimeMs === after.mtimeMs && before.size === after.size
      files.push({ abs: e.abs, tree: new MerkleTree(d.leaves), meta: { path: e.rel, size: d.size, chunkSize, root: d.root, sha256: d.sha256 },
        ...(stable ? { stat: { size: after.size, mtimeMs: after.mtimeMs } } : {}) })
    }
    const manifest = signManifest({
      contentId: opts.contentId ?? basename(abs),
      version: opts.version ?? 1,
      files: files.map((f) => f.meta),
      created: opts.now ?? Date.now(),
    }, identity)
    return this.add(manifest, files.map((f) => ({ abs: f.abs, tree: f.tree, ...(f.stat ? { stat: f.stat } : {}) })))
  }

  /** Adds an already-built publication (e.g. a completed download that we now seed). */
  add(manifest: Manifest, files: { abs: string; tree: MerkleTree; stat?: { size: number; mtimeMs: number } }[]): Publication {
    if (files.length !== manifest.files.length) throw new ManifestError('bad_publication', 'file count mismatch')
    const encoded = encodeManifest(manifest)
    const id = manifestId(encoded)
    const idHex = toHex(id)
    const existing = this.#pubs.get(idHex)
    if (existing) return existing
    if (this.#pubs.size >= this.maxPublications) throw new ManifestError('too_many_publications', `already serving ${this.maxPublications} publications`)
    const pub: Publication = { id, idHex, manifest, encoded, files: files.map((f, i) => ({ ...f, meta: manifest.files[i]! })) }
    this.#pubs.set(idHex, pub)
    return pub
  }
}
