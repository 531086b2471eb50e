/**
 * Identities for the simulator, made with the node's own code: Ed25519 keys from seeds, kept only when they solve the
 * S/Kademlia static puzzle (`staticPuzzleBits`, the check every table admission makes), each with its dynamic puzzle
 * solved by `solveDynamicPuzzle`. Deterministic (seeded) and cached across runs of one process, since making them is
 * the expensive part. `grind` is the eclipse attacker's work: try keys until ids land next to the target keys.
 */
import { Identity, staticPuzzleBits } from '../../crypto/identity.js'
import { compareDistance } from '../id.js'
import { solveDynamicPuzzle } from '../puzzle.js'

/** Small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface SimIdentity { identity: Identity; puzzle: Uint8Array }

/** An endless deterministic sequence of puzzle-solving identities; `take(n)` hands out the next n. */
export class IdentityPool {
  readonly #all: SimIdentity[] = []
  readonly #rand: () => number
  tries = 0

  constructor(readonly staticBits: number, readonly dynamicBits: number, seed = 0x5eed) { this.#rand = prng(seed) }

  /** The identity at position i (made on first use). */
  at(i: number): SimIdentity {
    while (this.#all.length <= i) this.#all.push(this.#mint())
    return this.#all[i]!
  }

  #mint(): SimIdentity {
    const s = new Uint8Array(32)
    for (;;) {
      for (let i = 0; i < 32; i++) s[i] = Math.floor(this.#rand() * 256)
      this.tries++
      const identity = Identity.fromSeed(s.slice())
      if (staticPuzzleBits(identity.publicKey) < this.staticBits) continue
      return { identity, puzzle: solveDynamicPuzzle(identity.dhtId, this.dynamicBits) }
    }
  }
}

export interface GrindResult {
  /** Per target key, the puzzle-solving ids found closest to it, closest first (at most `perKey`). */
  byKey: SimIdentity[][]
  /** Keys generated (the attacker's compute). */
  tries: number
}

/**
 * The eclipse attacker's compute: `budget` key generations shared by the whole attacker fleet. Every key that
 * solves the static puzzle is a usable identity; each is kept for the target key it is closest to, and each key
 * keeps its `perKey` closest (what an attacker that chooses its ids would do with that much work).
 */
export function grind(keys: Uint8Array[], budget: number, perKey: number, staticBits: number, dynamicBits: number, seed = 0xec1): GrindResult {
  const rand = prng(seed)
  const best: Identity[][] = keys.map(() => [])
  const s = new Uint8Array(32)
  // keep roughly the 4 * perKey closest per key while grinding, then sort: an id needs about log2(valid / perKey)
  // leading bits in common with its key to make the cut
  const valid = budget / 2 ** staticBits
  const keepBits = Math.max(0, Math.floor(Math.log2(Math.max(1, valid / (4 * perKey)))))
  for (let t = 0; t < budget; t++) {
    for (let i = 0; i < 32; i++) s[i] = Math.floor(rand() * 256)
    const id = Identity.fromSeed(s.slice())
    if (staticPuzzleBits(id.publicKey) < staticBits) continue
    // an id serves the key it shares the longest prefix with
    let bestKey = -1
    let bestBits = keepBits - 1
    for (let k = 0; k < keys.length; k++) {
      const b = prefixBits(id.dhtId, keys[k]!)
      if (b > bestBits) { bestBits = b; bestKey = k }
    }
    if (bestKey >= 0) best[bestKey]!.push(id)
  }
  const byKey = best.map((ids, k) => ids
    .sort((a, b) => compareDistance(a.dhtId, b.dhtId, keys[k]!))
    .slice(0, perKey)
    .map((identity) => ({ identity, puzzle: solveDynamicPuzzle(identity.dhtId, dynamicBits) })))
  return { byKey, tries: budget }
}

function prefixBits(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.byteLength; i++) {
    const x = a[i]! ^ b[i]!
    if (x !== 0) return i * 8 + Math.clz32(x) - 24
  }
  return a.byteLength * 8
}
