/**
 * RFC 6962 / RFC 9162 Merkle trees over SHA-256 (docs/protocol/content.md §"Merkle tree").
 *
 *   leaf  = SHA-256(0x00 || chunk)
 *   node  = SHA-256(0x01 || left || right)
 *   MTH({})     = SHA-256("")
 *   MTH(D[n])   = node(MTH(D[0:k]), MTH(D[k:n])), k = the largest power of two < n (no duplicated last node)
 *
 * Inclusion proofs are the RFC 9162 audit path; verification is bound to (index, leaf count), so a proof for one
 * index never verifies at another and a proof of the wrong length is refused.
 */
import { createHash } from 'node:crypto'
import { MerkleError } from './errors.js'

export const HASH_BYTES = 32
const LEAF_PREFIX = new Uint8Array([0x00])
const NODE_PREFIX = new Uint8Array([0x01])
/** Longest possible audit path: leaf counts are below 2^53, but we bound proofs to 64 hashes. */
export const MAX_PROOF_HASHES = 64

export function leafHash(chunk: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(LEAF_PREFIX).update(chunk).digest())
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest())
}

export function emptyRoot(): Uint8Array {
  return new Uint8Array(createHash('sha256').digest())
}

/** Largest power of two strictly below n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/**
 * Streaming root computation: push leaf hashes in order, O(log n) memory. Complete subtrees are merged as soon as
 * two of equal size meet; at the end the remaining perfect subtrees (sizes = the binary digits of n) fold right to
 * left, which is exactly the RFC 6962 left-balanced split.
 */
export class MerkleBuilder {
  #stack: { size: number; hash: Uint8Array }[] = []
  #count = 0

  get count(): number { return this.#count }

  push(leaf: Uint8Array): void {
    if (leaf.byteLength !== HASH_BYTES) throw new MerkleError('bad_hash', 'leaf hash must be 32 bytes')
    let top = { size: 1, hash: leaf }
    while (this.#stack.length > 0 && this.#stack[this.#stack.length - 1]!.size === top.size) {
      const left = this.#stack.pop()!
      top = { size: left.size * 2, hash: nodeHash(left.hash, top.hash) }
    }
    this.#stack.push(top)
    this.#count++
  }

  root(): Uint8Array {
    if (this.#stack.length === 0) return emptyRoot()
    let h = this.#stack[this.#stack.length - 1]!.hash
    for (let i = this.#stack.length - 2; i >= 0; i--) h = nodeHash(this.#stack[i]!.hash, h)
    return h
  }
}

/** Root of a list of leaf hashes given as one contiguous buffer of n*32 bytes. */
export function rootOfLeafHashes(leaves: Uint8Array): Uint8Array {
  if (leaves.byteLength % HASH_BYTES !== 0) throw new MerkleError('bad_hash', 'leaf hash buffer is not a multiple of 32 bytes')
  const b = new MerkleBuilder()
  for (let off = 0; off < leaves.byteLength; off += HASH_BYTES) b.push(leaves.subarray(off, off + HASH_BYTES))
  return b.root()
}

/**
 * A whole tree kept as one contiguous buffer per level of perfect subtrees (about 2n hashes in total): serves
 * inclusion proofs in O(log^2 n) without recomputing the tree. Used by the serving side.
 */
export class MerkleTree {
  readonly leafCount: number
  /** levels[h] holds the roots of the perfect subtrees of size 2^h that start at multiples of 2^h. */
  readonly #levels: Uint8Array[]
  readonly root: Uint8Array

  constructor(leaves: Uint8Array) {
    if (leaves.byteLength % HASH_BYTES !== 0) throw new MerkleError('bad_hash', 'leaf hash buffer is not a multiple of 32 bytes')
    this.leafCount = leaves.byteLength / HASH_BYTES
    this.#levels = [leaves]
    let cur = leaves
    while (cur.byteLength >= 2 * HASH_BYTES) {
      const pairs = Math.floor(cur.byteLength / (2 * HASH_BYTES))
      const next = new Uint8Array(pairs * HASH_BYTES)
      for (let i = 0; i < pairs; i++) {
        next.set(nodeHash(cur.subarray(2 * i * HASH_BYTES, (2 * i + 1) * HASH_BYTES), cur.subarray((2 * i + 1) * HASH_BYTES, (2 * i + 2) * HASH_BYTES)), i * HASH_BYTES)
      }
      this.#levels.push(next)
      cur = next
    }
    this.root = this.leafCount === 0 ? emptyRoot() : this.#rangeRoot(0, this.leafCount)
  }

  leaf(i: number): Uint8Array {
    if (!Number.isInteger(i) || i < 0 || i >= this.leafCount) throw new MerkleError('bad_index', `leaf index ${i} out of range`)
    return this.#levels[0]!.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES)
  }

  /** Leaf hashes [start, start+count) as one buffer (a view: do not mutate). */
  leaves(start: number, count: number): Uint8Array {
    const end = Math.min(this.leafCount, start + count)
    if (start < 0 || start > end) throw new MerkleError('bad_index', 'leaf range out of bounds')
    return this.#levels[0]!.subarray(start * HASH_BYTES, end * HASH_BYTES)
  }

  /** RFC 6962 PATH(index, D[n]), leaf-to-root order. */
  proof(index: number): Uint8Array[] {
    if (!Number.isInteger(index) || index < 0 || index >= this.leafCount) throw new MerkleError('bad_index', `leaf index ${index} out of range`)
    const out: Uint8Array[] = []
    let start = 0
    let end = this.leafCount
    let m = index
    // walk down from the root, collecting siblings, then reverse to leaf-to-root order
    while (end - start > 1) {
      const k = splitPoint(end - start)
      if (m < k) {
        out.push(this.#rangeRoot(start + k, end))
        end = start + k
      } else {
        out.push(this.#rangeRoot(start, start + k))
        start += k
        m -= k
      }
    }
    return out.reverse()
  }

  #rangeRoot(start: number, end: number): Uint8Array {
    const n = end - start
    if ((n & (n - 1)) === 0 && start % n === 0) {
      const h = Math.log2(n)
      const off = (start / n) * HASH_BYTES
      return this.#levels[h]!.subarray(off, off + HASH_BYTES)
    }
    const k = splitPoint(n)
    return nodeHash(this.#rangeRoot(start, start + k), this.#rangeRoot(start + k, end))
  }
}

/**
 * RFC 9162 §2.1.3.2: verifies that `leaf` is at `index` of a tree of `leafCount` leaves with root `root`.
 * Returns false (never throws) for any mismatch, including a proof of the wrong length.
 */
export function verifyInclusion(leaf: Uint8Array, index: number, leafCount: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(leafCount) || index < 0 || index >= leafCount) return false
  if (proof.length > MAX_PROOF_HASHES || leaf.byteLength !== HASH_BYTES || root.byteLength !== HASH_BYTES) return false
  let fn = index
  let sn = leafCount - 1
  let r = leaf
  for (const p of proof) {
    if (p.byteLength !== HASH_BYTES || sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2) }
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && equal(r, root)
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  let d = 0
  for (let i = 0; i < a.byteLength; i++) d |= a[i]! ^ b[i]!
  return d === 0
}
