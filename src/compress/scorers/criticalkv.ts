/**
 * CriticalKV (Feng et al., arXiv 2502.03805), as kvpress CriticalKVPress over a SnapKV base score:
 * - norm_j = mean over the GQA group of ||v_j · W_o^(h)||_1 (the value as it reaches the residual stream);
 * - stage 1: a head allotted b entries keeps its top max(#window, floor(b · first_stage_ratio)) by the base score
 *   (window tokens first, they are +Infinity);
 * - stage 2: the rest of b by (score + ε) · norm_j.
 * Defaults: first_stage_ratio 0.5, epsilon 1e-4 (kvpress); base SnapKV as in the AdaKV code the CriticalKV
 * authors build on (window 32, kernel 7, max pooling, GQA mean) with the MEAN over window queries (AdaKV,
 * kvpress), not SnapKV's sum: ε is added to the score, so its scale matters. All overridable by name.
 * With the adakv allocator this is Ada-CriticalKV: per-head counts from the base scores with AdaKV's floor
 * formula, then the two stages inside each head (kvpress CriticalAdaKVPress does the same two stages but
 * floors by forcing each head's top int(α·n) tokens instead of b_h = round(c_h(1−α) + αB′)).
 */
import type { OptionSchema, OptionsOf } from '../options.ts';
import type { LayerScores, ScoreContext, Scorer } from '../types.ts';
import { effectiveWindow, projectedValueNorms } from './attention.ts';
import { checkKernel, snapkvOptions, snapkvPrefixScores } from './snapkv.ts';

export const criticalkvOptions = {
  ...snapkvOptions,
  aggregation: { ...snapkvOptions.aggregation!, default: 'mean' },
  first_stage_ratio: { type: 'number', min: 0, max: 1, default: 0.5, doc: 'share of a head budget chosen by attention alone' },
  epsilon: { type: 'number', min: 0, default: 1e-4, doc: 'added to the score before multiplying by the norm' },
} as const satisfies OptionSchema;
export type CriticalkvOptions = OptionsOf<typeof criticalkvOptions>;

export function criticalkvScorer(opts: CriticalkvOptions): Scorer {
  checkKernel('criticalkv', opts.kernel);
  const eps = opts.epsilon;
  return {
    name: 'criticalkv',
    window: opts.window,
    score(ctx: ScoreContext, layer: number): LayerScores {
      const T = ctx.record.tokens.length;
      const Hkv = ctx.spec.numKvHeads;
      const w = effectiveWindow(ctx.record, opts.window, 'criticalkv');
      const P = T - w;
      const base = snapkvPrefixScores(ctx, layer, opts, w);
      const norms = projectedValueNorms(ctx, layer, P);
      const scores = new Float64Array(Hkv * T).fill(Infinity);
      const rerank = new Float64Array(Hkv * T).fill(Infinity);
      for (let h = 0; h < Hkv; h++) {
        for (let j = 0; j < P; j++) {
          scores[h * T + j] = base[h * P + j];
          rerank[h * T + j] = (base[h * P + j] + eps) * norms[h * P + j];
        }
      }
      return { scores, secondStage: { rerank, firstStageRatio: opts.first_stage_ratio } };
    },
  };
}
