/**
 * Minimal GGUF v3 writer for the node-llama-cpp baseline: a GPT-2 model read from our safetensors directory,
 * written as F32 or Q8_0 (blocks of 32 int8 with one f16 scale) with a synthetic byte-level vocabulary.
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import { ModelDir } from '../../src/cortex/model.js'
import { f32ToF16 } from '../../src/cortex/safetensors.js'
import { bytesToUnicode } from '../../src/cortex/tokenizer.js'
import { transpose } from '../../src/cortex/quant.js'

const T = { U32: 4, I32: 5, F32: 6, STRING: 8, ARRAY: 9 } as const
const GGML = { F32: 0, Q8_0: 8 } as const
const ALIGN = 32

class Buf {
  parts: Buffer[] = []
  len = 0
  push(b: Buffer): void { this.parts.push(b); this.len += b.length }
  u32(v: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b) }
  i32(v: number): void { const b = Buffer.alloc(4); b.writeInt32LE(v); this.push(b) }
  u64(v: number): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b) }
  f32(v: number): void { const b = Buffer.alloc(4); b.writeFloatLE(v); this.push(b) }
  str(s: string): void { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b) }
}

type Meta = [string, 'u32' | 'f32' | 'str' | 'strs' | 'i32s', number | string | string[] | number[]]

function q8(w: Float32Array): Buffer {
  const blocks = w.length / 32
  const out = Buffer.alloc(blocks * 34)
  for (let b = 0; b < blocks; b++) {
    let amax = 0
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(w[b * 32 + j]!))
    const d = amax / 127
    const inv = d ? 1 / d : 0
    out.writeUInt16LE(f32ToF16(d), b * 34)
    for (let j = 0; j < 32; j++) out.writeInt8(Math.max(-127, Math.min(127, Math.round(w[b * 32 + j]! * inv))), b * 34 + 2 + j)
  }
  return out
}

/** Writes `modelDir` (GPT-2 family) as GGUF at `path`. 2-D weights use `type`; norms, biases and positions stay F32. */
export function writeGpt2Gguf(modelDir: string, path: string, type: 'F32' | 'Q8_0'): void {
  const md = new ModelDir(modelDir)
  const c = md.config
  if (c.family !== 'gpt2') throw new Error('GGUF writer handles GPT-2 only')
  const D = c.hidden, F = c.intermediate, V = c.vocabSize
  const tensors: { name: string; ne: number[]; data: Float32Array; quant: boolean }[] = []
  const add = (name: string, data: Float32Array, ne: number[], quant = false): void => { tensors.push({ name, ne, data, quant: quant && type === 'Q8_0' }) }
  const wte = md.read('wte.weight').data
  add('token_embd.weight', wte, [D, V], true)
  add('position_embd.weight', md.read('wpe.weight').data, [D, c.maxPositions])
  for (let l = 0; l < c.layers; l++) {
    const r = (n: string): Float32Array => md.read(`h.${l}.${n}`).data
    add(`blk.${l}.attn_norm.weight`, r('ln_1.weight'), [D]); add(`blk.${l}.attn_norm.bias`, r('ln_1.bias'), [D])
    add(`blk.${l}.attn_qkv.weight`, transpose(r('attn.c_attn.weight'), D, 3 * D), [D, 3 * D], true); add(`blk.${l}.attn_qkv.bias`, r('attn.c_attn.bias'), [3 * D])
    add(`blk.${l}.attn_output.weight`, transpose(r('attn.c_proj.weight'), D, D), [D, D], true); add(`blk.${l}.attn_output.bias`, r('attn.c_proj.bias'), [D])
    add(`blk.${l}.ffn_norm.weight`, r('ln_2.weight'), [D]); add(`blk.${l}.ffn_norm.bias`, r('ln_2.bias'), [D])
    add(`blk.${l}.ffn_up.weight`, transpose(r('mlp.c_fc.weight'), D, F), [D, F], true); add(`blk.${l}.ffn_up.bias`, r('mlp.c_fc.bias'), [F])
    add(`blk.${l}.ffn_down.weight`, transpose(r('mlp.c_proj.weight'), F, D), [F, D], true); add(`blk.${l}.ffn_down.bias`, r('mlp.c_proj.bias'), [D])
  }
  add('output_norm.weight', md.read('ln_f.weight').data, [D]); add('output_norm.bias', md.read('ln_f.bias').data, [D])
  add('output.weight', wte, [D, V], true)
  md.close()

  // synthetic byte-level vocabulary: 256 byte symbols, then unique multi-symbol tokens, then <|endoftext|>
  const b2u = bytesToUnicode()
  const tokens = b2u.slice()
  const letters = 'abcdefghijklmnopqrstuvwxyz'
  for (let i = 0; tokens.length < V - 1; i++) {
    let s = '', n = i
    do { s = letters[n % 26] + s; n = Math.floor(n / 26) - 1 } while (n >= 0)
    tokens.push(`\u0120${s}`)
  }
  tokens.push('<|endoftext|>')
  const types = tokens.map((_, i) => (i === V - 1 ? 3 : 1))
  const merges = letters.split('').map((ch) => `\u0120 ${ch}`)
  const meta: Meta[] = [
    ['general.architecture', 'str', 'gpt2'], ['general.name', 'str', 'zeone-bench-gpt2'], ['general.alignment', 'u32', ALIGN],
    ['general.file_type', 'u32', type === 'F32' ? 0 : 7],
    ['gpt2.context_length', 'u32', c.maxPositions], ['gpt2.embedding_length', 'u32', D], ['gpt2.feed_forward_length', 'u32', F],
    ['gpt2.block_count', 'u32', c.layers], ['gpt2.attention.head_count', 'u32', c.heads], ['gpt2.attention.layer_norm_epsilon', 'f32', c.eps],
    ['tokenizer.ggml.model', 'str', 'gpt2'], ['tokenizer.ggml.pre', 'str', 'gpt-2'], ['tokenizer.ggml.tokens', 'strs', tokens],
    ['tokenizer.ggml.token_type', 'i32s', types], ['tokenizer.ggml.merges', 'strs', merges],
    ['tokenizer.ggml.bos_token_id', 'u32', V - 1], ['tokenizer.ggml.eos_token_id', 'u32', V - 1],
  ]
  const h = new Buf()
  h.push(Buffer.from('GGUF', 'latin1')); h.u32(3); h.u64(tensors.length); h.u64(meta.length)
  for (const [k, t, v] of meta) {
    h.str(k)
    if (t === 'u32') { h.u32(T.U32); h.u32(v as number) } else if (t === 'f32') { h.u32(T.F32); h.f32(v as number) } else if (t === 'str') { h.u32(T.STRING); h.str(v as string) } else if (t === 'strs') {
      h.u32(T.ARRAY); h.u32(T.STRING); h.u64((v as string[]).length); for (const s of v as string[]) h.str(s)
    } else { h.u32(T.ARRAY); h.u32(T.I32); h.u64((v as number[]).length); for (const x of v as number[]) h.i32(x) }
  }
  const blobs = tensors.map((t) => (t.quant ? q8(t.data) : Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)))
  let off = 0
  tensors.forEach((t, i) => {
    h.str(t.name); h.u32(t.ne.length); for (const d of t.ne) h.u64(d)
    h.u32(t.quant ? GGML.Q8_0 : GGML.F32); h.u64(off)
    off += Math.ceil(blobs[i]!.length / ALIGN) * ALIGN
  })
  const fd = openSync(path, 'w')
  try {
    const head = Buffer.concat(h.parts)
    writeSync(fd, head)
    writeSync(fd, Buffer.alloc((ALIGN - (head.length % ALIGN)) % ALIGN))
    for (const b of blobs) { writeSync(fd, b); writeSync(fd, Buffer.alloc((ALIGN - (b.length % ALIGN)) % ALIGN)) }
  } finally { closeSync(fd) }
}
