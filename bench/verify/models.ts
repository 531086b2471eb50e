/**
 * The models of the verification bench, all self-made with seeded random weights (src/cortex/testing): the claimed
 * model, the same weights rounded to fp16 (an honest provider at another precision), another model of the same
 * shape (swapped), and the claimed model with one layer's weights perturbed (a single tampered layer).
 */
import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { Prng } from '../../src/cortex/sampling.js'
import { fromF32, SafetensorsFile, writeSafetensors, type WriteTensor } from '../../src/cortex/safetensors.js'
import { writeTinyModel, type TinyModelOptions } from '../../src/cortex/testing/tiny-model.js'

export interface BenchModels { claimed: string; fp16: string; swapped: string; tampered: string }

/** Copies `src` with every tensor of layer `layer` perturbed by relative noise `rel` (of each value's scale). */
export function tamperLayer(src: string, dst: string, layer: number, rel: number, seed = 99): void {
  mkdirSync(dst, { recursive: true })
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) { try { copyFileSync(join(src, f), join(dst, f)) } catch { /* optional */ } }
  const st = SafetensorsFile.open(join(src, 'model.safetensors'))
  const rng = new Prng(seed)
  const out: Record<string, WriteTensor> = {}
  try {
    for (const [name, info] of st.header.tensors) {
      const { data, shape } = st.readF32(name)
      if (new RegExp(`(^|\\.)(layers|h)\\.${layer}\\.`).test(name)) {
        let s = 0
        for (const v of data) s += v * v
        const std = Math.sqrt(s / data.length)
        for (let i = 0; i < data.length; i++) data[i] = data[i]! + rng.normal() * std * rel
      }
      out[name] = { dtype: 'F32', shape, data: fromF32(data, 'F32') }
      void info
    }
  } finally { st.close() }
  writeSafetensors(join(dst, 'model.safetensors'), out, { format: 'pt' })
}

export function writeBenchModels(root: string, o: Omit<TinyModelOptions, 'seed' | 'dtype'>, tamper: { layer: number; rel: number }): BenchModels {
  const m: BenchModels = { claimed: join(root, 'claimed'), fp16: join(root, 'fp16'), swapped: join(root, 'swapped'), tampered: join(root, 'tampered') }
  writeTinyModel(m.claimed, { ...o, seed: 11 })
  writeTinyModel(m.fp16, { ...o, seed: 11, dtype: 'F16' })
  writeTinyModel(m.swapped, { ...o, seed: 12 })
  tamperLayer(m.claimed, m.tampered, tamper.layer, tamper.rel)
  return m
}
