/**
 * The continuation scoring graph: what the continuation metrics need from B candidates' logits, computed by
 * onnxruntime instead of JavaScript loops over the full vocabulary (tasks/metrics/logits.ts stays the
 * reference). Sums, products and logarithms are float64 like the reference. The softmax normaliser's exponentials
 * exp(x_v − max x) are float32 (onnxruntime's vectorised exp, 3.5× faster than float64's on 3 × 32 × 32,000 logits),
 * summed in float64: each term is within a few float32 ulps (≤ 3e-7 relative), so log Z is within 3e-7 of
 * float64's; measured within 1e-8 on 32,000-logit rows (the errors mostly average out; test/runtime/scoring.test.ts).
 *
 * The reference distribution p (the full cache's) is the same for every candidate, so its parts come in
 * precomputed once per sample (runtime/scoring.ts referenceDistribution), and the KL needs no per-candidate
 * log-softmax:  with log q_v = x_v − log Z,
 *   KL(p ‖ q) = Σ_v p_v (log p_v − log q_v) = Σ_v p_v log p_v − Σ_v p_v x_v + log Z · Σ_v p_v.
 * A candidate row then costs one float64 log-sum-exp and one dot product instead of a log-softmax written out
 * and three more passes over [B, n, V].
 *
 * The logits come as the decoder returned them: rows [B, n − k, V] predict targets k..n−1, and first_logits [k, V]
 * (k = 1: the prefill's last logits, the same for every candidate; k = 0 when the decoder gave all n rows)
 * predicts target 0; they are joined here, in onnxruntime's arena, instead of copied into a new host array.
 *
 * inputs   logits [B, n − k, V] f32, first_logits [k, V] f32, targets [n] i64,
 *          ref_probs [n, V] f64 = p, ref_neg_entropy [n] f64 = Σ_v p_v log p_v, ref_mass [n] f64 = Σ_v p_v
 * outputs  target_logprob [B, n] f64 = x_target − log Z
 *          kl [B, n] f64 = KL(p ‖ softmax(logits))
 *          argmax [B, n] i64 (first maximum, as the reference)
 */
import { GraphBuilder, aInt } from './builder.ts';
import { DataType } from './onnx-proto.ts';
import { IR_VERSION, OPSET } from './llama.ts';

export function buildScoringGraph(vocabSize: number): Uint8Array {
  const g = new GraphBuilder('unused');
  const rows = g.input('logits', DataType.FLOAT, ['batch', 'rows', vocabSize]);
  const first = g.input('first_logits', DataType.FLOAT, ['k', vocabSize]);
  const batchOfFirst = g.op('Concat', [g.op('Shape', [rows], { start: aInt(0), end: aInt(1) }), g.int64([1, 1])], { axis: aInt(0) }); // [B,1,1]
  const logits = g.op('Concat', [g.op('Expand', [g.op('Unsqueeze', [first, g.int64([0])]), batchOfFirst]), rows], { axis: aInt(1) }); // [B,n,V]
  const targets = g.input('targets', DataType.INT64, ['n']);
  const p = g.input('ref_probs', DataType.DOUBLE, ['n', vocabSize]);
  const negEntropy = g.input('ref_neg_entropy', DataType.DOUBLE, ['n']);
  const mass = g.input('ref_mass', DataType.DOUBLE, ['n']);
  const vocabAxis = g.int64([2]);
  const x = g.op('Cast', [logits], { to: aInt(DataType.DOUBLE) }); // [B,n,V]
  const max = g.op('ReduceMax', [logits, vocabAxis], { keepdims: aInt(1) }); // [B,n,1]
  const exps = g.op('Exp', [g.op('Sub', [logits, max])]); // float32
  const expSum = g.op('ReduceSum', [g.op('Cast', [exps], { to: aInt(DataType.DOUBLE) }), vocabAxis], { keepdims: aInt(0) }); // [B,n]
  const logZ = g.op('Add', [g.op('Cast', [g.op('Squeeze', [max, vocabAxis])], { to: aInt(DataType.DOUBLE) }), g.op('Log', [expSum])]); // [B,n]
  const idx = g.op('Expand', [
    g.op('Unsqueeze', [targets, g.int64([0, 2])]), // [1,n,1]
    g.op('Concat', [g.op('Shape', [logits], { start: aInt(0), end: aInt(2) }), g.int64([1])], { axis: aInt(0) }),
  ]); // [B,n,1]
  const xTarget = g.op('Cast', [g.op('Squeeze', [g.op('GatherElements', [logits, idx], { axis: aInt(2) }), vocabAxis])], { to: aInt(DataType.DOUBLE) });
  g.opTo('target_logprob', 'Sub', [xTarget, logZ]);
  const dot = g.op('ReduceSum', [g.op('Mul', [x, p]), vocabAxis], { keepdims: aInt(0) }); // Σ_v p_v x_v, [B,n]
  g.opTo('kl', 'Add', [g.op('Sub', [negEntropy, dot]), g.op('Mul', [logZ, mass])]);
  g.opTo('argmax', 'ArgMax', [logits], { axis: aInt(2), keepdims: aInt(0), select_last_index: aInt(0) });
  g.output('target_logprob', DataType.DOUBLE, ['batch', 'n']);
  g.output('kl', DataType.DOUBLE, ['batch', 'n']);
  g.output('argmax', DataType.INT64, ['batch', 'n']);
  return g.encodeModel({ opset: OPSET, irVersion: IR_VERSION, metadata: { 'kvopt.graph': 'continuation-scoring' } });
}
