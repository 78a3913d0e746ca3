/**
 * The method × budget × setting × task table of an eval run: storage's counts and means per cell
 * (resultAggregates), quality loss against the full cache as DefensiveKV reports it, 1 − score/score_full
 * over the samples both scored, and the means of the secondary metrics; and the table averaged over tasks.
 * The point values; results.ts adds their intervals.
 */
import type { ReadOnlyStorage } from '../store/storage.ts';
import type { AverageRow, ResultAggregate, ResultRow, StoredEvaluation } from '../store/types.ts';

/** What the table is read from. */
export type ResultSource = Pick<ReadOnlyStorage, 'resultAggregates' | 'evaluationsForRun'>;

const cellKey = (r: { method: string; budget: string; setting: string; task: string }) => `${r.method}\u0000${r.budget}\u0000${r.setting}\u0000${r.task}`;

/** 1 − paired/full; null without a full score, or when full scores 0 (the ratio is undefined). */
export function qualityLoss(pairedScore: number | null, fullScore: number | null): number | null {
  return fullScore === null || pairedScore === null || fullScore === 0 ? null : 1 - pairedScore / fullScore;
}

/** Mean of each finite secondary metric per method × budget × setting × task, over ok evaluations. */
export function metricMeans(evaluations: readonly StoredEvaluation[]): Map<string, Record<string, number>> {
  const sums = new Map<string, Map<string, [number, number]>>();
  for (const e of evaluations) {
    if (e.status !== 'ok' || e.metrics === null) continue;
    const key = cellKey(e);
    const acc = sums.get(key) ?? new Map<string, [number, number]>();
    sums.set(key, acc);
    for (const [name, v] of Object.entries(e.metrics)) {
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      const [s0, n0] = acc.get(name) ?? [0, 0];
      acc.set(name, [s0 + v, n0 + 1]);
    }
  }
  return new Map([...sums].map(([k, acc]) => [k, Object.fromEntries([...acc].map(([name, [s0, n0]]) => [name, s0 / n0]))]));
}

/** The table's rows, in the aggregates' order, from storage's aggregates and the run's evaluations. */
export function resultRows(aggregates: readonly ResultAggregate[], evaluations: readonly StoredEvaluation[]): ResultRow[] {
  const metrics = metricMeans(evaluations);
  return aggregates.map(({ pairedScore, ...a }) => ({
    ...a,
    qualityLoss: qualityLoss(pairedScore, a.fullScore),
    metrics: metrics.get(cellKey(a)) ?? {},
  }));
}

/** The run's table (pass `evaluations` when they are already read). */
export function runResults(store: ResultSource, runId: number, evaluations: readonly StoredEvaluation[] = store.evaluationsForRun(runId)): ResultRow[] {
  return resultRows(store.resultAggregates(runId), evaluations);
}

/** Rows averaged over tasks per method × budget × setting (each task weighs the same), in first-seen order. */
export function averageResults(results: readonly ResultRow[]): AverageRow[] {
  const groups = new Map<string, ResultRow[]>();
  for (const r of results) {
    const k = `${r.method}\u0000${r.budget}\u0000${r.setting}`;
    const group = groups.get(k);
    if (group) group.push(r);
    else groups.set(k, [r]);
  }
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  return [...groups.values()].map((rows) => ({
    method: rows[0].method,
    budget: rows[0].budget,
    setting: rows[0].setting,
    tasks: rows.length,
    meanScore: mean(rows.flatMap((r) => (r.meanScore === null ? [] : [r.meanScore]))),
    qualityLoss: mean(rows.flatMap((r) => (r.qualityLoss === null ? [] : [r.qualityLoss]))),
  }));
}
