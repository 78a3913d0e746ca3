/**
 * H2O, heavy-hitter oracle (Zhang et al., arXiv 2306.14048), prefill-only form: score = accumulated attention
 * a key received from every prompt query (the record's column sums, no normalisation), reduced over the GQA
 * group; the `recent` most recent tokens are always kept, the heavy hitters fill the rest.
 * Defaults: recent = 'half': the paper's heavy_ratio = recent_ratio, i.e. recent = floor(B/2) of the layer
 * budget B (KVCache-Factory's prefill H2O uses recent = w instead: pass recent=<int>); gqa = mean (kvpress
 * ObservedAttentionPress; H2O itself is MHA).
 */
import { KvoptError } from '../../util/errors.ts';
import type { OptionSchema, OptionsOf } from '../options.ts';
import type { LayerScores, ScoreContext, Scorer } from '../types.ts';
import { reduceGroups } from './attention.ts';

export const h2oOptions = {
  recent: { type: 'string', default: 'half', doc: "recent tokens always kept: 'half' (floor(B/2)) or an integer" },
  gqa: { type: 'enum', values: ['mean', 'max'], default: 'mean', doc: 'reduction over the query heads of a KV head' },
} as const satisfies OptionSchema;
export type H2oOptions = OptionsOf<typeof h2oOptions>;

export function h2oScorer(opts: H2oOptions): Scorer {
  const recentOpt = String(opts.recent);
  const fixed = recentOpt === 'half' ? null : Number(recentOpt);
  if (fixed !== null && !(Number.isInteger(fixed) && fixed >= 0)) {
    throw new KvoptError(`method h2o: option recent must be 'half' or a non-negative integer, got ${recentOpt}`);
  }
  return {
    name: 'h2o',
    usesBudget: true, // recent part / stage-1 cap follow the budget
    window: fixed ?? 0,
    score(ctx: ScoreContext, layer: number): LayerScores {
      const T = ctx.record.tokens.length;
      const { numHeads: Hq, numKvHeads: Hkv } = ctx.spec;
      const sums = Float64Array.from(ctx.record.attentionColumnSums[layer]); // [Hq, T]
      const scores = reduceGroups(sums, Hq, Hkv, T, opts.gqa);
      const recent = Math.min(T, fixed ?? Math.floor(ctx.layerBudgets[layer] / 2));
      for (let h = 0; h < Hkv; h++) for (let j = T - recent; j < T; j++) scores[h * T + j] = Infinity;
      return { scores };
    },
  };
}
