/**
 * The value-output norm graphs (CriticalKV / DefensiveKV): for one layer, KV head k and token j,
 *   n_kj = (1/G) Σ_g ||v_kj · W_o^(kG+g)||_1,   W_o^(h) = columns h·hd..(h+1)·hd of o_proj ([D, H·hd]).
 * One batched MatMul per layer ([Hkv,1,n,hd] × [Hkv,G,hd,D]) instead of scalar JavaScript.
 *
 * Why graphs of their own and not an output of the decoder graph: onnxruntime computes every output at every run
 * (node-stack-notes §1.3), so an extra decoder output would cost a D×D-sized product per layer at every decode
 * step. Neither graph holds weights: o_proj is an input (no second copy of the weights in a graph file).
 *
 * host     (CPU provider) computes in float64, as the JavaScript reference does, so scores and the rankings built
 *          from them match the reference to rounding (~1e-15), not to float32 (~1e-7). o_proj is the model's own
 *          Float32Array.
 *          inputs   values [Hkv, n, hd] f32 (one layer of a host cache), wo [D, H·hd] f32
 *          output   norms [Hkv, n] f64
 * device   (WebGPU, which has no float64) computes in float32 from a prefill's device-resident V, so the cache
 *          never comes down for the norms; W_o comes per head, as the device copy made once per session
 *          (woHeadsOf), and token range [start, end) bounds the [Hkv, G, n, D] intermediate.
 *          inputs   values [1, Hkv, T, hd] in the KV precision (a layer of PrefillRecord.device),
 *                   wo_heads [Hkv, G, hd, D] f32, start / end int64 [1]
 *          output   norms [Hkv, end − start] f32
 */
import type { ModelSpec } from '../model/spec.ts';
import { GraphBuilder, aInt, aInts } from './builder.ts';
import { DataType } from './onnx-proto.ts';
import { IR_VERSION, OPSET } from './llama.ts';
import type { Precision } from './precision.ts';

/** The norms [Hkv, n] of v [Hkv, 1, n, hd] and W_o per head [Hkv, G, hd, D], in their (common) float type. */
function normsOf(g: GraphBuilder, v: string, woHeads: string): void {
  const projected = g.op('MatMul', [v, woHeads]); // [Hkv,G,n,D]
  const l1 = g.op('ReduceSum', [g.op('Abs', [projected]), g.int64([3])], { keepdims: aInt(0) }); // [Hkv,G,n]
  g.opTo('norms', 'ReduceMean', [l1, g.int64([1])], { keepdims: aInt(0) }); // [Hkv,n]
}

export function buildValueNormGraph(spec: ModelSpec): Uint8Array {
  const { numHeads: H, numKvHeads: Hkv, headDim: hd, hiddenSize: D } = spec;
  const G = H / Hkv;
  const g = new GraphBuilder('unused');
  const values = g.input('values', DataType.FLOAT, [Hkv, 'n', hd]);
  const wo = g.input('wo', DataType.FLOAT, [D, H * hd]);
  // W_o^(h) for h = k·G + g as [Hkv, G, hd, D]
  const woHeads = g.op('Transpose', [g.op('Reshape', [g.op('Cast', [wo], { to: aInt(DataType.DOUBLE) }), g.int64([D, Hkv, G, hd])])], {
    perm: aInts([1, 2, 3, 0]),
  });
  const v = g.op('Unsqueeze', [g.op('Cast', [values], { to: aInt(DataType.DOUBLE) }), g.int64([1])]); // [Hkv,1,n,hd]
  normsOf(g, v, woHeads);
  g.output('norms', DataType.DOUBLE, [Hkv, 'n']);
  return g.encodeModel({ opset: OPSET, irVersion: IR_VERSION, metadata: { 'kvopt.graph': 'value-norms' } });
}

export function buildDeviceValueNormGraph(spec: ModelSpec, precision: Precision): Uint8Array {
  const { numHeads: H, numKvHeads: Hkv, headDim: hd, hiddenSize: D } = spec;
  const G = H / Hkv;
  const g = new GraphBuilder('unused');
  const values = g.input('values', precision === 'fp16' ? DataType.FLOAT16 : DataType.FLOAT, [1, Hkv, 'tokens', hd]);
  const woHeads = g.input('wo_heads', DataType.FLOAT, [Hkv, G, hd, D]);
  const start = g.input('start', DataType.INT64, [1]);
  const end = g.input('end', DataType.INT64, [1]);
  const slice = g.op('Slice', [values, start, end, g.int64([2])]); // [1,Hkv,n,hd]
  const v32 = precision === 'fp16' ? g.op('Cast', [slice], { to: aInt(DataType.FLOAT) }) : slice;
  const v = g.op('Reshape', [v32, g.int64([Hkv, 1, -1, hd])]); // [Hkv,1,n,hd]
  normsOf(g, v, woHeads);
  g.output('norms', DataType.FLOAT, [Hkv, 'n']);
  return g.encodeModel({ opset: OPSET, irVersion: IR_VERSION, metadata: { 'kvopt.graph': 'device-value-norms' } });
}

/** o_proj [D, H·hd] as W_o per head [Hkv, G, hd, D] (the device graph's wo_heads): W_o^(kG+g)[i, e] = wo[e, (kG+g)·hd + i]. */
export function woHeadsOf(wo: Float32Array, spec: ModelSpec): Float32Array {
  const { numHeads: H, headDim: hd, hiddenSize: D } = spec;
  const out = new Float32Array(H * hd * D);
  for (let e = 0; e < D; e++) for (let c = 0; c < H * hd; c++) out[c * D + e] = wo[e * H * hd + c];
  return out;
}
