/**
 * SnapKV (Li et al., arXiv 2404.14469): the last w prompt queries (observation window) vote for prefix tokens.
 * Per query head: aggregate the window rows' attention over the T − w prefix columns (sum or mean over the w
 * queries); then the GQA group and the pooling along tokens (stride 1, padding k//2), in one of two orders
 * (`gqa_order`): 'pool-then-group' pools each query head and then reduces the group (kvpress's order, SnapKV
 * issue #22; the snapkv default), 'group-then-pool' reduces the group and then pools (AdaKV's reference,
 * AdaptiveSnapKVCluster with gqa_support; the adakv default). With max pooling the two differ: the max of
 * means is not the mean of maxes. The w window tokens are always kept (+Infinity).
 * Defaults follow the paper's LongBench configs (ablation_c*_w32_k7_maxpool): window 32, kernel 7, max pooling,
 * sum over the window queries, GQA mean. kvpress uses window 64, kernel 5, avg, mean: pass those as options.
 * Sum and mean give the same ranking; they differ only in scale (which matters when CriticalKV adds ε).
 */
import { KvoptError } from '../../util/errors.ts';
import type { OptionSchema, OptionsOf } from '../options.ts';
import type { LayerScores, ScoreContext, Scorer } from '../types.ts';
import { effectiveWindow, pool1d, reduceGroups, windowRows } from './attention.ts';

export const snapkvOptions = {
  window: { type: 'int', min: 1, default: 32, doc: 'observation window w (last prompt queries; always kept)' },
  kernel: { type: 'int', min: 1, default: 7, doc: 'pooling kernel (odd), stride 1, padding kernel//2' },
  pooling: { type: 'enum', values: ['max', 'avg', 'none'], default: 'max', doc: 'pooling along tokens' },
  aggregation: { type: 'enum', values: ['sum', 'mean'], default: 'sum', doc: 'over the window queries' },
  gqa: { type: 'enum', values: ['mean', 'max'], default: 'mean', doc: 'reduction over the query heads of a KV head' },
  gqa_order: {
    type: 'enum',
    values: ['pool-then-group', 'group-then-pool'],
    default: 'pool-then-group',
    doc: "pool per query head then reduce the group (kvpress) or reduce the group then pool (AdaKV's reference; adakv's default)",
  },
} as const satisfies OptionSchema;
export type SnapkvOptions = OptionsOf<typeof snapkvOptions>;

/** SnapKV's per-KV-head prefix scores [Hkv, P], P = T − w (exported for CriticalKV). */
export function snapkvPrefixScores(
  ctx: ScoreContext,
  layer: number,
  opts: Pick<SnapkvOptions, 'kernel' | 'pooling' | 'aggregation' | 'gqa' | 'gqa_order'>,
  w: number,
): Float64Array {
  const T = ctx.record.tokens.length;
  const P = T - w;
  const { numHeads: Hq, numKvHeads: Hkv } = ctx.spec;
  const A = windowRows(ctx.record, layer, w);
  const perHead = new Float64Array(Hq * P);
  const kernel = opts.kernel;
  const pooled = opts.pooling !== 'none' && kernel > 1;
  const groupFirst = opts.gqa_order === 'group-then-pool';
  for (let h = 0; h < Hq; h++) {
    let v: Float64Array = new Float64Array(P);
    for (let i = 0; i < w; i++) for (let j = 0; j < P; j++) v[j] += A(h, i, j);
    if (opts.aggregation === 'mean') for (let j = 0; j < P; j++) v[j] /= w;
    if (pooled && !groupFirst) v = pool1d(v, kernel, opts.pooling);
    perHead.set(v, h * P);
  }
  const grouped = reduceGroups(perHead, Hq, Hkv, P, opts.gqa);
  if (!pooled || !groupFirst) return grouped;
  for (let k = 0; k < Hkv; k++) grouped.set(pool1d(grouped.subarray(k * P, (k + 1) * P), kernel, opts.pooling), k * P);
  return grouped;
}

export function checkKernel(method: string, kernel: number): void {
  if (kernel % 2 === 0) throw new KvoptError(`method ${method}: kernel must be odd for 'same' pooling, got ${kernel}`);
}

export function snapkvScorer(opts: SnapkvOptions): Scorer {
  checkKernel('snapkv', opts.kernel);
  return {
    name: 'snapkv',
    window: opts.window,
    score(ctx: ScoreContext, layer: number): LayerScores {
      const T = ctx.record.tokens.length;
      const Hkv = ctx.spec.numKvHeads;
      const w = effectiveWindow(ctx.record, opts.window, 'snapkv');
      const P = T - w;
      const prefix = snapkvPrefixScores(ctx, layer, opts, w);
      const scores = new Float64Array(Hkv * T).fill(Infinity);
      for (let h = 0; h < Hkv; h++) scores.set(prefix.subarray(h * P, (h + 1) * P), h * T);
      return { scores };
    },
  };
}
