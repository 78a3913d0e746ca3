/**
 * `kvopt regress` as a CI gate that needs only files a repository can commit: the experiment YAML (its
 * `search:` section names the scorer, fitness and held-out split), an exported budget profile, and a
 * baseline JSON holding the per-sample held-out scores. The profile is re-scored on the held-out samples
 * (in a throw-away database: nothing is added to the search's), paired sample by sample with the
 * baseline, and judged: a regression is a mean paired drop beyond the tolerance whose 95 % bootstrap
 * interval excludes zero, so noise alone never fails a build.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExperimentConfig } from '../config/schema.ts';
import type { BudgetProfile } from '../compress/profile-file.ts';
import { pairedDifference, type PairedDifference } from '../stats/bootstrap.ts';
import { KvoptError } from '../util/errors.ts';
import { windowFor } from './evaluate.ts';
import { searchSplit } from './search-run.ts';
import { contentHash } from '../tasks/sample-hash.ts';
import { RunSession } from './session.ts';
import { oneTrial, Study } from './study.ts';
import type { EvalItem } from './evaluate.ts';

export const BASELINE_FORMAT = 'kvopt-regress-baseline/2';
const BASELINE_FORMAT_V1 = 'kvopt-regress-baseline/1';

/** What --write-baseline writes and --baseline reads: per-sample held-out scores, not only their mean. */
export interface RegressBaseline {
  format: typeof BASELINE_FORMAT;
  experiment: string;
  scorer: string;
  fitness: string;
  profile: number[];
  /** Mean of perSample. */
  score: number;
  /** Held-out sample id → score. */
  perSample: Record<string, number>;
  /** Held-out sample id → content hash, so a baseline of different data is refused rather than misread. */
  samples: Record<string, string>;
}

export interface RegressMeasurement {
  experiment: string;
  scorer: string;
  fitness: string;
  profile: BudgetProfile;
  perSample: Record<string, number>;
  samples: Record<string, string>;
  score: number;
}

export interface RegressVerdict {
  /** Mean over paired samples of baseline − current (positive: quality fell). */
  drop: number;
  /** 95 % interval of the drop (bootstrap over samples); null with fewer than 2 samples. */
  lo: number | null;
  hi: number | null;
  tolerance: number;
  n: number;
  /** Samples where the current score is above / equal to / below the baseline. */
  better: number;
  same: number;
  worse: number;
  /** drop > tolerance AND the interval lies above 0. */
  regression: boolean;
  /** The largest per-sample drops, worst first. */
  worst: { id: string; baseline: number; current: number }[];
}

/** Re-scores `profile` on the held-out samples of the experiment's search split. */
export async function measureProfile(config: ExperimentConfig, profile: BudgetProfile, opts: { quiet?: boolean } = {}): Promise<RegressMeasurement> {
  const s = config.search;
  if (!s) throw new KvoptError(`${config.source.file}: regress needs the experiment's search: section (scorer, fitness and held-out split)`);
  if (!config.tasks.some((t) => t.heldout > 0)) throw new KvoptError(`${config.source.file}: tasks[].heldout is 0: there are no held-out samples to re-score`);
  // A throw-away database: the gate adds nothing to any results database (and needs none).
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-regress-'));
  const scratch: ExperimentConfig = { ...config, name: `regress/${config.name}`, db: join(dir, 'regress.db') };
  const scorer = s.scorer.resolved;
  const session = RunSession.open(scratch, 'eval', { quiet: opts.quiet, prefillCache: false });
  const study = new Study(session, { fitness: s.fitness, chunkSize: config.chunkSize, window: Math.max(config.window, windowFor([scorer])) }, 'regress');
  const perSample: Record<string, number> = {};
  const samples: Record<string, string> = {};
  try {
    const heldout = (await session.loadJobs(searchSplit)).filter((j) => j.split === 'heldout');
    const L = session.modelInfo!.numLayers;
    if (profile.layers.length !== L) throw new KvoptError(`profile has ${profile.layers.length} layers but the model of ${config.source.file} has ${L}`);
    const item: EvalItem = { key: 'profile', method: scorer, budget: { kind: 'profile', layers: profile.layers } };
    const multiTask = config.tasks.length > 1;
    // A fixed profile on the held-out samples: one trial; a sample that fails its retry too stops the gate.
    await study.run(
      oneTrial(
        {
          units: heldout.map((job) => ({ job, calls: [{ setting: config.settings[0], items: [item], batch: 1 }] })),
          failedTwice: (job, r) => {
            throw new KvoptError(`held-out sample ${job.sample.id} failed: ${r.error}`);
          },
        },
        // In sample order, whichever worker finished first: the baseline lists the samples in this order.
        (results) =>
          heldout.forEach((job, u) => {
            const id = multiTask ? `${job.task.name}/${job.sample.id}` : job.sample.id;
            perSample[id] = results[u][0][0].score;
            samples[id] = contentHash(job.sample);
          }),
      ),
    );
    if (session.interrupted) throw new KvoptError(`interrupted by ${session.interruptedBy} before every held-out sample was scored`);
    await session.close();
  } catch (e) {
    await session.close(e);
    throw e;
  } finally {
    session.store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const xs = Object.values(perSample);
  return { experiment: config.name, scorer: s.scorer.key, fitness: s.fitness, profile, perSample, samples, score: xs.reduce((a, b) => a + b, 0) / xs.length };
}

export function baselineOf(m: RegressMeasurement): RegressBaseline {
  return {
    format: BASELINE_FORMAT,
    experiment: m.experiment,
    scorer: m.scorer,
    fitness: m.fitness,
    profile: m.profile.layers,
    score: m.score,
    perSample: m.perSample,
    samples: m.samples,
  };
}

/** Reads a baseline file; one-line errors name the file and the field. */
export function readBaseline(path: string): RegressBaseline {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new KvoptError(`${path}: cannot read the baseline (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (v === null || typeof v !== 'object') throw new KvoptError(`${path}: expected a JSON object (a kvopt regress --write-baseline file)`);
  if (v.format === BASELINE_FORMAT_V1 || (v.format === undefined && (v.meta as Record<string, unknown> | undefined)?.heldoutScore !== undefined)) {
    throw new KvoptError(
      `${path}: this baseline holds a mean only; a paired test needs per-sample scores: write a new one with kvopt regress --write-baseline`,
    );
  }
  if (v.format !== BASELINE_FORMAT) throw new KvoptError(`${path}: format: expected "${BASELINE_FORMAT}", got ${JSON.stringify(v.format)}`);
  const per = v.perSample as Record<string, unknown> | undefined;
  if (!per || typeof per !== 'object' || Object.keys(per).length === 0) throw new KvoptError(`${path}: perSample: expected a mapping of sample id to score`);
  for (const [id, x] of Object.entries(per)) {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new KvoptError(`${path}: perSample.${id}: expected a number, got ${JSON.stringify(x)}`);
  }
  const samples = (v.samples ?? {}) as Record<string, string>;
  return { ...(v as unknown as RegressBaseline), samples };
}

/** Pairs the measurement with the baseline and applies the rule: drop > tolerance and interval above 0. */
export function judge(m: RegressMeasurement, b: RegressBaseline, tolerance: number, opts: { resamples?: number; seed?: number } = {}): RegressVerdict {
  if (b.scorer !== m.scorer || b.fitness !== m.fitness) {
    throw new KvoptError(
      `baseline was measured with ${b.scorer} / fitness ${b.fitness}, the experiment now uses ${m.scorer} / fitness ${m.fitness}: write a new baseline`,
    );
  }
  const ids = Object.keys(m.perSample).filter((id) => id in b.perSample);
  const missing = Object.keys(b.perSample).filter((id) => !(id in m.perSample));
  if (ids.length === 0 || missing.length) {
    throw new KvoptError(
      `the baseline's held-out samples (${Object.keys(b.perSample).length}) are not the experiment's (${Object.keys(m.perSample).length}; missing ${missing.slice(0, 3).join(', ') || 'all'}): write a new baseline`,
    );
  }
  const changed = ids.filter((id) => b.samples[id] !== undefined && b.samples[id] !== m.samples[id]);
  if (changed.length) throw new KvoptError(`held-out sample ${changed[0]} differs from the one the baseline scored (the data changed): write a new baseline`);
  // Without an interval the rule could never fail: a gate that always passes is refused instead.
  if (ids.length < 2)
    throw new KvoptError(
      `the paired test needs at least 2 held-out samples to put an interval on the drop; the experiment holds out ${ids.length} (raise tasks[].heldout)`,
    );
  if (opts.resamples !== undefined && opts.resamples < 1)
    throw new KvoptError('--bootstrap: regress needs resamples (>= 1) for the interval of the drop, got 0');
  // d = baseline − current per sample: the drop.
  const d: PairedDifference = pairedDifference(
    ids.map((id) => b.perSample[id]),
    ids.map((id) => m.perSample[id]),
    { resamples: opts.resamples, seed: opts.seed ?? 0 },
  );
  const worst = ids
    .map((id) => ({ id, baseline: b.perSample[id], current: m.perSample[id] }))
    .filter((x) => x.current < x.baseline)
    .sort((x, y) => x.current - x.baseline - (y.current - y.baseline))
    .slice(0, 10);
  return {
    drop: d.value,
    lo: d.lo,
    hi: d.hi,
    tolerance,
    n: d.n,
    better: d.losses, // baseline − current < 0: current above the baseline
    same: d.ties,
    worse: d.wins,
    regression: d.value > tolerance && d.lo !== null && d.lo > 0,
    worst,
  };
}
