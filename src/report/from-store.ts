/**
 * The bridge from the SQLite store to the report layer's plain rows (types.ts): one stored run → ReportData.
 * Only reads; everything the store does not keep is said in `notes` rather than guessed.
 *
 * - eval runs: the method × budget × setting × task table from stats/quality.ts runResults (quality loss
 *   paired against `full` sample by sample).
 * - search runs: generations (best / median calibration fitness, held-out score of each best), the found
 *   profile against uniform and the PyramidKV schedule at the same mean, and the final comparison
 *   (evolkv / uniform / pyramid evaluations) split into calibration and held-out columns.
 * - needle tasks: the length × depth grid, from the grid's sample keys (`needle-L<tokens>-d<percent>`) or,
 *   for a sample file, from the meta of the samples in the run's data file (checked against the stored
 *   content hash, so a file edited since the run is not misread).
 */
import { existsSync, statSync } from 'node:fs';
import { buildMethod, isHeadWise, parseMethod, pyramidSchedule, withPyramidSchedule } from '../compress/index.ts';
import { taskLabel } from '../config/task-label.ts';
import { contentHash } from '../tasks/sample-hash.ts';
import type { TaskConfig } from '../config/schema.ts';
import { FULL_METHOD, type ReadOnlyStorage } from '../store/storage.ts';
import type { ResultRow, RunRow, RunSample, RunSummary as StoreRunSummary, StoredEvaluation } from '../store/types.ts';
import { loadSampleFile } from '../tasks/sample-file.ts';
import { KvoptError } from '../util/errors.ts';
import type { BudgetProfileInput, EvalResultRow, NeedleCell, PairedRow, ReportData, RunSummary, SearchGenerationRow } from './types.ts';
import { meanInterval, pairedDifference, seedFor } from '../stats/bootstrap.ts';
import { digitsToSeparate } from '../stats/format.ts';
import { runResults } from '../stats/quality.ts';
import { withIntervals, type ResultRowWithIntervals, type StatsOptions } from '../stats/results.ts';
import { distinct, mean } from './validate.ts';

export { parseRunRef } from '../store/run-ref.ts';

/** The store's run summary as the report layer shows it (ISO times, seconds). */
export function runSummaryFromStore(r: StoreRunSummary): RunSummary {
  return {
    id: r.id,
    kind: r.kind,
    name: r.experiment,
    status: r.status,
    configHash: r.configHash,
    bestFitness: r.bestFitness,
    startedAt: new Date(r.startedAt).toISOString(),
    finishedAt: r.finishedAt === null ? null : new Date(r.finishedAt).toISOString(),
    durationS: r.durationMs / 1000,
  };
}

/** One run's summary (listRuns has the best fitness and counts that getRun lacks). */
export function storedRunSummary(store: ReadOnlyStorage, runId: number): StoreRunSummary {
  const s = store.listRuns().find((r) => r.id === runId);
  if (!s) throw new KvoptError(`${store.path}: no run with id ${runId}`);
  return s;
}

/** A stored budget key as a paper writes it: `keep=0.2` → "20%", `64` → "64", `full` → "full". */
export function budgetLabel(key: string): string {
  const m = /^keep=([0-9.eE+-]+)$/.exec(key);
  if (m) return `${Number((Number(m[1]) * 100).toFixed(2))}%`;
  return key;
}

const SETTING_SHORT: Record<string, string> = { 'question-aware': 'q-aware', 'question-agnostic': 'q-agnostic' };
export const shortSetting = (s: string): string => SETTING_SHORT[s] ?? s;

/** The task column of the tables: the task, with the setting when the run evaluated more than one. */
export function taskColumn(task: string, setting: string, multipleSettings: boolean): string {
  return multipleSettings ? `${task} (${shortSetting(setting)})` : task;
}

// ---- the run's config, as far as the report needs it --------------------------------------------

type StoredTask = { name: string; data: string; samples: number | null; heldout?: number; options?: Record<string, unknown> };

interface StoredConfig {
  name?: string;
  settings?: string[];
  window?: number;
  tasks?: StoredTask[];
  methods?: { key: string; name: string; options: Record<string, unknown> }[];
  search?: {
    scorer: { key: string; name: string; options: Record<string, unknown> };
    budget: number;
    optimizer: string;
    groupSize: number;
    population: number | null;
    generations: number;
    fitness: string;
  } | null;
}

function storedConfig(run: RunRow): StoredConfig {
  try {
    return JSON.parse(run.configJson) as StoredConfig;
  } catch {
    throw new KvoptError(`run ${run.id}: its stored config is not JSON; the database is damaged`);
  }
}

// ---- eval rows ------------------------------------------------------------------------------------

/** results() rows → report rows; kvBytesFull from the full method's row of the same task and setting. */
export function evalRowsFromResults(results: readonly (ResultRow | ResultRowWithIntervals)[], notes: string[]): EvalResultRow[] {
  const multi = distinct(results.map((r) => r.setting)).length > 1;
  const fullBytes = new Map<string, number | null>();
  for (const r of results) if (r.method === FULL_METHOD) fullBytes.set(`${r.task}\u0000${r.setting}`, r.meanKvBytes);
  const methodOrder = distinct(results.map((r) => r.method));
  const rows: EvalResultRow[] = [];
  const empty: string[] = [];
  for (const r of results) {
    const label = taskColumn(r.task, r.setting, multi);
    const budget = r.meanBudgetTokens ?? (Number.isFinite(Number(r.budget)) ? Number(r.budget) : null);
    if (r.meanScore === null || budget === null) {
      empty.push(`${r.method} at ${budgetLabel(r.budget)} on ${label}${r.failed ? ` (${r.failed} failed)` : ''}`);
      continue;
    }
    rows.push({
      task: label,
      method: r.method,
      budget,
      budgetLabel: budgetLabel(r.budget),
      score: r.meanScore,
      fullScore: r.fullScore,
      qualityLoss: r.qualityLoss,
      n: r.n,
      kvEntries: r.meanKvEntries,
      kvBytes: r.meanKvBytes,
      kvBytesFull: fullBytes.get(`${r.task}\u0000${r.setting}`) ?? null,
      ...('scoreLo' in r ? { scoreLo: r.scoreLo, scoreHi: r.scoreHi, lossLo: r.qualityLossLo, lossHi: r.qualityLossHi } : {}),
    });
  }
  if (empty.length) notes.push(`No scored evaluation for ${empty.join('; ')}: left out of the tables and figures.`);
  // Task columns in name order (q-agnostic before q-aware), methods as the store lists them (full first).
  return rows
    .map((r, i) => ({ r, i }))
    .sort((a, b) => methodOrder.indexOf(a.r.method) - methodOrder.indexOf(b.r.method) || a.r.task.localeCompare(b.r.task) || a.i - b.i)
    .map(({ r }) => r);
}

const SPLIT_LABEL: Record<string, string> = { calibration: 'calibration', heldout: 'held-out', eval: 'eval' };

/**
 * The search's final comparison (and any other evaluation of a search run) per split: the fitness uses the
 * calibration samples, the held-out ones show whether the profile generalises, so they are separate columns.
 */
export function evalRowsBySplit(evals: readonly StoredEvaluation[], samples: readonly RunSample[], stats: StatsOptions = {}): EvalResultRow[] {
  const split = new Map(samples.map((s) => [s.id, s.split]));
  const multi = distinct(evals.map((e) => e.setting)).length > 1;
  const groups = new Map<string, StoredEvaluation[]>();
  for (const e of evals) {
    const k = JSON.stringify([e.task, e.setting, split.get(e.sampleId) ?? 'eval', e.method, e.budget]);
    groups.set(k, [...(groups.get(k) ?? []), e]);
  }
  const rows: EvalResultRow[] = [];
  for (const [k, list] of groups) {
    const [task, setting, sp, method, budget] = JSON.parse(k) as string[];
    const ok = list.filter((e) => e.status === 'ok' && e.score !== null);
    const tokens = ok.map((e) => e.budgetTokens).filter((t): t is number => t !== null);
    if (ok.length === 0 || tokens.length === 0) continue;
    const all = <T>(xs: (T | null)[]): xs is T[] => xs.every((x) => x !== null);
    const entries = ok.map((e) => e.kvEntries);
    const bytes = ok.map((e) => e.kvBytes);
    const ci = meanInterval(
      ok.map((e) => e.score!),
      { ...stats, seed: seedFor(stats.seed ?? 0, k) },
    );
    rows.push({
      task: `${taskColumn(task!, setting!, multi)} (${SPLIT_LABEL[sp!] ?? sp})`,
      method: method!,
      budget: mean(tokens),
      budgetLabel: budgetLabel(budget!),
      score: mean(ok.map((e) => e.score!)),
      fullScore: null,
      qualityLoss: null,
      n: ok.length,
      kvEntries: all(entries) ? mean(entries) : null,
      kvBytes: all(bytes) ? mean(bytes) : null,
      kvBytesFull: null,
      scoreLo: ci.lo,
      scoreHi: ci.hi,
    });
  }
  const splitOrder = ['calibration', 'held-out', 'eval'];
  const rank = (t: string) => splitOrder.findIndex((s) => t.endsWith(`(${s})`));
  return rows.sort((a, b) => a.method.localeCompare(b.method) || rank(a.task) - rank(b.task) || a.task.localeCompare(b.task));
}

/**
 * Decimals that keep about three significant digits of the smallest score: 2 for scores of 0.1 and up
 * (accuracies, ROUGE, 0..100 scales), more for small ones (a 260K-parameter model's likelihood scores are ~0.04).
 */
export function scoreDigits(scores: readonly number[]): number {
  const nonzero = scores.map(Math.abs).filter((x) => x > 0 && Number.isFinite(x));
  if (nonzero.length === 0) return 2;
  const min = Math.min(...nonzero);
  return min >= 0.1 ? 2 : Math.min(6, 2 - Math.floor(Math.log10(min)));
}

/** Eval run: each row's paired difference from the reference method (withIntervals), as report rows. */
export function pairedRowsFromResults(rows: readonly ResultRowWithIntervals[]): PairedRow[] {
  const multi = distinct(rows.map((r) => r.setting)).length > 1;
  return rows
    .filter((r) => r.compareTo !== null && r.diff !== null)
    .map((r) => ({
      task: taskColumn(r.task, r.setting, multi),
      budgetLabel: budgetLabel(r.budget),
      method: r.method,
      reference: r.compareTo!,
      diff: r.diff!,
      lo: r.diffLo,
      hi: r.diffHi,
      wins: r.wins!,
      ties: r.ties!,
      losses: r.losses!,
      n: r.wins! + r.ties! + r.losses!,
    }));
}

/**
 * Search run: the found profile (`evolkv:<scorer>`) against every other allocation at the same budget
 * (uniform, pyramid), per split, paired sample by sample: does EvolKV beat them beyond noise?
 */
export function searchPairedRows(evals: readonly StoredEvaluation[], samples: readonly RunSample[], stats: StatsOptions = {}): PairedRow[] {
  const split = new Map(samples.map((s) => [s.id, s.split]));
  const multi = distinct(evals.map((e) => e.setting)).length > 1;
  const ok = evals.filter((e) => e.status === 'ok' && e.score !== null);
  const groups = new Map<string, StoredEvaluation[]>();
  for (const e of ok) {
    const k = JSON.stringify([e.task, e.setting, split.get(e.sampleId) ?? 'eval', e.budget]);
    groups.set(k, [...(groups.get(k) ?? []), e]);
  }
  const out: PairedRow[] = [];
  for (const [k, list] of groups) {
    const [task, setting, sp, budget] = JSON.parse(k) as string[];
    const methods = distinct(list.map((e) => e.method));
    const found = methods.find((m) => m.startsWith('evolkv:'));
    if (!found) continue;
    const mine = new Map(list.filter((e) => e.method === found).map((e) => [e.sampleId, e.score!]));
    for (const ref of methods.filter((m) => m !== found)) {
      const theirs = new Map(list.filter((e) => e.method === ref).map((e) => [e.sampleId, e.score!]));
      const ids = [...mine.keys()].filter((id) => theirs.has(id));
      if (ids.length === 0) continue;
      const d = pairedDifference(
        ids.map((id) => mine.get(id)!),
        ids.map((id) => theirs.get(id)!),
        { ...stats, seed: seedFor(stats.seed ?? 0, `${k}${ref}`) },
      );
      out.push({
        task: `${taskColumn(task!, setting!, multi)} (${SPLIT_LABEL[sp!] ?? sp})`,
        budgetLabel: budgetLabel(budget!),
        method: found,
        reference: ref,
        diff: d.value,
        lo: d.lo,
        hi: d.hi,
        wins: d.wins,
        ties: d.ties,
        losses: d.losses,
        n: d.n,
      });
    }
  }
  const rank = (t: string) => (t.endsWith('(held-out)') ? 0 : 1); // held-out first: it is the one that counts
  return out.sort((a, b) => rank(a.task) - rank(b.task) || Number(a.budgetLabel) - Number(b.budgetLabel) || a.reference.localeCompare(b.reference));
}

// ---- search ---------------------------------------------------------------------------------------

export function searchRowsFromStore(store: ReadOnlyStorage, runId: number, notes: string[]): SearchGenerationRow[] {
  const rows: SearchGenerationRow[] = [];
  let skipped = 0;
  for (const g of store.generations(runId)) {
    if (g.bestFitness === null || g.medianFitness === null || !Number.isFinite(g.bestFitness) || !Number.isFinite(g.medianFitness)) {
      skipped++;
      continue;
    }
    const h = g.heldoutScore;
    rows.push({
      group: g.group,
      generation: g.generation,
      best: g.bestFitness,
      median: g.medianFitness,
      heldoutBest: h !== null && Number.isFinite(h) ? h : null,
    });
  }
  if (skipped) notes.push(`Search progress: ${skipped} generation(s) without a finite fitness (every candidate failed) are left out.`);
  return rows;
}

/** Prompt length (tokens) of each sample as prefilled in `setting`, from the prefill events of any run. */
function promptTokens(store: ReadOnlyStorage, modelHash: string | null, samples: readonly RunSample[], setting: string): Map<number, number> {
  const out = new Map<number, number>();
  if (modelHash === null) return out;
  for (const s of samples) {
    // A prompt whose prefill came from the on-disk cache has no event; a full-cache evaluation of the same
    // sample (any run, same model) holds all T tokens, so its budget is T.
    const t = store.prefilledTokens(modelHash, s.contentHash, setting) ?? store.fullCacheTokens(s.id, setting, modelHash);
    if (t !== null) out.set(s.id, t);
  }
  return out;
}

/**
 * The PyramidKV schedule the search's `pyramid:<scorer>` comparison used: pyramidSchedule with the scorer's
 * window and the allocator's defaults, per calibration sample (T differs between prompts), then averaged.
 */
function pyramidLine(store: ReadOnlyStorage, run: RunRow, config: StoredConfig, target: number, L: number, notes: string[]): number[] | undefined {
  const s = config.search;
  if (!s) return undefined;
  let window: number;
  let beta: number;
  let fallback: 'clamp' | 'uniform';
  try {
    const spec = withPyramidSchedule(s.scorer.name, s.scorer.options);
    window = buildMethod(spec).scorer.window;
    beta = spec.allocator.options.beta as number;
    fallback = spec.allocator.options.fallback as 'clamp' | 'uniform';
  } catch (e) {
    if (!(e instanceof KvoptError)) throw e;
    notes.push(`Budget profile: no PyramidKV line (${s.scorer.key} with allocator pyramid: ${e.message}).`);
    return undefined;
  }
  const samples = store.samplesForRun(run.id).filter((x) => x.split === 'calibration');
  const setting = config.settings?.[0] ?? 'question-aware';
  const T = [...promptTokens(store, run.modelHash, samples, setting).values()];
  if (T.length === 0) {
    notes.push(
      'Budget profile: no PyramidKV line (the prompt lengths are not stored: the prefills came from the on-disk cache and no full-cache evaluation of these samples is stored).',
    );
    return undefined;
  }
  const schedules = T.map((t) => pyramidSchedule(L, target, t, Math.min(window, t), beta, fallback));
  const line = schedules[0].map((_, l) => mean(schedules.map((x) => x[l])));
  if (distinct(T).length > 1) {
    notes.push(`Budget profile: the PyramidKV line is the mean of the per-prompt schedules (prompt lengths ${Math.min(...T)}–${Math.max(...T)} tokens).`);
  }
  return line.map((v) => Number(v.toFixed(2)));
}

export function profileFromStore(store: ReadOnlyStorage, run: RunRow, config: StoredConfig, notes: string[]): BudgetProfileInput | undefined {
  const profiles = store.profiles(run.id);
  const scorer = config.search?.scorer.key ?? 'search';
  const found = profiles.find((p) => p.source === 'search') ?? profiles[0];
  let layerBudgets: number[];
  let target: number;
  let label: string;
  if (found) {
    layerBudgets = found.budgets;
    target = found.budget;
    label = `evolkv (${scorer})`;
    const others = profiles.filter((p) => p !== found);
    if (others.length)
      notes.push(
        `Budget profile: shows the profile at mean ${target}; the run also stores ${others.map((p) => `${p.source} ${p.budget}`).join(', ')} (kvopt export --budget N).`,
      );
  } else {
    const best = store.bestCandidate(run.id);
    if (!best || !config.search) return undefined;
    layerBudgets = best.budgets;
    target = config.search.budget;
    label = `best candidate so far (${scorer})`;
    notes.push(`Budget profile: the search has not finished (status ${run.status}); the bars are its best calibration candidate so far.`);
  }
  const pyramid = pyramidLine(store, run, config, target, layerBudgets.length, notes);
  return { layerBudgets, target, label, ...(pyramid ? { pyramid } : {}) };
}

// ---- needle ---------------------------------------------------------------------------------------

interface NeedlePlace {
  /** Context tokens when known directly (grid keys, meta.length). */
  tokens: number | null;
  /** Samples that share a haystack size but not a token count are grouped by it. */
  group: string;
  depth: number; // 0..1
}

const GRID_KEY = /^needle-L(\d+)-d(\d+(?:\.\d+)?)$/;

function metaNumber(meta: Record<string, unknown>, names: string[]): number | null {
  for (const n of names) {
    const v = meta[n];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return null;
}

/** Length and depth of each needle sample of the run; null with a reason when they cannot be recovered. */
/** The config entry of a stored task label (`needle`, or `needle[file]` when the config names needle twice). */
function configTask(config: StoredConfig, label: string): StoredTask | undefined {
  const all = (config.tasks ?? []) as unknown as TaskConfig[];
  return config.tasks?.find((t) => taskLabel(t as unknown as TaskConfig, all) === label);
}

function needlePlaces(config: StoredConfig, task: string, samples: readonly RunSample[]): { places: Map<number, NeedlePlace> } | { reason: string } {
  const places = new Map<number, NeedlePlace>();
  const rest = samples.filter((s) => {
    const m = GRID_KEY.exec(s.key);
    if (m) places.set(s.id, { tokens: Number(m[1]), group: `L${m[1]}`, depth: Number(m[2]) / 100 });
    return !m;
  });
  if (rest.length === 0) return { places };
  const entry = configTask(config, task);
  const data = entry?.data;
  if (!data || !existsSync(data) || statSync(data).isDirectory()) {
    return { reason: `the sample keys (${rest[0].key}, ...) carry no length or depth and the data file ${data ?? '(unknown)'} is not there to read them from` };
  }
  let byKey: Map<string, { hash: string; meta: Record<string, unknown> }>;
  try {
    // Loaded as the engine loads it (task = the config's name), so the content hashes are comparable.
    byKey = new Map(loadSampleFile(data, entry!.name).map((s) => [s.id, { hash: contentHash(s), meta: s.meta ?? {} }]));
  } catch (e) {
    if (!(e instanceof KvoptError)) throw e;
    return { reason: `cannot read the depths from ${data}: ${e.message}` };
  }
  for (const s of rest) {
    const found = byKey.get(s.key);
    if (!found || found.hash !== s.contentHash)
      return { reason: `${data} changed since the run (sample ${s.key} is ${found ? 'different' : 'gone'}), so its length × depth meta cannot be trusted` };
    const depthPct = metaNumber(found.meta, ['depth_percent', 'depthPercent', 'depth']);
    const tokens = metaNumber(found.meta, ['context_length', 'contextLength', 'context_tokens', 'length']);
    const size = metaNumber(found.meta, ['haystack_sentences', 'haystackSentences', 'haystack_tokens']);
    if (depthPct === null || (tokens === null && size === null)) {
      return { reason: `sample ${s.key} of ${data} has no depth_percent and length (or haystack_sentences) in its meta` };
    }
    places.set(s.id, { tokens, group: tokens !== null ? `L${tokens}` : `S${size}`, depth: depthPct / 100 });
  }
  return { places };
}

/**
 * Needle cells: one heatmap panel per method × budget (× setting when there are two); a cell's score is the
 * mean over its samples. Lengths the sample meta gives only as a haystack size are the mean context tokens of
 * that size (the full cache's budget in the question-agnostic setting, i.e. the prompt without the question).
 */
export function needleCellsFromStore(
  store: ReadOnlyStorage,
  run: RunRow,
  config: StoredConfig,
  evals: readonly StoredEvaluation[],
  notes: string[],
): NeedleCell[] | undefined {
  // Stored task labels are `needle`, or `needle[<data file>]` when the config has several needle tasks.
  const needleTasks = distinct(evals.map((e) => e.task)).filter((t) => t === 'needle' || t.startsWith('needle['));
  const cells: NeedleCell[] = [];
  for (const task of needleTasks) {
    const mine = needleTaskCells(store, run, config, task, evals, notes);
    // Several needle tasks: each keeps its own panels.
    if (mine) cells.push(...mine.map((c) => (needleTasks.length > 1 ? { ...c, method: `${task}: ${c.method}` } : c)));
  }
  return cells.length ? cells : undefined;
}

function needleTaskCells(
  store: ReadOnlyStorage,
  run: RunRow,
  config: StoredConfig,
  task: string,
  evals: readonly StoredEvaluation[],
  notes: string[],
): NeedleCell[] | undefined {
  const samples = store.samplesForRun(run.id).filter((s) => s.task === task);
  const got = needlePlaces(config, task, samples);
  if ('reason' in got) {
    notes.push(`Needle in a haystack (${task}): not drawn, ${got.reason}.`);
    return undefined;
  }
  const { places } = got;
  const ofTask = evals.filter((e) => e.task === task && e.status === 'ok' && e.score !== null);
  // Context tokens per sample: the smallest prompt the full cache held (question-agnostic has no question).
  const sampleTokens = new Map<number, number>();
  for (const e of ofTask) {
    if (e.method !== FULL_METHOD || e.budgetTokens === null) continue;
    sampleTokens.set(e.sampleId, Math.min(sampleTokens.get(e.sampleId) ?? Infinity, e.budgetTokens));
  }
  const groupTokens = new Map<string, number>();
  for (const group of distinct([...places.values()].map((p) => p.group))) {
    const direct = [...places.values()].find((p) => p.group === group)!.tokens;
    const measured = [...places].filter(([id, p]) => p.group === group && sampleTokens.has(id)).map(([id]) => sampleTokens.get(id)!);
    const t = direct ?? (measured.length ? Math.round(mean(measured)) : null);
    if (t === null) {
      notes.push(`Needle in a haystack (${task}): not drawn, the context length of haystack group ${group} is not stored (no full-cache evaluation).`);
      return undefined;
    }
    groupTokens.set(group, t);
  }
  const multi = distinct(ofTask.map((e) => e.setting)).length > 1;
  const panelOf = (e: StoredEvaluation) =>
    (e.method === FULL_METHOD ? 'full' : `${e.method} @ ${budgetLabel(e.budget)}`) + (multi ? ` (${shortSetting(e.setting)})` : '');
  // Panels: full first, then by method and budget (tokens).
  const order = [...ofTask].sort(
    (a, b) =>
      Number(b.method === FULL_METHOD) - Number(a.method === FULL_METHOD) ||
      a.method.localeCompare(b.method) ||
      (a.budgetTokens ?? 0) - (b.budgetTokens ?? 0) ||
      a.setting.localeCompare(b.setting),
  );
  const cells = new Map<string, { method: string; contextLength: number; depth: number; scores: number[] }>();
  for (const e of order) {
    const p = places.get(e.sampleId);
    if (!p) continue;
    const method = panelOf(e);
    const contextLength = groupTokens.get(p.group)!;
    const k = JSON.stringify([method, contextLength, p.depth]);
    const c = cells.get(k) ?? { method, contextLength, depth: p.depth, scores: [] };
    c.scores.push(e.score!);
    cells.set(k, c);
  }
  return [...cells.values()].map((c) => ({ method: c.method, contextLength: c.contextLength, depth: c.depth, score: mean(c.scores) }));
}

// ---- the whole report ---------------------------------------------------------------------------------

/**
 * The per-head allocation of one head-wise method, averaged over its ok evaluations at its middle budget
 * (first setting): per-layer bars and the [layer][KV head] heatmap. undefined when none was stored.
 */
function headAllocationFromEvals(evals: readonly StoredEvaluation[], method: string): BudgetProfileInput | undefined {
  const mine = evals.filter((e) => e.method === method && e.status === 'ok' && e.headBudgets?.length);
  if (mine.length === 0) return undefined;
  const budgets = distinct(mine.map((e) => e.budget)).sort((a, b) => meanTokens(mine, a) - meanTokens(mine, b));
  const budget = budgets[Math.floor((budgets.length - 1) / 2)];
  const setting = mine.find((e) => e.budget === budget)!.setting;
  const chosen = mine.filter((e) => e.budget === budget && e.setting === setting);
  const L = chosen[0].headBudgets!.length;
  const H = chosen[0].headBudgets![0].length;
  const headBudgets = Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => mean(chosen.map((e) => e.headBudgets![l][h]))));
  const layerBudgets = headBudgets.map((row) => mean(row));
  return { layerBudgets, target: mean(layerBudgets), headBudgets, label: `${method} at ${budget} (${setting}, ${chosen.length} samples)` };
}

function meanTokens(evals: readonly StoredEvaluation[], budget: string): number {
  return mean(evals.filter((e) => e.budget === budget).map((e) => e.budgetTokens ?? 0));
}

function headWiseMethods(methods: readonly string[]): string[] {
  return methods.filter((m) => {
    try {
      return isHeadWise(parseMethod(m));
    } catch {
      return false; // a label such as evolkv:snapkv is not a method string
    }
  });
}

export function reportDataFromStore(store: ReadOnlyStorage, runId: number, statsOptions: StatsOptions = {}): ReportData {
  const run = store.getRun(runId);
  const stats: StatsOptions = { seed: run.seed, ...statsOptions };
  const summary = storedRunSummary(store, run.id);
  const config = storedConfig(run);
  const notes: string[] = [];
  const evals = store.evaluationsForRun(run.id);
  const samples = store.samplesForRun(run.id);

  const perTask = distinct(samples.map((s) => s.task)).map((t) => {
    const mine = samples.filter((s) => s.task === t);
    const held = mine.filter((s) => s.split === 'heldout').length;
    return `${t} ×${mine.length}${held ? ` (${held} held out)` : ''}`;
  });
  const meta: NonNullable<ReportData['meta']> = {
    model: run.modelPath,
    'model hash': run.modelHash ? run.modelHash.slice(0, 12) : null,
    'code version': run.codeVersion,
    seed: run.seed,
    settings: distinct(evals.map((e) => e.setting)).join(', ') || (config.settings ?? []).join(', '),
    samples: perTask.join(', '),
    evaluations: `${summary.evaluationsOk} ok, ${summary.evaluationsFailed} failed`,
  };
  if (run.error) meta.error = run.error;

  const data: ReportData = {
    title: `kvopt report: ${run.kind} run ${run.id} (${run.experiment})`,
    run: runSummaryFromStore(summary),
    meta,
    fullMethod: FULL_METHOD,
  };

  if (run.kind === 'search') {
    const s = config.search;
    if (s) {
      meta.search =
        `${s.optimizer} over ${s.scorer.key} budgets, mean ${s.budget} tokens per KV head per layer; group size ${s.groupSize}, ` +
        `population ${s.population ?? 'auto'}, ${s.generations} generations per group; fitness ${s.fitness}`;
    }
    meta.generations = summary.generations;
    const gens = searchRowsFromStore(store, run.id, notes);
    if (gens.length) data.searchGenerations = gens;
    const profile = profileFromStore(store, run, config, notes);
    if (profile) {
      data.profile = profile;
      meta.profile = `[${profile.layerBudgets.join(', ')}] (mean ${profile.target})`;
    }
    const rows = evalRowsBySplit(evals, samples, stats);
    const paired = searchPairedRows(evals, samples, stats);
    if (paired.length) data.paired = paired;
    if (rows.length) {
      data.evalRows = rows;
      data.table = { average: false }; // calibration and held-out columns: an average of the two means nothing
    }
  } else {
    const results = withIntervals(runResults(store, run.id, evals), evals, stats);
    const rows = evalRowsFromResults(results, notes);
    if (rows.length) data.evalRows = rows;
    const paired = pairedRowsFromResults(results);
    if (paired.length) data.paired = paired;
  }
  if (!data.evalRows?.length && evals.length === 0) notes.push('No evaluations stored for this run yet.');
  // Enough decimals for ~3 significant digits of the smallest score, and to tell every two scores apart.
  if (data.evalRows?.length) {
    const scores = data.evalRows.map((r) => r.score);
    data.table = { ...data.table, digits: Math.max(scoreDigits(scores), digitsToSeparate(scores, 2)) };
  }

  const headWise = headWiseMethods(distinct(evals.map((e) => e.method)));
  if (headWise.length && !data.profile) {
    const heads = headAllocationFromEvals(evals, headWise[0]);
    if (heads) {
      data.profile = heads;
      notes.push(`Per-head allocation: ${heads.label}, mean over its samples; other head-wise methods: ${headWise.slice(1).join(', ') || 'none'}.`);
    } else {
      notes.push(
        `Per-head allocation: ${headWise.join(', ')} allocate per KV head, but this run stored no per-head budgets (made before store v3), so no per-head heatmap is drawn.`,
      );
    }
  }
  const needle = needleCellsFromStore(store, run, config, evals, notes);
  if (needle?.length) data.needle = needle;
  if (notes.length) data.notes = notes;
  return data;
}

/** Experiment names of runs made by `kvopt regress` (older versions stored them as eval runs). */
export const REGRESS_PREFIX = 'regress/';

/**
 * The run `--run` names. 'latest' is the newest eval or search run (`kind` narrows it), never a regress
 * run: `kvopt report --run latest` after a CI check must still show the experiment, not the check.
 */
export function resolveReportRun(store: ReadOnlyStorage, ref: number | 'latest', kind?: 'eval' | 'search'): RunRow {
  if (ref !== 'latest') return store.getRun(ref);
  const found = store.listRuns().find((r) => (!kind || r.kind === kind) && !r.experiment.startsWith(REGRESS_PREFIX));
  if (!found) throw new KvoptError(`${store.path}: no ${kind ?? 'eval or search'} runs yet`);
  return store.getRun(found.id);
}

/** `--kind eval|search`. */
export function parseRunKind(v: string | undefined): 'eval' | 'search' | undefined {
  if (v === undefined) return undefined;
  if (v !== 'eval' && v !== 'search') throw new KvoptError(`--kind: expected eval or search, got '${v}'`);
  return v;
}
