/**
 * A small ONNX graph writer: nodes, graph inputs/outputs, inline constants and weights stored as external
 * data (raw little-endian bytes at 64-byte aligned offsets in one file beside the model).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { AttrType, DataType, ModelProto } from './onnx-proto.ts';
import { toF16Checked } from './half-weights.ts';

export type Dim = number | string; // a fixed size or a symbolic (dim_param) name
export type Attr = { kind: 'int'; v: number } | { kind: 'ints'; v: number[] } | { kind: 'float'; v: number } | { kind: 'tensor'; v: object };

export const aInt = (v: number): Attr => ({ kind: 'int', v });
export const aInts = (v: number[]): Attr => ({ kind: 'ints', v });

const ALIGN = 64;

function bytesOf(a: Float32Array | BigInt64Array | Int32Array | Uint16Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

interface ExternalChunk {
  bytes: Uint8Array;
  offset: number;
}

export class GraphBuilder {
  private readonly nodes: object[] = [];
  private readonly initializers: object[] = [];
  private readonly inputs: object[] = [];
  private readonly outputs: object[] = [];
  private readonly external: ExternalChunk[] = [];
  private externalEnd = 0;
  private counter = 0;
  private readonly int64Cache = new Map<string, string>();
  private sinkFd: number | null = null;

  /** `externalFile`: file name (relative to the model) that holds the weights. */
  constructor(readonly externalFile: string) {}

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** Adds a node; returns its output names (`nOut` of them). */
  opN(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, nOut = 1): string[] {
    const outs = Array.from({ length: nOut }, () => this.fresh(opType));
    const attribute = Object.entries(attrs).map(([name, a]) => {
      switch (a.kind) {
        case 'int':
          return { name, type: AttrType.INT, i: a.v };
        case 'ints':
          return { name, type: AttrType.INTS, ints: a.v };
        case 'float':
          return { name, type: AttrType.FLOAT, f: a.v };
        case 'tensor':
          return { name, type: AttrType.TENSOR, t: a.v };
      }
    });
    this.nodes.push({ op_type: opType, input: inputs, output: outs, name: outs[0], attribute, domain: '' });
    return outs;
  }

  /** Adds a node whose outputs get the given names (graph-visible ones) or fresh names where null; returns them. */
  opNamed(opType: string, inputs: string[], attrs: Record<string, Attr>, names: (string | null)[]): string[] {
    const [first] = this.opN(opType, inputs, attrs, names.length);
    const node = this.nodes[this.nodes.length - 1] as { output: string[]; name: string };
    node.output = node.output.map((o, i) => names[i] ?? o);
    node.name = `${first}_${names.filter(Boolean).join('_')}`;
    return node.output;
  }

  /** Adds a single-output node; returns the output name. */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.opN(opType, inputs, attrs, 1)[0];
  }

  /** Adds a single-output node whose output has the given (graph-visible) name. */
  opTo(out: string, opType: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    const [tmp] = this.opN(opType, inputs, attrs, 1);
    const node = this.nodes[this.nodes.length - 1] as { output: string[]; name: string };
    node.output = [out];
    node.name = `${tmp}_${out}`;
    return out;
  }

  /** Renames the output of the last node that produced `from` to the graph-visible name `to` (via Identity). */
  alias(from: string, to: string): string {
    this.nodes.push({ op_type: 'Identity', input: [from], output: [to], name: `id_${to}`, attribute: [], domain: '' });
    return to;
  }

  /**
   * A weight stored in the external data file: float32, or float16 (`half`) converted here with a range check
   * (a value beyond ±65504 is an error naming the tensor, never a silent ±Inf). `data` may be a list of chunks
   * (row blocks in order) so a large tensor never exists whole in float32.
   */
  weight(name: string, data: Float32Array | Iterable<Float32Array>, dims: number[], half = false): string {
    const offset = Math.ceil(this.externalEnd / ALIGN) * ALIGN;
    const expected = dims.reduce((a, b) => a * b, 1) * (half ? 2 : 4);
    let length = 0;
    const chunks = data instanceof Float32Array ? [data] : data;
    for (const chunk of chunks) {
      // a streamed source may reuse its chunk buffer: buffered mode keeps a copy of float32 chunks then
      const bytes = half ? bytesOf(toF16Checked(chunk, name)) : chunks === data && this.sinkFd === null ? bytesOf(chunk).slice() : bytesOf(chunk);
      this.putExternal(bytes, offset + length);
      length += bytes.byteLength;
    }
    if (length !== expected) throw new Error(`internal: weight ${name} has ${length} bytes, dims ${dims.join('x')} need ${expected}`);
    this.externalEnd = offset + length;
    this.initializers.push({
      name,
      dims,
      data_type: half ? DataType.FLOAT16 : DataType.FLOAT,
      data_location: 1,
      external_data: [
        { key: 'location', value: this.externalFile },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(length) },
      ],
    });
    return name;
  }

  /**
   * Writes external data straight to `path` from now on (each weight as it is added), so building a graph never
   * holds more than one weight chunk; `finishExternalData()` closes the file. Without it, weights are kept
   * until `writeExternalData`.
   */
  streamExternalData(path: string): void {
    if (this.external.length > 0 || this.sinkFd !== null) throw new Error('internal: streamExternalData must be called before any weight');
    this.sinkFd = openSync(path, 'w');
  }

  /** Closes the streamed external data file; returns its size in bytes. */
  finishExternalData(): number {
    if (this.sinkFd === null) throw new Error('internal: finishExternalData without streamExternalData');
    closeSync(this.sinkFd);
    this.sinkFd = null;
    return this.externalEnd;
  }

  private putExternal(bytes: Uint8Array, offset: number): void {
    if (this.sinkFd === null) {
      this.external.push({ bytes, offset });
      return;
    }
    let written = 0;
    while (written < bytes.byteLength) written += writeSync(this.sinkFd, bytes, written, bytes.byteLength - written, offset + written);
  }

  /** An inline int64 constant (deduplicated). */
  int64(values: number[], dims: number[] = [values.length]): string {
    const key = `${dims.join('x')}:${values.join(',')}`;
    const hit = this.int64Cache.get(key);
    if (hit) return hit;
    const name = this.fresh('c_i64');
    const raw = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims, data_type: DataType.INT64, raw_data: bytesOf(raw) });
    this.int64Cache.set(key, name);
    return name;
  }

  /** An inline int64 scalar (0-d). */
  int64Scalar(v: number): string {
    return this.int64([v], []);
  }

  /** An inline int32 scalar (0-d). */
  int32Scalar(v: number): string {
    const name = this.fresh('c_i32');
    this.initializers.push({ name, dims: [], data_type: DataType.INT32, raw_data: bytesOf(Int32Array.of(v)) });
    return name;
  }

  /** An inline float32 constant. */
  float32(values: ArrayLike<number>, dims: number[]): string {
    const name = this.fresh('c_f32');
    this.initializers.push({ name, dims, data_type: DataType.FLOAT, raw_data: bytesOf(Float32Array.from(values)) });
    return name;
  }

  /** A float32 tensor value for attributes such as ConstantOfShape's `value`. */
  static floatTensorAttr(v: number): Attr {
    return { kind: 'tensor', v: { dims: [1], data_type: DataType.FLOAT, raw_data: bytesOf(Float32Array.of(v)) } };
  }

  private valueInfo(name: string, elemType: number, dims: Dim[]): object {
    return {
      name,
      type: {
        tensor_type: {
          elem_type: elemType,
          shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
        },
      },
    };
  }

  input(name: string, elemType: number, dims: Dim[]): string {
    this.inputs.push(this.valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: number, dims: Dim[]): void {
    this.outputs.push(this.valueInfo(name, elemType, dims));
  }

  /** Serialises the model protobuf. */
  encodeModel(opts: { opset: number; irVersion: number; metadata: Record<string, string> }): Uint8Array {
    const model = {
      ir_version: opts.irVersion,
      producer_name: 'kvopt',
      producer_version: '0.1.0',
      opset_import: [{ domain: '', version: opts.opset }],
      metadata_props: Object.entries(opts.metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name: 'kvopt_decoder',
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
    const err = ModelProto.verify(model);
    if (err) throw new Error(`internal: ONNX model does not verify: ${err}`);
    return ModelProto.encode(ModelProto.fromObject(model)).finish();
  }

  /** Writes the external data file (weights at their aligned offsets). */
  writeExternalData(path: string): number {
    const fd = openSync(path, 'w');
    try {
      let pos = 0;
      const zeros = new Uint8Array(ALIGN);
      for (const c of this.external) {
        if (c.offset > pos) writeSync(fd, zeros, 0, c.offset - pos, pos);
        let written = 0;
        while (written < c.bytes.byteLength) {
          written += writeSync(fd, c.bytes, written, c.bytes.byteLength - written, c.offset + written);
        }
        pos = c.offset + c.bytes.byteLength;
      }
      return pos;
    } finally {
      closeSync(fd);
    }
  }
}
