/** A minimal ONNX graph builder over onnx-proto (IR 10, opset 21, plus the com.microsoft contrib domain). */
import onnxProto from 'onnx-proto'

const { onnx } = onnxProto
export const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7 } as const
export type Dim = number | string
type Attr = number | number[] | string | { floats: number[] } | { f: number }

export class GraphBuilder {
  #nodes: onnxProto.onnx.INodeProto[] = []
  #inits: onnxProto.onnx.ITensorProto[] = []
  #inputs: onnxProto.onnx.IValueInfoProto[] = []
  #outputs: onnxProto.onnx.IValueInfoProto[] = []
  #n = 0
  #usesMs = false

  input(name: string, elemType: number, dims: Dim[]): string {
    this.#inputs.push(valueInfo(name, elemType, dims))
    return name
  }

  output(name: string, elemType: number, dims: Dim[]): void {
    this.#outputs.push(valueInfo(name, elemType, dims))
  }

  /** Adds an initializer holding raw little-endian bytes. */
  init(name: string, elemType: number, dims: number[], raw: Uint8Array): string {
    this.#inits.push({ name, dataType: elemType, dims, rawData: raw })
    return name
  }

  f32(name: string, dims: number[], data: Float32Array): string {
    return this.init(name, DT.FLOAT, dims, new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
  }

  i64(values: number[]): string {
    const b = new BigInt64Array(values.map((v) => BigInt(v)))
    return this.init(`c${this.#n++}`, DT.INT64, [values.length], new Uint8Array(b.buffer))
  }

  scalar(v: number): string {
    return this.init(`c${this.#n++}`, DT.FLOAT, [], new Uint8Array(new Float32Array([v]).buffer))
  }

  /** Adds a node and returns its output names. */
  op(type: string, inputs: string[], attrs: Record<string, Attr> = {}, nOut = 1, domain = ''): string[] {
    if (domain === 'com.microsoft') this.#usesMs = true
    const outs = Array.from({ length: nOut }, () => `t${this.#n++}`)
    const attribute = Object.entries(attrs).map(([name, v]) => attrProto(name, v))
    this.#nodes.push({ opType: type, input: inputs, output: outs, attribute, domain, name: `n${this.#n++}` })
    return outs
  }

  /** One-output shorthand. */
  o(type: string, inputs: string[], attrs: Record<string, Attr> = {}, domain = ''): string {
    return this.op(type, inputs, attrs, 1, domain)[0]!
  }

  /** Renames a value to a graph output name via Identity. */
  alias(src: string, name: string): void {
    this.#nodes.push({ opType: 'Identity', input: [src], output: [name], name: `n${this.#n++}` })
  }

  toBytes(): Uint8Array {
    const opsetImport = [{ domain: '', version: 21 }]
    if (this.#usesMs) opsetImport.push({ domain: 'com.microsoft', version: 1 })
    const model = onnx.ModelProto.create({
      irVersion: 10, producerName: 'zeone-cortex', opsetImport,
      graph: { name: 'stage', node: this.#nodes, initializer: this.#inits, input: this.#inputs, output: this.#outputs },
    })
    return onnx.ModelProto.encode(model).finish()
  }
}

function valueInfo(name: string, elemType: number, dims: Dim[]): onnxProto.onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } }
}

function attrProto(name: string, v: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType
  if (typeof v === 'number') return { name, type: T.INT, i: v }
  if (typeof v === 'string') return { name, type: T.STRING, s: Buffer.from(v, 'utf8') }
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v }
  if ('f' in v) return { name, type: T.FLOAT, f: v.f }
  return { name, type: T.FLOATS, floats: v.floats }
}
