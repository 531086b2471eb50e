/**
 * The weights root of a model directory, shared by decoders (model cards, stage provers) and encoders (embedding
 * space keys): each *.safetensors file's content-layer Merkle root at the default chunk size (the root its manifest
 * lists, so a model fetched through the content layer is identified without rehashing), folded with its path and
 * size into one RFC 6962 root in path order.
 */
import { join } from 'node:path'
import { sha256 } from '../../crypto/hash.js'
import { hashFile } from '../../content/hasher.js'
import { DEFAULT_CHUNK_SIZE } from '../../content/manifest.js'
import { MerkleBuilder } from '../../content/merkle.js'

const te = new TextEncoder()

/** Folds per-file roots (path order) into the weights root. */
export function weightsRootOf(files: { path: string; size: number; root: Uint8Array }[]): Uint8Array {
  const b = new MerkleBuilder()
  for (const f of [...files].sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0))) {
    const p = te.encode(f.path)
    const size = new Uint8Array(8)
    new DataView(size.buffer).setBigUint64(0, BigInt(f.size))
    b.push(sha256(te.encode('ZEONE-CARD-FILE-v1'), new Uint8Array([p.length >> 8, p.length & 0xff]), p, size, f.root))
  }
  return b.root()
}

/** The weights root of `files` (names relative to `dir`), each hashed as the content layer's manifest does. */
export async function dirWeightsRoot(dir: string, files: string[]): Promise<Uint8Array> {
  const roots = await Promise.all(files.map(async (f) => {
    const d = await hashFile(join(dir, f), DEFAULT_CHUNK_SIZE, { wholeFile: false, workers: 0 })
    return { path: f, size: d.size, root: d.root }
  }))
  return weightsRootOf(roots)
}

/** The weights root a content manifest names: its *.safetensors files at the default chunk size, no rehashing. */
export function manifestWeightsRoot(files: { path: string; size: number; chunkSize: number; root: Uint8Array }[]): Uint8Array {
  const w = files.filter((f) => f.path.endsWith('.safetensors'))
  if (!w.length) throw new RangeError('the manifest lists no .safetensors file')
  if (w.some((f) => f.chunkSize !== DEFAULT_CHUNK_SIZE)) throw new RangeError(`weights roots are over ${DEFAULT_CHUNK_SIZE}-byte chunks`)
  return weightsRootOf(w)
}
