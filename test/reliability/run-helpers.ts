// Shared by the fault and crash tests: the real binary as a child process, small stories260K configs,
// the database's progress, and the stored results without what legitimately differs between runs
// (ids, times, wall clocks).
import { writeStoriesSearch } from '../helpers/stories-search.ts';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runResults } from '../../src/stats/quality.ts';
import { Store } from '../../src/store/store.ts';
import { repoRoot } from '../helpers/shared-data.ts';
import { writeStoriesEval } from '../helpers/stories-eval.ts';

export const BIN = join(repoRoot, 'bin/kvopt.mjs');

export interface Ran {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function kvoptSync(args: string[], env: Record<string, string> = {}, cwd = repoRoot): Ran {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** A read-only count from a database (0 while it or its tables do not exist). */
export function countRows(db: string, sql: string): number {
  if (!existsSync(db)) return 0;
  let d: Database.Database | null = null;
  try {
    d = new Database(db, { readonly: true, fileMustExist: true });
    return (d.prepare(sql).get() as { n: number }).n;
  } catch {
    return 0;
  } finally {
    d?.close();
  }
}

export const EVALS = (db: string) => countRows(db, 'SELECT COUNT(*) AS n FROM evaluations');
export const GENERATIONS = (db: string) => countRows(db, 'SELECT COUNT(*) AS n FROM generations');

export interface Child {
  pid: number;
  signal(s: NodeJS.Signals): void;
  done: Promise<Ran>;
}

export function start(args: string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<Ran>((resolve) => child.once('exit', (status, signal) => resolve({ status, signal, stdout, stderr })));
  return { pid: child.pid!, signal: (s) => child.kill(s), done };
}

/** Resolves once `progress()` reaches `atLeast` (true), or with false when the child ends first. */
export async function waitFor(child: Child, progress: () => number, atLeast: number): Promise<boolean> {
  let ended = false;
  void child.done.then(() => (ended = true));
  for (;;) {
    if (progress() >= atLeast) return true;
    if (ended) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small eval on stories260K: `samples` continuation samples, full + 2 methods × 2 budgets, one worker. */
export function evalConfig(dir: string, opts: { samples?: number; data?: string; name?: string } = {}): string {
  return writeStoriesEval(dir, {
    name: 'reliability-eval',
    file: opts.name ?? 'eval',
    samples: opts.samples ?? 4,
    seed: 3,
    questionTokens: 8,
    data: opts.data,
    settings: ['question-aware'],
    methods: ['streaming', 'snapkv'],
    budgets: [0.2, 0.5],
  });
}

/** A small search on stories260K: 4 samples (1 held out), `generations` CMA-ES generations of 4. */
export function searchConfig(dir: string, generations = 3): string {
  return writeStoriesSearch(dir, { name: 'reliability-search', generations });
}

/** Everything a run stored that must not depend on interruptions: evaluations, generations, candidates, profiles. */
export function storedResults(db: string): unknown {
  const s = Store.open(db, { mustExist: true });
  try {
    const runs = s.listRuns();
    if (runs.length !== 1) throw new Error(`${db}: expected one run, found ${runs.length}`);
    const id = runs[0].id;
    const evaluations = s
      .evaluationsForRun(id)
      .map((e) => [
        e.task,
        e.sampleKey,
        e.method,
        e.budget,
        e.setting,
        e.status,
        e.score,
        e.metrics,
        e.budgetProfile,
        e.headBudgets,
        e.kvEntries,
        e.prediction,
      ]);
    const generations = s.generations(id).map((g) => ({
      group: g.group,
      generation: g.generation,
      best: g.bestFitness,
      median: g.medianFitness,
      bestCandidate: g.bestCandidate,
      heldout: g.heldoutScore,
      optimizer: g.optimizerState,
      candidates: s.candidates(g.id).map((c) => [c.index, c.budgets, c.fitness, c.taskScore, c.cacheScore, c.sampleScores]),
    }));
    const profiles = s.profiles(id).map((p) => [p.budget, p.budgets, p.source, p.fitness, p.calibrationScore, p.heldoutScore]);
    return { status: runs[0].status, evaluations, generations, profiles, results: runResults(s, id) };
  } finally {
    s.close();
  }
}
