/**
 * The Llama-family decoder graph (design.md §4.2). One graph serves prefill chunks, question tokens, decode
 * steps and answer scoring:
 *
 * inputs   input_ids [B,q] i64, position_ids [B,q] i64, num_logits [1] i64 (logits of the last n positions),
 *          attn_window [1] i64 (w: attention rows returned for the last w queries; 0 → none),
 *          stats_keys [1] i64: attn_colsum covers the first stats_keys keys (0 → none),
 *          per layer l: past_key.l / past_value.l [B,Hkv,P_l,hd] f32 (keys after RoPE; P_l independent per
 *          layer, may be 0), kv_bias.l [B,Hkv,1,P_l] f32 (0 attend, −inf masked)
 * outputs  logits [B,n,V]; per layer present_key.l / present_value.l [B,Hkv,P_l+q,hd], present_bias.l [B,Hkv,1,P_l+q]
 *          (kv_bias then 0 for the new entries: with present K/V, the next step's past on a device-resident cache);
 *          new_key.l / new_value.l [B,Hkv,q,hd] (just this run's entries, so decode need not copy the past back);
 *          attn_window.l [B,Hq,min(w,q),P_l+q] softmax rows of the last w queries over all keys;
 *          attn_colsum.l [B,Hq,min(P_l+q, stats_keys)] per-key sums of attention over this run's q queries.
 *
 * Attention is written with MatMul/Softmax (not fused contrib ops) so that probabilities can be output and the
 * per-layer bias applied. Query head h = kv·G + g (Hugging Face repeat_kv order), G = Hq / Hkv.
 * New token i (0-based in this run) sees past entries (subject to kv_bias) and new tokens j ≤ i.
 */
import type { ModelSpec, ModelWeights } from '../model/spec.ts';
import { DataType } from './onnx-proto.ts';
import { GraphBuilder, aInt, aInts } from './builder.ts';
import { ropeLayout } from './rope.ts';
import { PrecisionOps, type Precision } from './precision.ts';
import { SelfExtendAttention, type SelfExtendOptions } from './self-extend.ts';

/** Bump when the graph changes, so cached graphs are rebuilt. */
export const GRAPH_BUILDER_VERSION = 5;
export const OPSET = 21;
export const IR_VERSION = 10;

export const ioNames = {
  pastKey: (l: number) => `past_key.${l}`,
  pastValue: (l: number) => `past_value.${l}`,
  kvBias: (l: number) => `kv_bias.${l}`,
  presentKey: (l: number) => `present_key.${l}`,
  presentValue: (l: number) => `present_value.${l}`,
  presentBias: (l: number) => `present_bias.${l}`,
  newKey: (l: number) => `new_key.${l}`,
  newValue: (l: number) => `new_value.${l}`,
  attnWindow: (l: number) => `attn_window.${l}`,
  attnColsum: (l: number) => `attn_colsum.${l}`,
  statsKeys: 'stats_keys',
};

/**
 * 'fp32': everything float32. 'fp16': projection/embedding weights and the KV cache (past/present/new K/V
 * inputs and outputs) in float16, with the matrix products in float16; RMSNorm, RoPE, softmax, the residual
 * stream, kv_bias, the attention statistics and the logits stay float32 (src/graph/precision.ts).
 */
export type { Precision } from './precision.ts';

/** Options that change the built graph (part of the build-cache key). */
export interface GraphOptions {
  precision: Precision;
  /**
   * true (default): present_key/present_value/present_bias = past ‖ new are outputs (device-resident caches feed
   * them back). false: no present outputs; attention scores past and new keys separately, one softmax over
   * both, and sums the two context parts, so a run reads the cache once and never copies it (onnxruntime
   * computes every output even when it is not fetched, node-stack-notes §1.3). The CPU runtime uses false.
   */
  presentOutputs?: boolean;
  /** SelfExtend (src/graph/self-extend.ts): adds past_position.l inputs; absent = the plain graph. */
  selfExtend?: SelfExtendOptions;
}

export const DEFAULT_GRAPH_OPTIONS: GraphOptions = { precision: 'fp32' };

export const graphOptionsFor = (precision: Precision, selfExtend?: SelfExtendOptions | null): GraphOptions =>
  selfExtend ? { precision, selfExtend } : { precision };

/**
 * `dataPath`: stream the weights straight into this external data file while building (finish it with
 * g.finishExternalData()); without it they are kept for g.writeExternalData().
 */
export function buildDecoderGraph(
  spec: ModelSpec,
  w: ModelWeights,
  externalFile: string,
  options: GraphOptions = DEFAULT_GRAPH_OPTIONS,
  dataPath?: string,
): GraphBuilder {
  const g = new GraphBuilder(externalFile);
  if (dataPath) g.streamExternalData(dataPath);
  const p = new PrecisionOps(g, options.precision);
  const kvType = p.kvType;
  // SelfExtend reads the present keys, so it keeps them
  const withPresent = (options.presentOutputs ?? true) || options.selfExtend !== undefined;
  const D = spec.hiddenSize;
  const H = spec.numHeads;
  const Hkv = spec.numKvHeads;
  const hd = spec.headDim;
  const G = H / Hkv;
  const V = spec.vocabSize;
  const I = spec.intermediateSize;
  const L = spec.numLayers;
  if (!Number.isInteger(G)) throw new Error(`internal: numHeads ${H} not a multiple of numKvHeads ${Hkv}`);

  const ids = g.input('input_ids', DataType.INT64, ['batch', 'q']);
  const pos = g.input('position_ids', DataType.INT64, ['batch', 'q']);
  const numLogits = g.input('num_logits', DataType.INT64, [1]);
  const attnWindow = g.input('attn_window', DataType.INT64, [1]);
  // attention column sums cover only the first stats_keys keys (decode with the cache on the device: 0)
  const statsKeys = g.input(ioNames.statsKeys, DataType.INT64, [1]);

  const shapeBQ = g.op('Shape', [ids]); // [2] = (B, q)
  const q1 = g.op('Shape', [ids], { start: aInt(1), end: aInt(2) }); // [1] = (q)
  const q0 = g.op('Gather', [shapeBQ, g.int64Scalar(1)], { axis: aInt(0) }); // scalar q
  const zero1 = g.int64([0]);
  const negInf = g.float32([-Infinity], []);
  const zeroF = g.float32([0], []);
  const scale = g.float32([1 / Math.sqrt(hd)], []);
  const eps = g.float32([spec.rmsNormEps], []);
  const two = g.float32([2], []);

  const rmsNorm = (x: string, weight: string): string => {
    const ms = g.op('ReduceMean', [g.op('Pow', [x, two]), g.int64([-1])], { keepdims: aInt(1) });
    const normed = g.op('Div', [x, g.op('Sqrt', [g.op('Add', [ms, eps])])]);
    return g.op('Mul', [normed, weight]);
  };
  const linear = (x: string, weight: string, bias: string | null): string => p.linear(x, weight, bias);
  /** [N, heads·hd] → [B, heads, q, hd] */
  const toHeads = (x: string, heads: number): string =>
    g.op('Transpose', [g.op('Reshape', [x, g.op('Concat', [shapeBQ, g.int64([heads, hd])], { axis: aInt(0) })])], {
      perm: aInts([0, 2, 1, 3]),
    });

  // Embedding: x [N = B·q, D]
  const embed = p.matrix('embed', w.embed, [V, D]);
  let x = p.toF32(g.op('Gather', [embed, g.op('Reshape', [ids, g.int64([-1])])], { axis: aInt(0) }));

  // RoPE: rope(x)_d = x_d·cos(p·f_d) + sign_d·x_partner(d)·sin(p·f_d); cos/sin [B,1,q,hd]
  const rope = ropeLayout(spec);
  const angle = g.op('Mul', [g.op('Unsqueeze', [g.op('Cast', [pos], { to: aInt(DataType.FLOAT) }), g.int64([-1])]), g.float32(rope.freq, [hd])]); // [B,q,hd]
  const cos = g.op('Unsqueeze', [g.op('Cos', [angle]), g.int64([1])]);
  const sinSigned = g.op('Mul', [g.op('Unsqueeze', [g.op('Sin', [angle]), g.int64([1])]), g.float32(rope.sign, [hd])]);
  const partner = g.int64(rope.partner);
  const applyRope = (x4: string): string => g.op('Add', [g.op('Mul', [x4, cos]), g.op('Mul', [g.op('Gather', [x4, partner], { axis: aInt(3) }), sinSigned])]);
  const selfExtend = options.selfExtend ? new SelfExtendAttention(g, spec, options.selfExtend, pos) : null;

  for (let l = 0; l < L; l++) {
    const lw = w.layers[l];
    const pastK = g.input(ioNames.pastKey(l), kvType, ['batch', Hkv, `past_${l}`, hd]);
    const pastV = g.input(ioNames.pastValue(l), kvType, ['batch', Hkv, `past_${l}`, hd]);
    const kvBias = g.input(ioNames.kvBias(l), DataType.FLOAT, ['batch', Hkv, 1, `past_${l}`]);
    const wt = (name: string, data: Float32Array, dims: number[]) => g.weight(`layers.${l}.${name}`, data, dims);
    const mat = (name: string, data: Float32Array, dims: number[]) => p.matrix(`layers.${l}.${name}`, data, dims);

    // Attention block
    const h = rmsNorm(x, wt('attn_norm', lw.attnNorm, [D]));
    const qProj = linear(h, mat('wq', lw.wq, [H * hd, D]), lw.bq ? wt('bq', lw.bq, [H * hd]) : null);
    const kProj = linear(h, mat('wk', lw.wk, [Hkv * hd, D]), lw.bk ? wt('bk', lw.bk, [Hkv * hd]) : null);
    const vProj = linear(h, mat('wv', lw.wv, [Hkv * hd, D]), lw.bv ? wt('bv', lw.bv, [Hkv * hd]) : null);
    const qHeads = toHeads(qProj, H);
    const qRot = applyRope(qHeads); // [B,H,q,hd]
    const kNew = g.opTo(ioNames.newKey(l), 'Identity', [p.toKv(applyRope(toHeads(kProj, Hkv)))]); // [B,Hkv,q,hd]
    const vNew = g.opTo(ioNames.newValue(l), 'Identity', [p.toKv(toHeads(vProj, Hkv))]);
    const P1 = g.op('Shape', [pastK], { start: aInt(2), end: aInt(3) }); // [1] = (P)
    const T1 = g.op('Add', [P1, q1]); // [1] = (T = P + q)
    const T0 = g.op('Squeeze', [T1, g.int64([0])]); // scalar T
    const P0 = g.op('Squeeze', [P1, g.int64([0])]); // scalar P
    const keysT = (k: string) => g.op('Transpose', [k], { perm: aInts([0, 1, 3, 2]) });

    // scores [B,Hkv,G·q,T] = (Q_g · Kᵀ) / sqrt(hd), K = past ‖ new: one product over the present keys, or
    // (presentOutputs false) the past and new parts side by side, so the cache is never copied
    const qGrouped = g.op('Reshape', [qRot, g.int64([0, Hkv, -1, hd])]); // [B,Hkv,G·q,hd]
    const presentK = withPresent ? g.opTo(ioNames.presentKey(l), 'Concat', [pastK, kNew], { axis: aInt(2) }) : null; // [B,Hkv,T,hd]
    const presentV = withPresent ? g.opTo(ioNames.presentValue(l), 'Concat', [pastV, vNew], { axis: aInt(2) }) : null;
    const scores = presentK
      ? p.scores(qGrouped, keysT(presentK), scale)
      : g.op('Concat', [p.scores(qGrouped, keysT(pastK), scale), p.scores(qGrouped, keysT(kNew), scale)], { axis: aInt(3) });
    let scores5 = g.op('Reshape', [scores, g.op('Concat', [g.int64([0, Hkv, G]), q1, g.int64([-1])], { axis: aInt(0) })]);
    if (selfExtend) scores5 = selfExtend.scores(l, { neighbour: scores5, qHeads, presentK: presentK!, scale, q1, precision: p });

    // causal [q,T]: key t visible to new token i iff t ≤ P + i
    const rows = g.op('Add', [g.op('Unsqueeze', [g.op('Range', [g.int64Scalar(0), q0, g.int64Scalar(1)]), g.int64([1])]), P0]); // [q,1]
    const cols = g.op('Range', [g.int64Scalar(0), T0, g.int64Scalar(1)]); // [T]
    const causal = g.op('Where', [g.op('Greater', [cols, rows]), negInf, zeroF]); // [q,T]
    // bias over all T keys: kv_bias for the past, 0 for the new tokens → [B,Hkv,1,1,T]
    const newZeros = g.op('ConstantOfShape', [g.op('Concat', [g.op('Shape', [kvBias], { start: aInt(0), end: aInt(3) }), q1], { axis: aInt(0) })], {
      value: GraphBuilder.floatTensorAttr(0),
    });
    // present_bias = kv_bias followed by 0 for the new entries: fed back as the next kv_bias by device-resident decode
    const presentBias = withPresent
      ? g.opTo(ioNames.presentBias(l), 'Concat', [kvBias, newZeros], { axis: aInt(3) })
      : g.op('Concat', [kvBias, newZeros], { axis: aInt(3) });
    const biasAll = g.op('Unsqueeze', [presentBias, g.int64([2])]);
    const mask = g.op('Add', [biasAll, causal]); // [B,Hkv,1,q,T]
    const probs5 = g.op('Softmax', [g.op('Add', [scores5, mask])], { axis: aInt(-1) }); // [B,Hkv,G,q,T]

    const probsG = g.op('Reshape', [probs5, g.op('Concat', [g.int64([0, Hkv, -1]), T1], { axis: aInt(0) })]);
    // context [B,Hkv,G·q,hd] = probs · V over past ‖ new, or the sum of the past and new parts
    const ctx = presentV
      ? p.toF32(g.op('MatMul', [p.toKv(probsG), presentV]))
      : g.op('Add', [
          p.toF32(g.op('MatMul', [p.toKv(g.op('Slice', [probsG, zero1, P1, g.int64([3])])), pastV])),
          p.toF32(g.op('MatMul', [p.toKv(g.op('Slice', [probsG, P1, T1, g.int64([3])])), vNew])),
        ]);
    const ctx2 = g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [ctx, g.int64([0, H, -1, hd])])], { perm: aInts([0, 2, 1, 3]) }), g.int64([-1, H * hd])]); // [N, H·hd]
    x = g.op('Add', [x, linear(ctx2, mat('wo', lw.wo, [D, H * hd]), null)]);

    // Attention statistics
    const probs4 = g.op('Reshape', [probs5, g.op('Concat', [g.int64([0, H]), q1, g.int64([-1])], { axis: aInt(0) })]);
    const winStart = g.op('Max', [g.op('Sub', [q1, attnWindow]), zero1]);
    g.opTo(ioNames.attnWindow(l), 'Slice', [probs4, winStart, q1, g.int64([2])]);
    // sliced to the first min(T, stats_keys) keys: decode with a device-resident cache sets 0 (nothing to copy back)
    g.opTo(ioNames.attnColsum(l), 'Slice', [
      g.op('Reshape', [g.op('ReduceSum', [probs5, g.int64([3])], { keepdims: aInt(0) }), g.int64([0, H, -1])]),
      zero1,
      statsKeys,
      g.int64([2]),
    ]);

    // SwiGLU MLP
    const h2 = rmsNorm(x, wt('ffn_norm', lw.ffnNorm, [D]));
    const gate = linear(h2, mat('w_gate', lw.wGate, [I, D]), null);
    const up = linear(h2, mat('w_up', lw.wUp, [I, D]), null);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    x = g.op('Add', [x, linear(act, mat('w_down', lw.wDown, [D, I]), null)]);

    if (withPresent) {
      g.output(ioNames.presentKey(l), kvType, ['batch', Hkv, `total_${l}`, hd]);
      g.output(ioNames.presentValue(l), kvType, ['batch', Hkv, `total_${l}`, hd]);
      g.output(ioNames.presentBias(l), DataType.FLOAT, ['batch', Hkv, 1, `total_${l}`]);
    }
    g.output(ioNames.newKey(l), kvType, ['batch', Hkv, 'q', hd]);
    g.output(ioNames.newValue(l), kvType, ['batch', Hkv, 'q', hd]);
    g.output(ioNames.attnWindow(l), DataType.FLOAT, ['batch', H, 'window_rows', `total_${l}`]);
    g.output(ioNames.attnColsum(l), DataType.FLOAT, ['batch', H, `colsum_${l}`]);
  }

  // Logits of the last n = min(num_logits, q) positions
  const x3 = g.op('Reshape', [x, g.op('Concat', [shapeBQ, g.int64([D])], { axis: aInt(0) })]); // [B,q,D]
  const last = g.op('Slice', [x3, g.op('Max', [g.op('Sub', [q1, numLogits]), zero1]), q1, g.int64([1])]); // [B,n,D]
  const hFinal = rmsNorm(g.op('Reshape', [last, g.int64([-1, D])]), g.weight('final_norm', w.finalNorm, [D]));
  const lmHead = w.lmHead; // read once: streamed weights are generated on every read
  const head = lmHead ? p.matrix('lm_head', lmHead, [V, D]) : embed;
  const logits2 = linear(hFinal, head, null); // [B·n, V]
  g.opTo('logits', 'Reshape', [logits2, g.op('Concat', [g.op('Shape', [last], { start: aInt(0), end: aInt(2) }), g.int64([V])], { axis: aInt(0) })]);
  g.output('logits', DataType.FLOAT, ['batch', 'n_logits', V]);
  return g;
}
