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
export const GRAPH_BUILDER_VERSION = 6;
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
  const q0 = g.op('Squeeze', [q1, g.int64([0])]); // scalar q
  const zero1 = g.int64([0]);
  const negInf = g.float32([-Infinity], []);
  const zeroF = g.float32([0], []);
  const scale = g.float32([1 / Math.sqrt(hd)], []);
  const eps = g.float32([spec.rmsNormEps], []);
  const two = g.float32([2], []);

  // onnxruntime fuses this pattern into one SimplifiedLayerNormalization node (CPU and WebGPU)
  const rmsNorm = (x: string, weight: string): string => {
    const ms = g.op('ReduceMean', [g.op('Pow', [x, two]), g.int64([-1])], { keepdims: aInt(1) });
    const normed = g.op('Div', [x, g.op('Sqrt', [g.op('Add', [ms, eps])])]);
    return g.op('Mul', [normed, weight]);
  };
  const linear = (x: string, weight: string, bias: string | null): string => p.linear(x, weight, bias);

  // Embedding: x [N = B·q, D]
  const embed = p.matrix('embed', w.embed, [V, D]);
  let x = p.toF32(g.op('Gather', [embed, g.op('Reshape', [ids, g.int64([-1])])], { axis: aInt(0) }));

  // RoPE: rope(x)_d = x_d·cos(p·f_d) + sign_d·x_partner(d)·sin(p·f_d) on x [B,q,heads,hd]; cos/sin [B,q,1,hd]
  const rope = ropeLayout(spec);
  const angle = g.op('Mul', [g.op('Unsqueeze', [g.op('Cast', [pos], { to: aInt(DataType.FLOAT) }), g.int64([-1])]), g.float32(rope.freq, [hd])]); // [B,q,hd]
  const cos = g.op('Unsqueeze', [g.op('Cos', [angle]), g.int64([2])]); // [B,q,1,hd]
  const sinSigned = g.op('Mul', [g.op('Unsqueeze', [g.op('Sin', [angle]), g.int64([2])]), g.float32(rope.sign, [hd])]);
  const partner = g.int64(rope.partner);
  const applyRope = (x4: string): string => g.op('Add', [g.op('Mul', [x4, cos]), g.op('Mul', [g.op('Gather', [x4, partner], { axis: aInt(3) }), sinSigned])]);
  const selfExtend = options.selfExtend ? new SelfExtendAttention(g, spec, options.selfExtend, pos) : null;

  // Shapes and masks shared by every layer (few nodes per layer: small models' steps are dominated by node count)
  const qkvShape = g.op('Concat', [shapeBQ, g.int64([H + 2 * Hkv, hd])], { axis: aInt(0) }); // [B,q,H+2Hkv,hd]
  const iq = g.op('Range', [g.int64Scalar(0), q0, g.int64Scalar(1)]); // [q]
  const iqCol = g.op('Unsqueeze', [iq, g.int64([1])]); // [q,1]
  const headsQ = g.op('Concat', [g.int64([0, H]), q1, g.int64([-1])], { axis: aInt(0) }); // [B,H,q,·]
  const winStart = g.op('Max', [g.op('Sub', [q1, attnWindow]), zero1]);
  // Without present outputs: the causal mask of the new tokens among themselves [G·q, q] (query row g·q + i sees
  // new key j iff j ≤ i); past entries are visible to every new token (subject to kv_bias).
  // With them: present_bias's new part, 0 for the new entries [B,Hkv,1,q] (device-resident decode feeds it back).
  let causalG: string | null = null;
  let newZeros: string | null = null;
  if (withPresent) {
    const batch1 = g.op('Slice', [shapeBQ, zero1, g.int64([1])]); // [1] = (B)
    newZeros = g.op('ConstantOfShape', [g.op('Concat', [batch1, g.int64([Hkv, 1]), q1], { axis: aInt(0) })], { value: GraphBuilder.floatTensorAttr(0) });
  } else {
    const causal = g.op('Where', [g.op('Greater', [iq, iqCol]), negInf, zeroF]); // [q,q]
    causalG = G === 1 ? causal : g.op('Tile', [causal, g.int64([G, 1])]);
  }
  const kvName = (name: string) => (p.half ? null : name); // fp16: a Cast produces the graph-visible K/V
  /** [B,q,heads,hd] → [B,heads,q,hd], named `name` when given */
  const toHeads = (x: string, name: string | null): string => g.opNamed('Transpose', [x], { perm: aInts([0, 2, 1, 3]) }, [name])[0];

  for (let l = 0; l < L; l++) {
    const lw = w.layers[l];
    const pastK = g.input(ioNames.pastKey(l), kvType, ['batch', Hkv, `past_${l}`, hd]);
    const pastV = g.input(ioNames.pastValue(l), kvType, ['batch', Hkv, `past_${l}`, hd]);
    const kvBias = g.input(ioNames.kvBias(l), DataType.FLOAT, ['batch', Hkv, 1, `past_${l}`]);
    const wt = (name: string, data: Float32Array, dims: number[]) => g.weight(`layers.${l}.${name}`, data, dims);
    const mat = (name: string, data: Iterable<Float32Array>, dims: number[]) => p.matrix(`layers.${l}.${name}`, data, dims);

    // Attention block: q, k and v from one product with the weights stacked [wq; wk; wv]
    const h = rmsNorm(x, wt('attn_norm', lw.attnNorm, [D]));
    const qkvBias = lw.bq || lw.bk || lw.bv ? wt('bqkv', concatBias([lw.bq, lw.bk, lw.bv], [H * hd, Hkv * hd, Hkv * hd]), [(H + 2 * Hkv) * hd]) : null;
    const qkv = linear(
      h,
      mat(
        'wqkv',
        stacked(
          () => lw.wq,
          () => lw.wk,
          () => lw.wv,
        ),
        [(H + 2 * Hkv) * hd, D],
      ),
      qkvBias,
    ); // [N,(H+2Hkv)·hd]
    const qkv4 = g.op('Reshape', [qkv, qkvShape]); // [B,q,H+2Hkv,hd]
    const [qk, v4] = g.opN('Split', [qkv4, g.int64([H + Hkv, Hkv])], { axis: aInt(2) }, 2);
    const [q4, k4] = g.opN('Split', [applyRope(qk), g.int64([H, Hkv])], { axis: aInt(2) }, 2); // RoPE on q and k at once
    const qRot = toHeads(q4, null); // [B,H,q,hd]
    const kF32 = toHeads(k4, kvName(ioNames.newKey(l)));
    const vF32 = toHeads(v4, kvName(ioNames.newValue(l)));
    const kNew = p.half ? g.opTo(ioNames.newKey(l), 'Cast', [kF32], { to: aInt(DataType.FLOAT16) }) : kF32; // [B,Hkv,q,hd]
    const vNew = p.half ? g.opTo(ioNames.newValue(l), 'Cast', [vF32], { to: aInt(DataType.FLOAT16) }) : vF32;
    const presentK = withPresent ? g.opTo(ioNames.presentKey(l), 'Concat', [pastK, kNew], { axis: aInt(2) }) : null; // [B,Hkv,T,hd]
    const presentV = withPresent ? g.opTo(ioNames.presentValue(l), 'Concat', [pastV, vNew], { axis: aInt(2) }) : null;
    const presentBias = withPresent ? g.opTo(ioNames.presentBias(l), 'Concat', [kvBias, newZeros!], { axis: aInt(3) }) : null; // [B,Hkv,1,T]
    const keysT = (k: string) => g.op('Transpose', [k], { perm: aInts([0, 1, 3, 2]) });

    const qGrouped = g.op('Reshape', [qRot, g.int64([0, Hkv, -1, hd])]); // [B,Hkv,G·q,hd]
    let probs: string; // [B,Hkv,G·q,T]
    let ctx: string; // [B,Hkv,G·q,hd]
    if (presentK && presentV && presentBias) {
      // over the present keys this variant outputs anyway: one product, never over an empty past (a Split with an
      // empty part crashed WebGPU); mask = present_bias + causal over all T keys (key t visible to token i iff t ≤ P + i)
      let scores = p.scores(qGrouped, keysT(presentK), scale);
      if (selfExtend) {
        const qHeads = toHeads(g.op('Slice', [qkv4, zero1, g.int64([H]), g.int64([2])]), null); // queries before RoPE [B,H,q,hd]
        const scores5 = g.op('Reshape', [scores, g.op('Concat', [g.int64([0, Hkv, G]), q1, g.int64([-1])], { axis: aInt(0) })]);
        scores = g.op('Reshape', [selfExtend.scores(l, { neighbour: scores5, qHeads, presentK, scale, q1, precision: p }), g.op('Shape', [scores])]);
      }
      const P0 = g.op('Squeeze', [g.op('Shape', [pastK], { start: aInt(2), end: aInt(3) }), g.int64([0])]); // scalar P
      const rows = g.op('Add', [iqCol, P0]); // [q,1]
      const cols = g.op('Range', [g.int64Scalar(0), g.op('Add', [P0, q0]), g.int64Scalar(1)]); // [T]
      const causalT = g.op('Where', [g.op('Greater', [cols, rows]), negInf, zeroF]); // [q,T]
      const mask = g.op('Add', [presentBias, G === 1 ? causalT : g.op('Tile', [causalT, g.int64([G, 1])])]); // [B,Hkv,G·q,T]
      probs = g.op('Softmax', [g.op('Add', [scores, mask])], { axis: aInt(-1) });
      ctx = p.toF32(g.op('MatMul', [p.toKv(probs), presentV]));
    } else {
      // the past and the new keys side by side, so the cache is never copied: kv_bias masks the past, the causal
      // mask the new keys, one softmax over both, and the context is the sum of the two parts
      const logits = g.op(
        'Concat',
        [g.op('Add', [p.scores(qGrouped, keysT(pastK), scale), kvBias]), g.op('Add', [p.scores(qGrouped, keysT(kNew), scale), causalG!])],
        {
          axis: aInt(3),
        },
      );
      probs = g.op('Softmax', [logits], { axis: aInt(-1) });
      const P1 = g.op('Shape', [pastK], { start: aInt(2), end: aInt(3) }); // [1] = (P)
      const probsPast = g.op('Slice', [probs, zero1, P1, g.int64([3])]);
      const probsNew = g.op('Slice', [probs, P1, g.int64([Number.MAX_SAFE_INTEGER]), g.int64([3])]);
      ctx = g.op('Add', [p.toF32(g.op('MatMul', [p.toKv(probsPast), pastV])), p.toF32(g.op('MatMul', [p.toKv(probsNew), vNew]))]);
    }
    const ctx2 = g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [ctx, g.int64([0, H, -1, hd])])], { perm: aInts([0, 2, 1, 3]) }), g.int64([-1, H * hd])]); // [N, H·hd]
    x = g.op('Add', [
      x,
      linear(
        ctx2,
        mat(
          'wo',
          stacked(() => lw.wo),
          [D, H * hd],
        ),
        null,
      ),
    ]);

    // Attention statistics: per query head [B,H,q,T]
    const probs4 = g.op('Reshape', [probs, headsQ]);
    g.opTo(ioNames.attnWindow(l), 'Slice', [probs4, winStart, q1, g.int64([2])]);
    // sliced to the first min(T, stats_keys) keys: decode with a device-resident cache sets 0 (nothing to copy back)
    g.opTo(ioNames.attnColsum(l), 'Slice', [g.op('ReduceSum', [probs4, g.int64([2])], { keepdims: aInt(0) }), zero1, statsKeys, g.int64([2])]);

    // SwiGLU MLP: gate and up from one product with the weights stacked [w_gate; w_up]
    const h2 = rmsNorm(x, wt('ffn_norm', lw.ffnNorm, [D]));
    const [gate, up] = g.opN(
      'Split',
      [
        linear(
          h2,
          mat(
            'w_gate_up',
            stacked(
              () => lw.wGate,
              () => lw.wUp,
            ),
            [2 * I, D],
          ),
          null,
        ),
        g.int64([I, I]),
      ],
      { axis: aInt(1) },
      2,
    );
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    x = g.op('Add', [
      x,
      linear(
        act,
        mat(
          'w_down',
          stacked(() => lw.wDown),
          [D, I],
        ),
        null,
      ),
    ]);

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

/** Biases of stacked projections: each part's bias, or zeros where a part has none. */
function concatBias(parts: (Float32Array | undefined | null)[], sizes: number[]): Float32Array {
  const out = new Float32Array(sizes.reduce((a, b) => a + b, 0));
  let at = 0;
  parts.forEach((b, i) => {
    if (b) out.set(b, at);
    at += sizes[i];
  });
  return out;
}

/**
 * Row blocks of stacked weight matrices, read one at a time when the weights are written (lazily generated
 * weights never exist together).
 */
function* stacked(...parts: (() => Float32Array)[]): Iterable<Float32Array> {
  for (const part of parts) yield part();
}
