/**
 * Intervals for the method × budget × setting × task table: each row's mean score, its quality loss
 * against the full cache, and its paired difference from a reference method, all from a seeded bootstrap
 * over the row's samples (bootstrap.ts). Computed from the stored per-sample evaluations, so quality.ts
 * stays the one source of the point values and these only add bounds.
 */
import { KvoptError } from '../util/errors.ts';
import type { AverageRow, ResultRow, StoredEvaluation } from '../store/types.ts';
import { type BootstrapOptions, lossInterval, meanInterval, pairedDifference, seedFor, stratifiedMeanInterval } from './bootstrap.ts';

export const FULL = 'full';

export interface StatsOptions extends BootstrapOptions {
  /** Reference method of the paired comparison (default `full`). */
  compareTo?: string;
}

/** A result row with its 95 % bounds and the paired comparison with the reference method. */
export interface ResultRowWithIntervals extends ResultRow {
  scoreLo: number | null;
  scoreHi: number | null;
  qualityLossLo: number | null;
  qualityLossHi: number | null;
  /** The reference method of diff/wins/ties/losses, null for the reference's own rows. */
  compareTo: string | null;
  /** Mean over paired samples of score − reference score, with its interval. */
  diff: number | null;
  diffLo: number | null;
  diffHi: number | null;
  wins: number | null;
  ties: number | null;
  losses: number | null;
  /** The diff interval excludes 0. */
  distinguishable: boolean | null;
}

export interface AverageRowWithIntervals extends AverageRow {
  scoreLo: number | null;
  scoreHi: number | null;
}

const rowKey = (r: { method: string; budget: string; setting: string; task: string }) => `${r.method}\u0000${r.budget}\u0000${r.setting}\u0000${r.task}`;

/** Per-sample ok scores of each row, keyed by rowKey, then by sample id. */
function scoresByRow(evals: readonly StoredEvaluation[]): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const e of evals) {
    if (e.status !== 'ok' || e.score === null) continue;
    const k = rowKey(e);
    const m = out.get(k) ?? new Map<number, number>();
    out.set(k, m);
    m.set(e.sampleId, e.score);
  }
  return out;
}

/** The reference row a row is paired with: same task and setting; same budget, else the reference's budget-free row. */
function referenceKey(r: ResultRow, ref: string, rows: Map<string, Map<number, number>>): string | null {
  const same = rowKey({ ...r, method: ref });
  if (rows.has(same)) return same;
  const free = rowKey({ ...r, method: ref, budget: FULL });
  return rows.has(free) ? free : null;
}

export function withIntervals(rows: readonly ResultRow[], evals: readonly StoredEvaluation[], opts: StatsOptions = {}): ResultRowWithIntervals[] {
  const scores = scoresByRow(evals);
  const ref = opts.compareTo ?? FULL;
  return rows.map((r) => {
    const key = rowKey(r);
    const seed = seedFor(opts.seed ?? 0, key);
    const b = { ...opts, seed };
    const mine = scores.get(key) ?? new Map<number, number>();
    const score = meanInterval([...mine.values()], b);
    const fullRow = scores.get(rowKey({ ...r, method: FULL, budget: FULL }));
    let loss = null;
    if (fullRow && r.qualityLoss !== null) {
      const ids = [...mine.keys()].filter((id) => fullRow.has(id));
      loss = lossInterval(
        ids.map((id) => mine.get(id)!),
        ids.map((id) => fullRow.get(id)!),
        b,
      );
    }
    const refKey = r.method === ref ? null : referenceKey(r, ref, scores);
    let diff = null;
    if (refKey) {
      const refRow = scores.get(refKey)!;
      const ids = [...mine.keys()].filter((id) => refRow.has(id));
      if (ids.length)
        diff = pairedDifference(
          ids.map((id) => mine.get(id)!),
          ids.map((id) => refRow.get(id)!),
          b,
        );
    }
    return {
      ...r,
      scoreLo: score.lo,
      scoreHi: score.hi,
      qualityLossLo: loss?.lo ?? null,
      qualityLossHi: loss?.hi ?? null,
      compareTo: diff ? ref : null,
      diff: diff?.value ?? null,
      diffLo: diff?.lo ?? null,
      diffHi: diff?.hi ?? null,
      wins: diff?.wins ?? null,
      ties: diff?.ties ?? null,
      losses: diff?.losses ?? null,
      distinguishable: diff ? diff.distinguishable : null,
    };
  });
}

/** Task-averaged rows with a stratified interval of the mean score (each task resampled within itself). */
export function averagesWithIntervals(
  averages: readonly AverageRow[],
  evals: readonly StoredEvaluation[],
  opts: BootstrapOptions = {},
): AverageRowWithIntervals[] {
  const scores = scoresByRow(evals);
  return averages.map((a) => {
    const groups = [...scores.entries()]
      .filter(([k]) => k.startsWith(`${a.method}\u0000${a.budget}\u0000${a.setting}\u0000`))
      .map(([, m]) => [...m.values()])
      .filter((g) => g.length > 0);
    const e = groups.length ? stratifiedMeanInterval(groups, { ...opts, seed: seedFor(opts.seed ?? 0, `${a.method}|${a.budget}|${a.setting}`) }) : null;
    return { ...a, scoreLo: e?.lo ?? null, scoreHi: e?.hi ?? null };
  });
}

/** `--bootstrap N`: resamples of the intervals (0 turns them off). */
export function parseBootstrap(v: string | undefined, flag = '--bootstrap'): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < 0)
    throw new KvoptError(`${flag}: expected a whole number of resamples (e.g. 1000, or 0 for no intervals), got '${v}'`);
  return n;
}
