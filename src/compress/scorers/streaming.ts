/**
 * StreamingLLM (Xiao et al., arXiv 2309.17453): keep the first `sinks` tokens ("attention sinks") and the most
 * recent B − sinks tokens, the same for every head, decided once at prefill.
 * Defaults: sinks = 4 (paper, kvpress n_sink). Positions are NOT re-assigned inside the cache (kvpress
 * behaviour; the paper's pos_shift patch re-rotates keys, kvopt keeps original RoPE positions, design.md §4.2).
 * Scores: sinks +Infinity, every other token its position j (later = higher). If B < sinks the later sinks win
 * (the global tie rule).
 */
import type { OptionSchema, OptionsOf } from '../options.ts';
import type { LayerScores, ScoreContext, Scorer } from '../types.ts';

export const streamingOptions = {
  sinks: { type: 'int', min: 0, default: 4, doc: 'first tokens always kept (attention sinks)' },
} as const satisfies OptionSchema;
export type StreamingOptions = OptionsOf<typeof streamingOptions>;

export function streamingScorer(opts: StreamingOptions): Scorer {
  const sinks = opts.sinks;
  return {
    name: 'streaming',
    window: 0,
    score(ctx: ScoreContext): LayerScores {
      const T = ctx.record.tokens.length;
      const Hkv = ctx.spec.numKvHeads;
      const scores = new Float64Array(Hkv * T);
      for (let h = 0; h < Hkv; h++) for (let j = 0; j < T; j++) scores[h * T + j] = j < sinks ? Infinity : j;
      return { scores };
    },
  };
}
