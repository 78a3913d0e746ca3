/**
 * The graph's precision hooks (GraphOptions.precision), kept out of the attention code: where float16 enters
 * and leaves. In 'fp32' every hook is the identity, so an fp32 graph is exactly the graph without them.
 *
 * 'fp16' (mixed precision, as GPU inference usually runs):
 * - projection and embedding weights are stored float16 (converted with a range check, half-weights.ts);
 * - linear(x) casts its float32 input to float16, multiplies by the float16 weight, casts the result back;
 * - the KV cache is float16 (graph inputs and outputs), Q·Kᵀ and P·V run in float16; Q is scaled by 1/√hd
 *   before its cast, so the scores cannot overflow where the float32 product would not;
 * - RMSNorm, RoPE, softmax, the residual stream, kv_bias, attention statistics and logits stay float32.
 */
import { type GraphBuilder, aInt } from './builder.ts';
import { DataType } from './onnx-proto.ts';

/** Weight and KV-cache precision of a built graph. */
export type Precision = 'fp32' | 'fp16';

export class PrecisionOps {
  readonly half: boolean;
  /** Element type of the KV cache inputs and outputs. */
  readonly kvType: number;

  constructor(
    private readonly g: GraphBuilder,
    precision: Precision,
  ) {
    this.half = precision === 'fp16';
    this.kvType = this.half ? DataType.FLOAT16 : DataType.FLOAT;
  }

  /** A projection or embedding matrix in the graph's weight precision. */
  matrix(name: string, data: Float32Array | Iterable<Float32Array>, dims: number[]): string {
    return this.g.weight(name, data, dims, this.half);
  }

  /** float32 → the KV precision (identity in fp32). */
  toKv(x: string): string {
    return this.half ? this.g.op('Cast', [x], { to: aInt(DataType.FLOAT16) }) : x;
  }

  /** The KV precision → float32 (identity in fp32). */
  toF32(x: string): string {
    return this.half ? this.g.op('Cast', [x], { to: aInt(DataType.FLOAT) }) : x;
  }

  /** x [N, in] (float32) · Wᵀ (+ b) → [N, out] float32; W is [out, in] in the weight precision, b float32. */
  linear(x: string, weight: string, bias: string | null): string {
    if (!this.half) return this.g.op('Gemm', bias ? [x, weight, bias] : [x, weight], { transB: aInt(1) });
    const y = this.toF32(this.g.op('Gemm', [this.toKv(x), weight], { transB: aInt(1) }));
    return bias ? this.g.op('Add', [y, bias]) : y;
  }

  /** Attention scores (Q·Kᵀ)·scale as float32; q float32, kT in the KV precision. */
  scores(q: string, kT: string, scale: string): string {
    if (!this.half) return this.g.op('Mul', [this.g.op('MatMul', [q, kT]), scale]);
    return this.toF32(this.g.op('MatMul', [this.toKv(this.g.op('Mul', [q, scale])), kT]));
  }
}
