/**
 * DefensiveKV (Feng, Guo, Lv, Zhou, Xie; arXiv 2510.13334), per-layer scoring (algorithms.md §2):
 * 1. A(h,i,j): softmax rows of the last w prompt queries (causal inside the window), prefix columns j < P = T − w.
 * 2. Per (h, i): record the row's prefix mass, average-pool along j (kernel 5, padding 2, zero padding counted
 *    as PyTorch avg_pool1d count_include_pad=True), rescale the row to its recorded mass.
 * 3. m_j = max over the G group heads and the w window queries (worst case instead of the mean).
 * 4. Prior-risk correction d_j = max(m_j, mean_j′ m_j′) per KV head: below-average tokens tie.
 * 5. CriticalKV re-weighting: n_kj = mean_g ||v_j W_o^(h)||_1, divided by Σ_k′ n_k′j — the sum over the KV
 *    heads at the same token j (the reference normalises along the head axis, not the token axis; kvopt does
 *    the same, it is what the published numbers use). score_kj = d_kj · n_kj / Σ_k′ n_k′j.
 * 6. Stage-1 protection: ā_j = mean over group and window of the raw A, normalised to sum 1 per KV head; the
 *    smallest count c whose top-c cumulative mass reaches mass_threshold − window_bias is always kept, capped at
 *    B − w (the reference: int(T(1−r) − w)).
 *    window_bias (paper): mean over heads and window queries of the attention mass on the w window tokens.
 *    Quirks of the reference, as options: window_bias = 'prefix-tail' takes the mass on the last w prefix
 *    tokens instead (the reference slices the window columns off first); stage1_count = 'before' keeps one
 *    token fewer (the reference takes argmax(cumsum ≥ threshold) as the count).
 * 7. The w window tokens are always kept.
 * Defaults: window 32, kernel 5, mass_threshold 0.9. Paired with head-wise top-k without floor (defensivekv)
 * or the layer-global top-k (layer-defensivekv) by the registry.
 */
import type { OptionSchema, OptionsOf } from '../options.ts';
import type { LayerScores, RecordContext, ScoreContext, Scorer } from '../types.ts';
import { rankHead } from '../select.ts';
import { effectiveWindow, pool1d, projectedValueNorms, windowRows } from './attention.ts';
import { checkKernel } from './snapkv.ts';

export const defensivekvOptions = {
  window: { type: 'int', min: 1, default: 32, doc: 'observation window w (always kept)' },
  kernel: { type: 'int', min: 1, default: 5, doc: 'average-pooling kernel (odd), mass preserving' },
  mass_threshold: { type: 'number', min: 0, max: 1, default: 0.9, doc: 'stage-1 cumulative attention mass' },
  window_bias: { type: 'enum', values: ['window', 'prefix-tail', 'none'], default: 'window', doc: 'mass subtracted from the threshold' },
  stage1_count: { type: 'enum', values: ['reach', 'before'], default: 'reach', doc: "'before' = the reference's one-fewer count" },
} as const satisfies OptionSchema;
export type DefensivekvOptions = OptionsOf<typeof defensivekvOptions>;

/** The budget-independent part of a layer (steps 1-6 before the budget cap), shared by every budget. */
interface Prepared {
  /** Steps 1-5 and 7: scores without stage-1 protection, [Hkv, T]. */
  scores: Float64Array;
  /** Per KV head: prefix positions by descending window mass (ā), and how many of them stage 1 protects before the cap. */
  stage1: { order: Int32Array; count: number }[];
}

export function defensivekvScorer(opts: DefensivekvOptions): Scorer {
  checkKernel('defensivekv', opts.kernel);
  const kernel = opts.kernel;
  const window = opts.window;
  const prepare = (ctx: RecordContext, layer: number): Prepared => {
    const T = ctx.record.tokens.length;
    const { numHeads: Hq, numKvHeads: Hkv } = ctx.spec;
    const G = Hq / Hkv;
    const w = effectiveWindow(ctx.record, window, 'defensivekv');
    const P = T - w;
    const A = windowRows(ctx.record, layer, w);
    const scores = new Float64Array(Hkv * T).fill(Infinity);
    if (P === 0) return { scores, stage1: [] };

    // Steps 2-3: mass-preserving pooled rows, max over group heads and window queries.
    const m = new Float64Array(Hkv * P).fill(-Infinity);
    const abar = new Float64Array(Hkv * P);
    const row = new Float64Array(P);
    let windowBias = 0;
    for (let h = 0; h < Hq; h++) {
      const k = Math.floor(h / G);
      for (let i = 0; i < w; i++) {
        let mass = 0;
        for (let j = 0; j < P; j++) {
          row[j] = A(h, i, j);
          mass += row[j];
          abar[k * P + j] += row[j] / (G * w);
        }
        const pooled = kernel > 1 ? pool1d(row, kernel, 'avg') : Float64Array.from(row);
        let s = 0;
        for (let j = 0; j < P; j++) s += pooled[j];
        const scale = s > 0 ? mass / s : 0;
        for (let j = 0; j < P; j++) m[k * P + j] = Math.max(m[k * P + j], pooled[j] * scale);
        if (opts.window_bias === 'window') for (let j = P; j < T; j++) windowBias += A(h, i, j);
        else if (opts.window_bias === 'prefix-tail') for (let j = Math.max(0, P - w); j < P; j++) windowBias += A(h, i, j);
      }
    }
    windowBias /= Hq * w;

    // Steps 4-5: prior-risk correction, re-weighting by value norms normalised over KV heads.
    const norms = projectedValueNorms(ctx, layer, P);
    const across = new Float64Array(P); // Σ over KV heads of the norm at token j
    for (let k = 0; k < Hkv; k++) for (let j = 0; j < P; j++) across[j] += norms[k * P + j];
    for (let k = 0; k < Hkv; k++) {
      let mean = 0;
      for (let j = 0; j < P; j++) mean += m[k * P + j];
      mean /= P;
      for (let j = 0; j < P; j++) {
        const d = Math.max(m[k * P + j], mean);
        scores[k * T + j] = across[j] > 0 ? (d * norms[k * P + j]) / across[j] : 0;
      }
    }

    // Step 6 (before the cap): the smallest prefix of ā reaching the cumulative mass threshold.
    const threshold = opts.mass_threshold - windowBias;
    const stage1 = Array.from({ length: Hkv }, (_, k) => {
      let total = 0;
      for (let j = 0; j < P; j++) total += abar[k * P + j];
      const order = rankHead(abar, k, P); // descending mass, later token first on ties
      let count = 0;
      if (threshold > 0) {
        let cum = 0;
        count = P; // never reached (rounding): everything qualifies, the cap decides
        for (let r = 0; r < P; r++) {
          cum += total > 0 ? abar[k * P + order[r]] / total : 0;
          if (cum >= threshold) {
            count = opts.stage1_count === 'before' ? r : r + 1;
            break;
          }
        }
        if (count === P && opts.stage1_count === 'before' && cum < threshold) count = 0; // argmax of all-false
      }
      return { order, count };
    });
    return { scores, stage1 };
  };
  return {
    name: 'defensivekv',
    usesBudget: true, // the stage-1 cap B − w follows the budget; everything else is prepared once
    window,
    prepare,
    score(ctx: ScoreContext, layer: number, prepared?: unknown): LayerScores {
      const p = (prepared as Prepared | undefined) ?? prepare(ctx, layer);
      const T = ctx.record.tokens.length;
      const w = effectiveWindow(ctx.record, window, 'defensivekv');
      const P = T - w;
      const scores = Float64Array.from(p.scores);
      // Step 6: stage-1 protection, capped at B − w.
      const cap = Math.max(0, Math.min(P, ctx.layerBudgets[layer] - w));
      p.stage1.forEach(({ order, count }, k) => {
        for (let r = 0; r < Math.min(count, cap); r++) scores[k * T + order[r]] = Infinity;
      });
      return { scores };
    },
  };
}
