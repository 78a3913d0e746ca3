/**
 * The continuation scoring graph: what the continuation metrics need from B candidates' logits, computed by
 * onnxruntime instead of JavaScript loops over the full vocabulary (tasks/metrics/logits.ts stays the
 * reference). In float64 like the reference, so the metrics agree with it to rounding (~1e-15), not to float32.
 *
 * inputs   logits [B, n, V] f32 (row t predicts target t), targets [n] i64, ref_logprobs [n, V] f64 (the full
 *          cache's log-probabilities, computed once per sample)
 * outputs  target_logprob [B, n] f64 = log softmax(logits)[target]
 *          kl [B, n] f64 = Σ_v p_v (log p_v − log q_v), p = exp(ref_logprobs), q = softmax(logits)
 *          argmax [B, n] i64 (first maximum, as the reference)
 */
import { GraphBuilder, aInt } from './builder.ts';
import { DataType } from './onnx-proto.ts';
import { IR_VERSION, OPSET } from './llama.ts';

export function buildScoringGraph(vocabSize: number): Uint8Array {
  const g = new GraphBuilder('unused');
  const logits = g.input('logits', DataType.FLOAT, ['batch', 'n', vocabSize]);
  const targets = g.input('targets', DataType.INT64, ['n']);
  const ref = g.input('ref_logprobs', DataType.DOUBLE, ['n', vocabSize]);
  const lq = g.op('LogSoftmax', [g.op('Cast', [logits], { to: aInt(DataType.DOUBLE) })], { axis: aInt(-1) }); // [B,n,V]
  const idx = g.op('Expand', [
    g.op('Unsqueeze', [targets, g.int64([0, 2])]), // [1,n,1]
    g.op('Concat', [g.op('Shape', [logits], { start: aInt(0), end: aInt(2) }), g.int64([1])], { axis: aInt(0) }),
  ]); // [B,n,1]
  g.opTo('target_logprob', 'Squeeze', [g.op('GatherElements', [lq, idx], { axis: aInt(2) }), g.int64([2])]);
  const p = g.op('Exp', [ref]); // [n,V]
  g.opTo('kl', 'ReduceSum', [g.op('Mul', [p, g.op('Sub', [ref, lq])]), g.int64([2])], { keepdims: aInt(0) });
  g.opTo('argmax', 'ArgMax', [logits], { axis: aInt(2), keepdims: aInt(0), select_last_index: aInt(0) });
  g.output('target_logprob', DataType.DOUBLE, ['batch', 'n']);
  g.output('kl', DataType.DOUBLE, ['batch', 'n']);
  g.output('argmax', DataType.INT64, ['batch', 'n']);
  return g.encodeModel({ opset: OPSET, irVersion: IR_VERSION, metadata: { 'kvopt.graph': 'continuation-scoring' } });
}
