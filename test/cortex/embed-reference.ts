/**
 * An ONNX export of BertModel written independently of the engine's encoder graph, in the shape `torch.onnx.export`
 * gives it (inputs input_ids / attention_mask / token_type_ids, output last_hidden_state; positions from Range;
 * LayerNorm and erf-GELU written out as elementwise ops; the mask as HF's (1 - mask) * finfo(float32).min; weights
 * in nn.Linear [out,in] layout multiplied through a Transpose node). transformers.js runs it as onnx/model.onnx and
 * does its own tokenizing, mean pooling and normalising: the oracle for the engine's embeddings.
 * It shares only the protobuf serialiser (onnx-builder.ts) with the engine.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DT, GraphBuilder } from '../../src/cortex/onnx-builder.js'
import { SafetensorsFile } from '../../src/cortex/safetensors.js'

export function writeReferenceOnnx(dir: string): void {
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, number>
  const sf = SafetensorsFile.open(join(dir, 'model.safetensors'))
  const names = [...sf.header.tensors.keys()]
  const pre = names.some((n) => n.startsWith('bert.')) ? 'bert.' : ''
  const g = new GraphBuilder()
  const W = (name: string): string => {
    const t = sf.readF32(pre + name)
    return g.f32(`w.${name}`, t.shape, t.data)
  }
  const D = cfg.hidden_size!, H = cfg.num_attention_heads!, Dh = D / H, eps = cfg.layer_norm_eps ?? 1e-12
  const ids = g.input('input_ids', DT.INT64, ['batch', 'seq'])
  const am = g.input('attention_mask', DT.INT64, ['batch', 'seq'])
  const tt = g.input('token_type_ids', DT.INT64, ['batch', 'seq'])
  const seqLen = g.o('Squeeze', [g.o('Shape', [ids], { start: 1, end: 2 }), g.i64([0])])
  const zero = g.init('zero', DT.INT64, [], new Uint8Array(new BigInt64Array([0n]).buffer))
  const one = g.init('one', DT.INT64, [], new Uint8Array(new BigInt64Array([1n]).buffer))
  const positions = g.o('Unsqueeze', [g.o('Range', [zero, seqLen, one]), g.i64([0])])
  const ln = (x: string, p: string): string => {
    const mu = g.o('ReduceMean', [x, g.i64([-1])], { keepdims: 1 })
    const d = g.o('Sub', [x, mu])
    const va = g.o('ReduceMean', [g.o('Pow', [d, g.scalar(2)]), g.i64([-1])], { keepdims: 1 })
    return g.o('Add', [g.o('Mul', [g.o('Div', [d, g.o('Sqrt', [g.o('Add', [va, g.scalar(eps)])])]), W(`${p}.weight`)]), W(`${p}.bias`)])
  }
  const lin = (x: string, p: string): string => g.o('Add', [g.o('MatMul', [x, g.o('Transpose', [W(`${p}.weight`)], { perm: [1, 0] })]), W(`${p}.bias`)])
  const split = (x: string): string => g.o('Transpose', [g.o('Reshape', [x, g.i64([0, 0, H, Dh])])], { perm: [0, 2, 1, 3] })
  let x = g.o('Add', [g.o('Add', [g.o('Gather', [W('embeddings.word_embeddings.weight'), ids]), g.o('Gather', [W('embeddings.token_type_embeddings.weight'), tt])]),
    g.o('Gather', [W('embeddings.position_embeddings.weight'), positions])])
  x = ln(x, 'embeddings.LayerNorm')
  const ext = g.o('Mul', [g.o('Sub', [g.scalar(1), g.o('Cast', [g.o('Unsqueeze', [am, g.i64([1, 2])])], { to: DT.FLOAT })]), g.scalar(-3.4028234663852886e38)])
  for (let l = 0; l < cfg.num_hidden_layers!; l++) {
    const p = `encoder.layer.${l}.`
    const q = split(lin(x, `${p}attention.self.query`)), k = split(lin(x, `${p}attention.self.key`)), v = split(lin(x, `${p}attention.self.value`))
    const s = g.o('Add', [g.o('Div', [g.o('MatMul', [q, g.o('Transpose', [k], { perm: [0, 1, 3, 2] })]), g.scalar(Math.sqrt(Dh))]), ext])
    const c = g.o('Reshape', [g.o('Transpose', [g.o('MatMul', [g.o('Softmax', [s], { axis: 3 }), v])], { perm: [0, 2, 1, 3] }), g.i64([0, 0, D])])
    x = ln(g.o('Add', [lin(c, `${p}attention.output.dense`), x]), `${p}attention.output.LayerNorm`)
    const h = lin(x, `${p}intermediate.dense`)
    const gelu = g.o('Mul', [g.o('Mul', [h, g.scalar(0.5)]), g.o('Add', [g.scalar(1), g.o('Erf', [g.o('Div', [h, g.scalar(Math.SQRT2)])])])])
    x = ln(g.o('Add', [lin(gelu, `${p}output.dense`), x]), `${p}output.LayerNorm`)
  }
  sf.close()
  g.alias(x, 'last_hidden_state')
  g.output('last_hidden_state', DT.FLOAT, ['batch', 'seq', D])
  mkdirSync(join(dir, 'onnx'), { recursive: true })
  writeFileSync(join(dir, 'onnx', 'model.onnx'), g.toBytes())
}
