/**
 * `kvopt eval` as a run: plan (tasks × samples × settings × methods × budgets), hand each sample to the
 * worker pool (one prefill, every pending item from it), store each result as it arrives, and resume a
 * killed run by skipping what is stored. A failed item is stored as failed with its error and retried once.
 */
import type { ExperimentConfig } from '../config/schema.ts';
import { budgetKey } from '../config/schema.ts';
import { evaluationKeyString, FULL_METHOD } from '../store/store.ts';
import type { RunRow } from '../store/types.ts';
import { averageResults, runResults } from '../stats/quality.ts';
import { averagesWithIntervals, withIntervals, type AverageRowWithIntervals, type ResultRowWithIntervals, type StatsOptions } from '../stats/results.ts';
import type { FitnessSource, Setting } from '../config/schema.ts';
import type { EvalItem, ItemResult } from './evaluate.ts';
import { windowFor } from './evaluate.ts';
import { addItemTiming, emptyTiming, type RunTiming } from './timing.ts';
import { parseMethod } from '../compress/index.ts';
import { asDiskFull } from '../util/disk-full.ts';
import { budgetInput, RunSession, type Job, type PrefillCacheReport } from './session.ts';
import type { QueueCoordinator } from '../queue/coordinator.ts';

export interface EvalRunOptions {
  resume?: boolean;
  quiet?: boolean;
  /** Keep PrefillRecords on disk beside the database so a resumed run never prefills a sample twice. */
  prefillCache?: boolean;
  /** Disk budget of the prefill cache in bytes (LRU); null or absent: unlimited. */
  prefillCacheLimit?: number | null;
  /** Items decoded together per batched run. */
  batch?: number;
  fitness?: FitnessSource;
  /** Bootstrap intervals of the result rows (resamples, reference method); seeded with the run seed by default. */
  stats?: StatsOptions;
  /** Evaluate on remote workers through this queue instead of the local pool. */
  queue?: QueueCoordinator;
}

export interface EvalRunResult {
  run: RunRow;
  results: ResultRowWithIntervals[];
  averages: AverageRowWithIntervals[];
  /** Metric of each task as stored with its results (e.g. gsm8k → gsm8k_flexible: exact match). */
  metrics: Record<string, string[]>;
  prefills: number;
  /** Prefills per prompt (sample × setting) prefilled: 1.0 when no prompt was prefilled twice. */
  prefillsPerSample: number;
  evaluations: number;
  failed: number;
  wallMs: number;
  timing: RunTiming;
  prefillCache: PrefillCacheReport | null;
  /** The signal that interrupted the run, if one did. */
  interruptedBy: 'SIGINT' | 'SIGTERM' | null;
}

/** An item with what it is stored as. */
export interface PlannedItem {
  item: EvalItem;
  method: string;
  budget: string;
  setting: Setting;
}

/** Methods that evict nothing (full, KIVI alone) ignore the budget: they are evaluated once, budget 'full'. */
const evictsNothing = (m: ExperimentConfig['methods'][number]) => m.resolved.allocator.name === 'all';

/** Every (setting, method, budget) of the config; `full` (added when absent) once per setting. */
export function planItems(c: ExperimentConfig): PlannedItem[] {
  const out: PlannedItem[] = [];
  const methods = c.methods.some((m) => m.name === FULL_METHOD)
    ? c.methods
    : [{ name: FULL_METHOD, options: {}, key: FULL_METHOD, resolved: parseMethod(FULL_METHOD) }, ...c.methods];
  for (const setting of c.settings) {
    for (const m of methods) {
      for (const b of evictsNothing(m) ? [null] : c.budgets) {
        const budget = b ? budgetKey(b) : FULL_METHOD;
        // full keeps everything whatever the budget: give it one larger than any context.
        out.push({ item: { key: `${setting}|${m.key}|${budget}`, method: m.resolved, budget: b ? budgetInput(b) : 2 ** 30 }, method: m.key, budget, setting });
      }
    }
  }
  return out;
}

/** Distinct metric names per task label, from the stored evaluations. */
function metricsByTask(evals: readonly { task: string; metric: string | null }[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of evals) {
    if (!e.metric) continue;
    const metrics = out[e.task] ?? [];
    out[e.task] = metrics;
    if (!metrics.includes(e.metric)) metrics.push(e.metric);
  }
  return out;
}

export async function runEval(config: ExperimentConfig, opts: EvalRunOptions = {}): Promise<EvalRunResult> {
  const t0 = Date.now();
  const session = RunSession.open(config, 'eval', opts);
  const { store, run } = session;
  const planned = planItems(config);
  const byKey = new Map(planned.map((p) => [p.item.key, p]));
  const window = Math.max(config.window, windowFor(planned.map((p) => p.item.method)));
  const options = { fitness: opts.fitness ?? 'task', batch: opts.batch ?? 8, chunkSize: config.chunkSize, window };
  const timing = emptyTiming(session.sizing.workers);

  try {
    const jobs = await session.loadJobs(() => 'eval');
    const done = store.completedEvaluationKeys(run.id);
    const keyOf = (job: Job, p: PlannedItem) => evaluationKeyString({ sampleId: job.sampleId, method: p.method, budget: p.budget, setting: p.setting });

    const save = (job: Job, r: ItemResult, attempt: number) => {
      const p = byKey.get(r.key)!;
      const ok = r.status === 'ok';
      store.insertEvaluation({
        runId: run.id,
        sampleId: job.sampleId,
        method: p.method,
        budget: p.budget,
        setting: p.setting,
        budgetTokens: ok ? r.layerBudgets.reduce((a, b) => a + b, 0) / r.layerBudgets.length : null,
        budgetProfile: ok ? r.layerBudgets : null,
        headBudgets: ok ? r.headBudgets : null,
        score: ok ? r.score : null,
        metric: job.sample.metric,
        metrics: r.metrics,
        prediction: r.prediction,
        generatedTokens: r.generatedTokens,
        compressMs: r.compressMs,
        decodeMs: r.decodeMs,
        kvEntries: r.kvEntries,
        kvBytes: r.kvBytes,
        status: r.status,
        error: r.error ?? null,
        attempt,
      });
      if (ok) done.add(keyOf(job, p));
    };

    // One unit of work per (sample, setting): the prefill differs per setting. A sample's settings run one
    // after the other in one lane, so two workers never prefill the same prompt at once.
    // Items are decoded in fixed batches (chunks of the plan), and a resumed run re-runs whole batches that
    // hold a pending item: batch composition changes the padded shapes and so the float rounding, and a
    // resumed run must reproduce an uninterrupted one exactly. Already stored results are kept as they are.
    const work = jobs
      .map((job) => ({
        job,
        units: config.settings
          .map((setting) => {
            const mine = planned.filter((p) => p.setting === setting);
            const batches = Array.from({ length: Math.ceil(mine.length / options.batch) }, (_, i) => mine.slice(i * options.batch, (i + 1) * options.batch));
            const items = batches.filter((b) => b.some((p) => !done.has(keyOf(job, p)))).flat();
            return { setting, items, pending: items.filter((p) => !done.has(keyOf(job, p))).length };
          })
          .filter((u) => u.items.length > 0),
      }))
      .filter((w) => w.units.length > 0);
    let total = work.reduce((n, w) => n + w.units.reduce((m, u) => m + u.pending, 0), 0);
    const progress = session.progress(`eval run ${run.id}`, total);

    const runUnit = async (job: Job, setting: Setting, items: PlannedItem[], attempt: number) => {
      const results = await session.evaluate(
        job,
        items.map((p) => p.item),
        { ...options, setting },
        (r) => {
          if (done.has(keyOf(job, byKey.get(r.key)!))) return; // stored before the interruption
          addItemTiming(timing, r);
          save(job, r, attempt);
          progress.tick(1, `${job.sample.id} ${byKey.get(r.key)!.method}`);
        },
        (p) => (timing.prefillMs += p.ms),
        attempt,
      );
      return items.filter((_, i) => results[i].status === 'failed');
    };

    // As many samples in flight as workers, so an interrupt leaves little to finish.
    let next = 0;
    const lane = async () => {
      while (!session.pool.stopping && !session.fatal && next < work.length) {
        const { job, units } = work[next++];
        for (const u of units) {
          if (session.pool.stopping) break;
          const failed = await runUnit(job, u.setting, u.items, 1);
          if (failed.length && !session.pool.stopping) {
            total += failed.length;
            progress.setTotal(total);
            await runUnit(job, u.setting, failed, 2); // one retry; what fails again stays stored as failed
          }
        }
      }
    };
    await Promise.all(Array.from({ length: session.lanes }, lane));
    progress.stop();
    session.throwIfFatal();
    // A run with failed evaluations is not complete: it ends 'failed', and --resume re-runs what failed.
    const failedNow = store.evaluationsForRun(run.id).filter((e) => e.status === 'failed').length;
    await session.close(undefined, failedNow > 0 ? 'failed' : 'complete', failedNow > 0 ? `${failedNow} evaluations failed` : undefined);
  } catch (e) {
    await session.close(e);
    throw asDiskFull(e, config.db);
  }

  const evaluations = store.evaluationsForRun(run.id);
  const results = runResults(store, run.id, evaluations);
  const stats = { seed: run.seed, ...opts.stats };
  const result: EvalRunResult = {
    run: store.getRun(run.id),
    results: withIntervals(results, evaluations, stats),
    averages: averagesWithIntervals(averageResults(results), evaluations, stats),
    metrics: metricsByTask(evaluations),
    prefills: store.prefillCount(run.id),
    prefillsPerSample: store.prefillsPerPrompt(run.id),
    evaluations: evaluations.filter((e) => e.status === 'ok').length,
    failed: evaluations.filter((e) => e.status === 'failed').length,
    wallMs: Date.now() - t0,
    timing: { ...timing, wallMs: Date.now() - t0 },
    prefillCache: session.prefillCacheReport,
    interruptedBy: session.interruptedBy,
  };
  store.close();
  return result;
}
