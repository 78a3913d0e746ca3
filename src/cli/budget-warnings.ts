/**
 * Budgets at or below a method's observation window: the window is always kept, so a method that keeps
 * B ≤ w tokens per head keeps exactly the B most recent ones, whatever it scores. Every such method then
 * gives the same cache (recency only), and a comparison of them at that budget says nothing. Warned, not refused.
 */
import { methodWindow } from '../compress/index.ts';
import type { ExperimentConfig } from '../config/schema.ts';

/** One line per token budget that is ≤ the window of at least one method (fractions depend on T: not checked here). */
export function windowWarnings(config: ExperimentConfig, budgets: readonly number[], methods = config.methods): string[] {
  const windows = methods.map((m) => ({ key: m.key, w: methodWindow(m.resolved) })).filter((x) => x.w > 0);
  const out: string[] = [];
  for (const b of [...new Set(budgets)].sort((x, y) => x - y)) {
    const hit = windows.filter((x) => b <= x.w);
    if (hit.length === 0) continue;
    const ws = [...new Set(hit.map((x) => x.w))].join('/');
    out.push(
      `kvopt: warning: budget ${b} is at or below the observation window (${ws}) of ${hit.map((x) => x.key).join(', ')}: ` +
        `the window is always kept, so ${hit.length > 1 ? 'these methods keep the same' : 'it keeps only the'} ${b} most recent tokens per head ` +
        `${hit.length > 1 ? 'and give identical results' : 'whatever it scores'} at this budget (lower the window, e.g. snapkv(window=8), or raise the budget)`,
    );
  }
  return out;
}

/** The token budgets of an eval config. */
export const tokenBudgets = (config: ExperimentConfig): number[] => config.budgets.flatMap((b) => (b.kind === 'tokens' ? [b.tokens] : []));
