/**
 * `kvopt search` as a run: EvolKV (search/evolkv.ts) as the study's trials (study.ts), one per generation.
 *
 * Cost (design.md §2): every calibration sample is prefilled once (then read from the worker's memory or
 * the disk cache); the candidates of a generation that share a sample are compressed from that one
 * PrefillRecord and decoded together in one batched run. After each generation the candidates, their
 * fitness parts, the generation's best scored on the held-out set, and the optimiser + search state are
 * stored in one transaction; `--resume` restores the state of the last stored generation, so a killed
 * search ends where an uninterrupted one with the same seed ends.
 *
 * At the end, the completed profile is compared with the uniform and pyramid allocations at the same
 * mean budget (same inner scorer), on the calibration and the held-out samples; the profile is also
 * carried to the `transfer` budgets by rescaling and compared there.
 */
import { budgetKey, type ExperimentConfig, type SearchConfig, type Setting } from '../config/schema.ts';
import { EvolKvSearch, type EvolKvState } from '../search/evolkv.ts';
import { transferProfile } from '../search/transfer.ts';
import type { GenerationRow, ProfileRow, RunRow } from '../store/types.ts';
import { KvoptError } from '../util/errors.ts';
import type { EvalItem } from './evaluate.ts';
import { windowFor } from './evaluate.ts';
import { asDiskFull } from '../util/disk-full.ts';
import type { RunTiming } from './timing.ts';
import { RunSession, type Job, type PrefillCacheReport } from './session.ts';
import { Study, type Trials, type Trial, type TrialResults } from './study.ts';
import { withPyramidSchedule, type MethodSpec, type UniformBudget } from '../compress/index.ts';
import type { QueueCoordinator } from '../queue/coordinator.ts';

export interface SearchRunOptions {
  resume?: boolean;
  quiet?: boolean;
  prefillCache?: boolean;
  /** Disk budget of the prefill cache in bytes (LRU); null or absent: unlimited. */
  prefillCacheLimit?: number | null;
  /** Evaluate on remote workers through this queue instead of the local pool. */
  queue?: QueueCoordinator;
}

export interface ComparisonRow {
  budget: number;
  allocation: 'evolkv' | 'uniform' | 'pyramid';
  calibration: number | null;
  heldout: number | null;
  /** Per-sample scores (sample id → score, NaN for a failure), for paired intervals (src/stats). */
  perSample: { calibration: Record<string, number>; heldout: Record<string, number> | null };
}

export interface SearchRunResult {
  run: RunRow;
  generations: GenerationRow[];
  profiles: ProfileRow[];
  comparison: ComparisonRow[];
  prefills: number;
  /** Prefills per prompt prefilled: 1.0 when no sample was prefilled twice. */
  prefillsPerSample: number;
  timing: RunTiming;
  prefillCache: PrefillCacheReport | null;
  /** The signal that interrupted the run, if one did. */
  interruptedBy: 'SIGINT' | 'SIGTERM' | null;
}

/** Mean score of each profile over a set of samples, plus per-sample scores (NaN for failures). */
interface ProfileScores {
  mean: number[];
  perSample: Record<string, number>[];
}

/** Calibration / held-out split: the last `heldout` samples of each task (the loader already drew them seeded). */
export const searchSplit = (task: { heldout: number }, i: number, n: number) =>
  (i >= n - task.heldout ? 'heldout' : 'calibration') as 'heldout' | 'calibration';

/** What the search's trials share within one run. */
interface SearchContext {
  s: SearchConfig;
  session: RunSession;
  study: Study;
  setting: Setting;
  scorer: MethodSpec;
  /** The comparison's pyramid: the scorer with PyramidKV's schedule. */
  pyramid: MethodSpec;
  calibration: Job[];
  heldout: Job[];
  /** Filled by the comparisons, for the result. */
  comparison: ComparisonRow[];
}

/**
 * A trial of `items` on every job, decoded together per sample. A sample whose evaluation fails is retried
 * once (the study), as eval does; if it fails again the fitness cannot be computed, and the search stops
 * with an error (the run ends 'failed': no profile, nothing to export) instead of ranking candidates on
 * what is left.
 */
function trial(ctx: SearchContext, items: EvalItem[], jobs: Job[]): Trial {
  return {
    units: jobs.map((job) => ({ job, calls: [{ setting: ctx.setting, items, batch: items.length }] })),
    failedTwice: (job, r) => {
      throw new KvoptError(
        `sample ${job.sample.id} failed twice (${(r.error ?? 'unknown error').split('\n')[0]}); the search fitness cannot be computed without it`,
      );
    },
  };
}

/** Per item of a trial on `jobs`: the mean over the jobs of `set` and the per-sample scores (NaN for a failure). */
function scores(results: TrialResults, jobs: readonly Job[], set: readonly Job[], items: number): ProfileScores {
  // In sample order, not in the order results came back: float addition is not associative, and the
  // stored per-sample scores then read the same whichever worker finished first.
  const perSample = Array.from({ length: items }, (_, i) =>
    Object.fromEntries(
      set.map((j) => {
        const r = results[jobs.indexOf(j)][0][i];
        return [j.sample.id, r.status === 'ok' ? r.score : NaN];
      }),
    ),
  );
  const mean = perSample.map((m) => {
    const xs = Object.values(m);
    return xs.length === set.length && xs.every(Number.isFinite) ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
  });
  return { mean, perSample };
}

const profileItems = (scorer: MethodSpec, profiles: number[][]): EvalItem[] =>
  profiles.map((p, i) => ({ key: `c${i}`, method: scorer, budget: { kind: 'profile', layers: p } }));

/** EvolKV's trials: one per generation, then its best on the held-out samples; the comparisons at the end. */
async function* evolkvTrials(ctx: SearchContext, search: EvolKvSearch, contextLength: number): Trials {
  const { s, session, study, calibration, heldout } = ctx;
  const { store, run } = session;
  const progress = study.progress(search.progress().totalGenerations);
  progress.tick(search.progress().globalGeneration);
  while (!search.done()) {
    const g0 = Date.now();
    const before = { ...study.timing };
    const cands = search.ask();
    const items = profileItems(
      ctx.scorer,
      cands.map((c) => c.profile),
    );
    // An interrupted generation is never told (the study stops): --resume redoes it from the stored state.
    const cal = scores(yield trial(ctx, items, calibration), calibration, calibration, items.length);
    const told = search.tell(cal.mean);
    const best = told.generationBest >= 0 ? cands[told.generationBest] : null;
    const held = best && heldout.length ? scores(yield trial(ctx, profileItems(ctx.scorer, [best.profile]), heldout), heldout, heldout, 1) : null;
    const heldoutScore = held ? held.mean[0] : null;
    const fitness = told.evaluations
      .map((e) => e.fitness)
      .filter(Number.isFinite)
      .sort((a, b) => a - b);
    session.assertHeld();
    store.saveGeneration(
      {
        runId: run.id,
        group: cands[0].group,
        generation: cands[0].generation,
        optimizerState: search.state().optimizer,
        searchState: search.state(),
        bestFitness: best ? told.evaluations[told.generationBest].fitness : null,
        medianFitness: fitness.length ? fitness[Math.floor((fitness.length - 1) / 2)] : null,
        bestCandidate: best ? told.generationBest : null,
        heldoutScore: heldoutScore !== null && Number.isFinite(heldoutScore) ? heldoutScore : null,
        wallMs: Date.now() - g0,
        prefillMs: study.timing.prefillMs - before.prefillMs,
        decodeMs: study.timing.decodeMs - before.decodeMs,
      },
      told.evaluations.map((e, i) => ({
        index: i,
        split: 'calibration',
        budgets: e.profile,
        fitness: Number.isFinite(e.fitness) ? e.fitness : null,
        taskScore: Number.isFinite(e.taskScore) ? e.taskScore : null,
        cacheScore: e.cacheScore,
        sampleScores: cal.perSample[i],
      })),
    );
    const p = search.progress();
    progress.tick(1, `group ${Math.min(p.group + 1, p.groupCount)}/${p.groupCount} best ${search.best()?.fitness.toFixed(4) ?? '-'}`);
  }
  const { best, completedProfile } = search.result();
  yield* compareAllocations(ctx, s.budget, completedProfile, best?.fitness ?? null, 'search');
  for (const target of s.transfer.filter((t) => t !== s.budget)) {
    const bounds = { minBudget: Math.max(1, Math.round(target / 4)), maxBudget: contextLength };
    yield* compareAllocations(ctx, target, transferProfile(completedProfile, s.budget, target, bounds), null, 'transfer');
  }
}

/** The profile and its comparison with uniform and pyramid at the same mean budget, on calibration and held-out samples. */
async function* compareAllocations(ctx: SearchContext, budget: number, profile: number[], fitness: number | null, source: 'search' | 'transfer'): Trials {
  const { session, scorer, calibration, heldout } = ctx;
  const { store, run } = session;
  const uniform: UniformBudget = { kind: 'tokens', tokens: budget };
  const items: (EvalItem & { label: ComparisonRow['allocation'] })[] = [
    { key: 'evolkv', label: 'evolkv', method: scorer, budget: { kind: 'profile', layers: profile } },
    { key: 'uniform', label: 'uniform', method: scorer, budget: uniform },
    { key: 'pyramid', label: 'pyramid', method: ctx.pyramid, budget: uniform },
  ];
  const jobs = [...calibration, ...heldout];
  const results = yield trial(ctx, items, jobs);
  const cal = scores(results, jobs, calibration, items.length);
  const held = heldout.length ? scores(results, jobs, heldout, items.length) : null;
  const methodLabel = (it: (typeof items)[number]) => `${it.label}:${ctx.s.scorer.key}`;
  // The comparison is stored as ordinary evaluations too, so `kvopt report` tables show it.
  session.assertHeld();
  for (const [set, sc] of [
    [calibration, cal],
    [heldout, held],
  ] as const) {
    if (!sc) continue;
    for (const job of set) {
      items.forEach((it, i) => {
        const score = sc.perSample[i][job.sample.id];
        store.insertEvaluation({
          runId: run.id,
          sampleId: job.sampleId,
          method: methodLabel(it),
          budget: budgetKey(uniform),
          setting: ctx.setting,
          score: Number.isFinite(score) ? score : null,
          metric: job.sample.metric,
          status: Number.isFinite(score) ? 'ok' : 'failed',
          budgetTokens: budget,
          budgetProfile: it.label === 'evolkv' ? profile : null,
        });
      });
    }
  }
  store.saveProfile({ runId: run.id, budget, budgets: profile, source, fitness, calibrationScore: cal.mean[0], heldoutScore: held?.mean[0] ?? null });
  ctx.comparison.push(
    ...items.map((it, i) => ({
      budget,
      allocation: it.label,
      calibration: cal.mean[i],
      heldout: held ? held.mean[i] : null,
      perSample: { calibration: cal.perSample[i], heldout: held ? held.perSample[i] : null },
    })),
  );
}

export async function runSearch(config: ExperimentConfig, opts: SearchRunOptions = {}): Promise<SearchRunResult> {
  const s: SearchConfig | null = config.search;
  if (!s) throw new KvoptError(`${config.source.file}: kvopt search needs a \`search:\` section`);
  if (s.transferMode === 'search' && s.transfer.length > 0) {
    // One run holds one search; the "direct" variant is one run per budget.
    throw new KvoptError(
      `${config.source.file}: search.transfer_mode: search is run as one search per budget: ` +
        `kvopt search --config ${config.source.file} --budget N for each of ${s.transfer.join(', ')} (or use transfer_mode: rescale)`,
    );
  }
  const scorer = s.scorer.resolved;
  // Resolved once, as the config's methods are.
  const pyramid = withPyramidSchedule(s.scorer.name, s.scorer.options);
  const t0 = Date.now();
  const session = RunSession.open(config, 'search', opts);
  const { store, run } = session;
  const window = Math.max(config.window, windowFor([scorer]));
  const study = new Study(session, { fitness: s.fitness, chunkSize: config.chunkSize, window }, `search run ${run.id}`);
  const comparison: ComparisonRow[] = [];

  try {
    const jobs = await session.loadJobs(searchSplit);
    const calibration = jobs.filter((j) => j.split === 'calibration');
    const heldout = jobs.filter((j) => j.split === 'heldout');
    if (calibration.length === 0) throw new KvoptError(`${config.source.file}: the search has no calibration samples (samples − heldout must be ≥ 1)`);
    const info = session.modelInfo!;
    const latest = store.loadLatestGeneration(run.id);
    const search = latest
      ? EvolKvSearch.fromState(latest.searchState as EvolKvState)
      : new EvolKvSearch({
          layers: info.numLayers,
          target: s.budget,
          minBudget: s.minBudget ?? Math.max(1, Math.round(s.budget / 4)),
          maxBudget: s.maxBudget ?? info.contextLength,
          groupSize: s.groupSize,
          sigma0: s.sigma0,
          population: s.population ?? 'auto',
          generations: s.generations,
          lambda: s.lambda,
          gamma: s.gamma,
          seed: s.seed,
          optimizer: s.optimizer,
          restarts: s.restarts,
        });
    const ctx: SearchContext = { s, session, study, setting: config.settings[0], scorer, pyramid, calibration, heldout, comparison };
    await study.run(evolkvTrials(ctx, search, info.contextLength));
    await session.close();
  } catch (e) {
    await session.close(e);
    throw asDiskFull(e, config.db);
  }

  const result: SearchRunResult = {
    run: store.getRun(run.id),
    generations: store.generations(run.id),
    profiles: store.profiles(run.id),
    comparison,
    prefills: store.prefillCount(run.id),
    prefillsPerSample: store.prefillsPerPrompt(run.id),
    timing: { ...study.timing, wallMs: Date.now() - t0 },
    prefillCache: session.prefillCacheReport,
    interruptedBy: session.interruptedBy,
  };
  store.close();
  return result;
}
