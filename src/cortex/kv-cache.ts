/**
 * Per-session KV cache for the 'buffer' stage graph. Per layer, K is held transposed ([KVH][Dh][cap]) so the graph
 * multiplies Q by it directly, V as [KVH][cap][Dh]; positions >= len are masked out by the graph's mask. The graph
 * reads the buffers in place (onnxruntime-node feeds a Float32Array without copying) and returns only the new rows,
 * which `write` stores at len: a decode step touches O(T) of the cache, never the whole of it. Capacity grows in
 * KV_CHUNK steps, so the copy on growth costs 1/KV_CHUNK of the cache per token, amortised.
 */

/** Capacity step in positions. */
export const KV_CHUNK = 64

export class KvBuffer {
  /** Valid positions. */
  len = 0
  /** Allocated positions (the C dim the graph sees). */
  cap = 0
  /** Per layer: K transposed [KVH][Dh][cap]. */
  readonly k: Float32Array[] = []
  /** Per layer: V [KVH][cap][Dh]. */
  readonly v: Float32Array[] = []

  constructor(readonly layers: number, readonly kvHeads: number, readonly headDim: number) {}

  /** Ensures room for `n` positions (at most `max`), keeping the first `len`. */
  reserve(n: number, max: number): void {
    if (n <= this.cap) return
    const cap = Math.max(n, Math.min(Math.ceil(n / KV_CHUNK) * KV_CHUNK, max))
    const { kvHeads: KVH, headDim: Dh, len } = this
    for (let l = 0; l < this.layers; l++) {
      const k = new Float32Array(KVH * Dh * cap), v = new Float32Array(KVH * cap * Dh)
      const ok = this.k[l], ov = this.v[l]
      if (ok && ov && len) {
        for (let r = 0; r < KVH * Dh; r++) k.set(ok.subarray(r * this.cap, r * this.cap + len), r * cap)
        for (let h = 0; h < KVH; h++) v.set(ov.subarray(h * this.cap * Dh, (h * this.cap + len) * Dh), h * cap * Dh)
      }
      this.k[l] = k
      this.v[l] = v
    }
    this.cap = cap
  }

  /**
   * Stores T new positions of layer `l` at [len, len+T): `nk`/`nv` are the graph's new_k/new_v outputs
   * [B][KVH][T][Dh], of which batch row `b` is this session's. Call `commit(T)` after every layer is written.
   */
  write(l: number, nk: Float32Array, nv: Float32Array, b: number, T: number): void {
    const { kvHeads: KVH, headDim: Dh, len, cap } = this
    const k = this.k[l]!, v = this.v[l]!
    for (let h = 0; h < KVH; h++) {
      const src = (b * KVH + h) * T * Dh
      v.set(nv.subarray(src, src + T * Dh), (h * cap + len) * Dh)
      for (let t = 0; t < T; t++) {
        const s = src + t * Dh
        for (let d = 0; d < Dh; d++) k[(h * Dh + d) * cap + len + t] = nk[s + d]!
      }
    }
  }

  commit(T: number): void { this.len += T }
}

/**
 * Gathers the valid positions of several caches into one batch buffer pair [B][KVH][Dh][C] / [B][KVH][C][Dh]
 * (C = the longest; `null` for a row without cache). This copy is the price of batching sessions whose caches live in
 * separate buffers; batch-1 decode feeds the session's own buffers and copies nothing.
 */
export function gatherBatch(caches: (KvBuffer | null)[], l: number, KVH: number, Dh: number, C: number): { k: Float32Array; v: Float32Array } {
  const B = caches.length
  const k = new Float32Array(B * KVH * Dh * C), v = new Float32Array(B * KVH * C * Dh)
  caches.forEach((c, b) => {
    if (!c || !c.len) return
    const ck = c.k[l]!, cv = c.v[l]!
    for (let r = 0; r < KVH * Dh; r++) k.set(ck.subarray(r * c.cap, r * c.cap + c.len), (b * KVH * Dh + r) * C)
    for (let h = 0; h < KVH; h++) v.set(cv.subarray(h * c.cap * Dh, (h * c.cap + c.len) * Dh), (b * KVH + h) * C * Dh)
  })
  return { k, v }
}
