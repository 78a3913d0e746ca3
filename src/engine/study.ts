/**
 * The one loop of every run (eval, search, regress): ask for a trial (items to evaluate on samples),
 * evaluate it, tell the results; the run's generator of trials persists what a result or a complete trial
 * means (an evaluation row, a generation, a comparison). The study owns what the runs share: samples spread
 * over the lanes (workers), a failed item retried once, timing and progress, and the stop on an interrupt
 * or a fatal error. (Optuna's Study / Sampler / Storage split; the proposing half of a sampler is the
 * optimiser, search/optimizers, and the store is the storage.)
 *
 * - eval: one trial, the planned grid (oneTrial); each result stored as it arrives, failures too.
 * - search: a trial per generation, then its best on the held-out samples, then the comparisons; a
 *   sample that fails its retry too stops the search.
 * - regress: one trial, a fixed profile on the held-out samples (oneTrial).
 */
import type { Setting } from '../config/schema.ts';
import type { EvalItem, EvaluateOptions, ItemResult } from './evaluate.ts';
import type { Progress } from './progress.ts';
import type { Job, RunSession } from './session.ts';
import { addItemTiming, emptyTiming, type RunTiming } from './timing.ts';

/** Items evaluated together on one sample in one worker call: one prefill, decoded `batch` at a time. */
export interface Call {
  setting: Setting;
  items: EvalItem[];
  batch: number;
}

/** One sample's calls, run one after the other in one lane, so two workers never prefill the same prompt at once. */
export interface Unit {
  job: Job;
  calls: Call[];
}

export interface Trial {
  units: Unit[];
  /**
   * Persists one result as it arrives (first try or retry); false for a result stored before the run was
   * resumed (a resumed eval re-runs whole batches), which is then not counted again.
   */
  save?(job: Job, r: ItemResult, attempt: number): boolean;
  /** The progress line counts this trial's items, with this detail (eval); otherwise the generator ticks per trial. */
  itemProgress?(job: Job, r: ItemResult): string;
  /** An item failed on its retry too (not called when the run is stopping): eval keeps it stored as failed; a search throws. */
  failedTwice?(job: Job, r: ItemResult): void;
}

/** The final result of every item, [unit][call][item], in the trial's order (never in arrival order). */
export type TrialResults = ItemResult[][][];

/**
 * A run's trials: `yield trial` asks, the value the generator resumes with tells it the results. A trial cut
 * short by an interrupt is never told (the generator is closed instead), so only complete trials are persisted.
 */
export type Trials = AsyncGenerator<Trial, void, TrialResults>;

/** One fixed trial (eval's planned grid, regress's profile on the held-out samples), told its results once. */
export async function* oneTrial(trial: Trial, tell: (results: TrialResults) => void = () => {}): Trials {
  tell(yield trial);
}

export class Study {
  readonly timing: RunTiming;
  private bar: Progress | null = null;
  private total = 0;

  constructor(
    readonly session: RunSession,
    /** What every call shares (its setting and batch are the call's). */
    private readonly options: Omit<EvaluateOptions, 'setting' | 'batch'> & { window: number },
    private readonly label: string,
  ) {
    this.timing = emptyTiming(session.sizing.workers);
  }

  /** The run's progress line, started with `total` units on the first call. */
  progress(total = 0): Progress {
    if (!this.bar) {
      this.total = total;
      this.bar = this.session.progress(this.label, total);
    }
    return this.bar;
  }

  /** Asks, evaluates and tells until the trials end, the run is interrupted or a fatal error stops it. */
  async run(trials: Trials): Promise<void> {
    try {
      let step = await trials.next(undefined as unknown as TrialResults); // the first next() takes no value
      while (!step.done) {
        const results = await this.evaluate(step.value);
        if (this.session.interrupted) break;
        step = await trials.next(results);
      }
    } finally {
      await trials.return();
      this.bar?.stop();
    }
  }

  private async evaluate(trial: Trial): Promise<TrialResults> {
    const { session, timing } = this;
    const out: TrialResults = trial.units.map((u) => u.calls.map(() => []));
    const run = (job: Job, call: Call, items: EvalItem[], attempt: number) =>
      session.evaluate(
        job,
        items,
        { ...this.options, setting: call.setting, batch: call.batch },
        (r) => {
          if (trial.save?.(job, r, attempt) === false) return;
          addItemTiming(timing, r);
          if (trial.itemProgress) this.progress().tick(1, trial.itemProgress(job, r));
        },
        (p) => (timing.prefillMs += p.ms),
        attempt,
      );
    // As many samples in flight as lanes, so an interrupt leaves little to finish.
    let next = 0;
    const lane = async () => {
      while (!session.pool.stopping && !session.fatal && next < trial.units.length) {
        const u = next++;
        const { job, calls } = trial.units[u];
        for (const [c, call] of calls.entries()) {
          if (session.pool.stopping) break;
          const results = await run(job, call, call.items, 1);
          const failed = call.items.flatMap((_, i) => (results[i].status === 'failed' ? [i] : []));
          if (failed.length && !session.pool.stopping) {
            if (trial.itemProgress) {
              this.total += failed.length;
              this.progress().setTotal(this.total);
            }
            const retried = await run(
              job,
              call,
              failed.map((i) => call.items[i]),
              2,
            );
            failed.forEach((i, j) => (results[i] = retried[j]));
          }
          out[u][c] = results;
          if (!session.pool.stopping) for (const r of results) if (r.status === 'failed') trial.failedTwice?.(job, r);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(session.lanes, trial.units.length) }, lane));
    session.throwIfFatal();
    return out;
  }
}
