/**
 * Full cache: no eviction. The registry pairs it with the `all` allocator, so every token of every head is
 * kept whatever the budget (the reference every quality loss is measured against; with a quantiser it gives
 * plain KIVI-2/4).
 */
import type { OptionSchema, OptionsOf } from '../options.ts';
import type { LayerScores, ScoreContext, Scorer } from '../types.ts';

export const fullOptions = {} as const satisfies OptionSchema;
export type FullOptions = OptionsOf<typeof fullOptions>;

export function fullScorer(): Scorer {
  return {
    name: 'full',
    window: 0,
    score(ctx: ScoreContext): LayerScores {
      const T = ctx.record.tokens.length;
      return { scores: new Float64Array(ctx.spec.numKvHeads * T).fill(Infinity) };
    },
  };
}
