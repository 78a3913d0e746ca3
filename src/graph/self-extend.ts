/**
 * SelfExtend attention (Jin et al. 2024, "LLM Maybe LongLM"; algorithms.md §4.2) inside kvopt's decoder graph.
 *
 * Neighbour window W, group size G. For a query at absolute position i and a key at absolute position j:
 *   i − j < W  → the ordinary logit, both rotated at their true positions;
 *   otherwise → the grouped logit: key rotated at ⌊j/G⌋, query at ⌊i/G⌋ + W − W/G (W/G may be fractional),
 * merged per (i, j) before the mask and one softmax. The attention statistics the scorers read (attn_window,
 * attn_colsum) come from that merged softmax, so SnapKV & co. score the extended attention.
 *
 * Key storage (measured and documented in README "SelfExtend"): the cache keeps ONE copy of every key, rotated at
 * its true position j exactly as without SelfExtend (so eviction, KIVI and prefill records need no change). The
 * grouped key is made in the graph by re-rotation: rot(k, ⌊j/G⌋) = rot(rot(k, j), ⌊j/G⌋ − j), rotations compose.
 * The extra memory is one int32 position per cached entry per KV head (past_position.l: kept entries keep their
 * ORIGINAL positions after eviction, possibly different per head) plus graph temporaries of one run: the
 * re-rotated keys [B,Hkv,T,hd] and the grouped logits [B,Hq,q,T].
 *
 * (The reference code drops the shift W − W/G when every query position is below W; then every key is a
 * neighbour, so the grouped logits are never selected and the rule changes nothing here.)
 */
import type { SelfExtendOptions } from '../model/self-extend.ts';
import type { ModelSpec } from '../model/spec.ts';
import { aInt, aInts, type GraphBuilder } from './builder.ts';
import { DataType } from './onnx-proto.ts';
import type { PrecisionOps } from './precision.ts';
import { ropeLayout } from './rope.ts';

export type { SelfExtendOptions };

/** Graph input of layer l when SelfExtend is on: absolute position of every past entry [B,Hkv,P_l] int64. */
export const pastPositionName = (l: number): string => `past_position.${l}`;

/** Builds the SelfExtend logits of each layer; one instance per graph (shares the RoPE constants). */
export class SelfExtendAttention {
  private readonly freq: string;
  private readonly partner: string;
  private readonly sign: string;
  private readonly qCos: string;
  private readonly qSin: string;
  private readonly queryPos: string; // [B,1,1,q,1] int64: true query positions i
  private readonly groupC: string;
  private readonly windowC: string;

  constructor(
    private readonly g: GraphBuilder,
    private readonly spec: ModelSpec,
    readonly options: SelfExtendOptions,
    /** position_ids [B,q] int64 */
    private readonly positionIds: string,
  ) {
    const { group: G, window: W } = options;
    const hd = spec.headDim;
    const rope = ropeLayout(spec);
    this.freq = g.float32(rope.freq, [hd]);
    this.partner = g.int64(rope.partner);
    this.sign = g.float32(rope.sign, [hd]);
    this.groupC = g.int64Scalar(G);
    this.windowC = g.int64Scalar(W);
    // grouped query position ⌊i/G⌋ + W − W/G (float: W/G may be fractional) → angles [B,1,q,hd]
    const groupedQ = g.op('Add', [g.op('Cast', [g.op('Div', [positionIds, this.groupC])], { to: aInt(DataType.FLOAT) }), g.float32([W - W / G], [])]); // [B,q]
    const angle = g.op('Mul', [g.op('Unsqueeze', [groupedQ, g.int64([-1])]), this.freq]); // [B,q,hd]
    this.qCos = g.op('Unsqueeze', [g.op('Cos', [angle]), g.int64([1])]);
    this.qSin = g.op('Mul', [g.op('Unsqueeze', [g.op('Sin', [angle]), g.int64([1])]), this.sign]);
    this.queryPos = g.op('Unsqueeze', [positionIds, g.int64([1, 2, 4])]);
  }

  /** rope(x)_d = x_d·cos_d + x_partner(d)·sin_d·sign_d, x [..., hd] */
  private rotate(x: string, cos: string, sinSigned: string): string {
    const g = this.g;
    return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [g.op('Gather', [x, this.partner], { axis: aInt(3) }), sinSigned])]);
  }

  /**
   * The merged SelfExtend logits [B,Hkv,Gq,q,T] of layer l (Gq = query heads per KV head).
   * `neighbour`: the ordinary logits [B,Hkv,Gq,q,T] (true positions), `qHeads`: queries BEFORE RoPE [B,Hq,q,hd],
   * `presentK`: past + new keys after RoPE at their true positions [B,Hkv,T,hd] (KV precision), `scale`: 1/√hd.
   * The re-rotation runs in float32; the grouped Q·Kᵀ in the graph's precision, like the ordinary one.
   */
  scores(l: number, args: { neighbour: string; qHeads: string; presentK: string; scale: string; q1: string; precision: PrecisionOps }): string {
    const g = this.g;
    const { numKvHeads: Hkv, numHeads: H, headDim: hd } = this.spec;
    const Gq = H / Hkv;
    const pastPos = g.input(pastPositionName(l), DataType.INT64, ['batch', Hkv, `past_${l}`]);
    // key positions [B,Hkv,T]: the past entries' own positions, then the new tokens' position_ids
    const newPos = g.op('Expand', [
      g.op('Unsqueeze', [this.positionIds, g.int64([1])]),
      g.op('Concat', [g.op('Shape', [pastPos], { start: aInt(0), end: aInt(2) }), args.q1], { axis: aInt(0) }),
    ]);
    const keyPos = g.op('Concat', [pastPos, newPos], { axis: aInt(2) });

    // grouped keys: re-rotate by ⌊j/G⌋ − j (positions ≥ 0, so int64 Div is the floor)
    const delta = g.op('Cast', [g.op('Sub', [g.op('Div', [keyPos, this.groupC]), keyPos])], { to: aInt(DataType.FLOAT) });
    const kAngle = g.op('Mul', [g.op('Unsqueeze', [delta, g.int64([-1])]), this.freq]); // [B,Hkv,T,hd]
    const p = args.precision;
    const kGrouped = p.toKv(this.rotate(p.toF32(args.presentK), g.op('Cos', [kAngle]), g.op('Mul', [g.op('Sin', [kAngle]), this.sign])));
    const qGrouped = this.rotate(args.qHeads, this.qCos, this.qSin); // [B,H,q,hd]

    const grouped = p.scores(g.op('Reshape', [qGrouped, g.int64([0, Hkv, -1, hd])]), g.op('Transpose', [kGrouped], { perm: aInts([0, 1, 3, 2]) }), args.scale);
    const grouped5 = g.op('Reshape', [grouped, g.op('Concat', [g.int64([0, Hkv, Gq]), args.q1, g.int64([-1])], { axis: aInt(0) })]);

    // neighbour iff i − j < W: [B,1,1,q,1] − [B,Hkv,1,1,T] → [B,Hkv,1,q,T]
    const distance = g.op('Sub', [this.queryPos, g.op('Unsqueeze', [keyPos, g.int64([2, 3])])]);
    return g.op('Where', [g.op('Less', [distance, this.windowC]), args.neighbour, grouped5]);
  }
}
