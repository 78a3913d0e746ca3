/**
 * The value-output norm graph (CriticalKV / DefensiveKV): for one layer, KV head k and token j,
 *   n_kj = (1/G) Σ_g ||v_kj · W_o^(kG+g)||_1,   W_o^(h) = columns h·hd..(h+1)·hd of o_proj ([D, H·hd]).
 * One batched MatMul per layer ([Hkv,1,n,hd] × [Hkv,G,hd,D]) instead of scalar JavaScript.
 *
 * Why a graph of its own and not an output of the decoder graph: onnxruntime computes every output at every run
 * (node-stack-notes §1.3), so an extra decoder output would cost a D×D-sized product per layer at every decode
 * step. This graph has no initializers: o_proj is fed as an input (the model's own Float32Array), so it costs no
 * second copy of the weights. It computes in float64 (as the JavaScript reference does), so scores and the
 * rankings built from them match the reference to rounding (~1e-15), not to float32 (~1e-7).
 *
 * inputs   values [Hkv, n, hd] f32 (one layer of a cache), wo [D, H·hd] f32
 * output   norms [Hkv, n] f64
 */
import type { ModelSpec } from '../model/spec.ts';
import { GraphBuilder, aInt, aInts } from './builder.ts';
import { DataType } from './onnx-proto.ts';
import { IR_VERSION, OPSET } from './llama.ts';

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
  const projected = g.op('MatMul', [v, woHeads]); // [Hkv,G,n,D]
  const l1 = g.op('ReduceSum', [g.op('Abs', [projected]), g.int64([3])], { keepdims: aInt(0) }); // [Hkv,G,n]
  g.opTo('norms', 'ReduceMean', [l1, g.int64([1])], { keepdims: aInt(0) }); // [Hkv,n]
  g.output('norms', DataType.DOUBLE, [Hkv, 'n']);
  return g.encodeModel({ opset: OPSET, irVersion: IR_VERSION, metadata: { 'kvopt.graph': 'value-norms' } });
}
