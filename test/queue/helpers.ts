// Queue tests: real Redis (the CI one on 127.0.0.1:6379, a test-owned database index; or a redis-server
// of the test's own on another port), real `kvopt worker` processes and real coordinators.
import { writeStoriesSearch } from '../helpers/stories-search.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Store } from '../../src/store/store.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';
import { repoRoot } from '../engine/cli-run.ts';
import { writeStoriesEval } from '../helpers/stories-eval.ts';

export const MODEL = () => sharedDataPath('stories260K', 'stories260K.bin');
export const TOKENIZER = () => sharedDataPath('stories260K', 'tok512.bin');

export function redisCli(args: string[]): string {
  const r = spawnSync('redis-cli', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Keys of a test database under `kvopt:` (everything a run leaves behind). */
export function kvoptKeys(url: { port: number; db: number; password?: string }): string[] {
  const auth = url.password ? ['-a', url.password, '--no-auth-warning'] : [];
  return redisCli(['-p', String(url.port), ...auth, '-n', String(url.db), '--scan', '--pattern', 'kvopt:*'])
    .split('\n')
    .filter(Boolean);
}

export interface Proc {
  child: ChildProcess;
  output(): string;
  /** Resolves once the output matches `re` (rejects after `ms`, or when the process ends first). */
  waitFor(re: RegExp, ms?: number): Promise<void>;
  exited: Promise<number | null>;
}

/** Starts `kvopt args` in the background, collecting stdout + stderr. */
export function start(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, ['bin/kvopt.mjs', ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d;
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let ended = false;
  void exited.then(() => {
    ended = true;
    for (const l of listeners) l();
  });
  return {
    child,
    output: () => out,
    exited,
    waitFor(re, ms = 120_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`timed out waiting for ${re} in:\n${out}`)), ms);
        const check = () => {
          if (re.test(out)) done();
          else if (ended) done(new Error(`process ended before ${re}:\n${out}`));
        };
        const done = (e?: Error) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (e) reject(e);
          else resolve();
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Runs `kvopt args` to its end (asynchronously, so workers keep running beside it). */
export async function run(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; output: string }> {
  const p = start(args, env);
  const status = await p.exited;
  return { status, output: p.output() };
}

/** Starts a worker and waits until it listens. */
export async function startWorker(queue: string, extra: string[] = [], env: Record<string, string> = {}): Promise<Proc> {
  const w = start(['worker', '--queue', queue, ...extra], env);
  await w.waitFor(/waiting for runs/);
  return w;
}

/** SIGTERM, and the exit code (a worker finishes its jobs and exits 0). */
export async function stop(p: Proc): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
  p.child.kill('SIGTERM');
  return p.exited;
}

/** A redis-server of the test's own on `port` (no persistence), with extra arguments. */
export async function startRedis(port: number, extra: string[] = []): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const r = spawnSync(
      'redis-cli',
      ['-p', String(port), ...(extra.includes('--requirepass') ? ['-a', extra[extra.indexOf('--requirepass') + 1], '--no-auth-warning'] : []), 'ping'],
      { encoding: 'utf8' },
    );
    if (r.stdout.includes('PONG')) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`redis-server on port ${port} did not start`);
}

export function killRedis(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null) return r();
    child.once('exit', () => r());
    child.kill('SIGKILL');
  });
}

/** A small eval on stories260K: `samples` continuation samples, both settings, two methods × two budgets. */
export function writeEvalConfig(dir: string, name: string, samples = 4, contextTokens = 160): string {
  return writeStoriesEval(dir, {
    name,
    samples,
    seed: 3,
    contextTokens,
    threads: 1,
    settings: ['question-aware', 'question-agnostic'],
    methods: ['snapkv', 'streaming'],
    budgets: [16, 32],
  });
}

/** A small search on stories260K (4 samples, one held out). */
export function writeSearchConfig(dir: string, generations = 3): string {
  return writeStoriesSearch(dir, { name: 'queue-search-test', generations, transfer: [48], threads: 1 });
}

/** The evaluations of a database's latest run, without ids, times and timings, in a fixed order. */
export function evalRows(db: string): Record<string, unknown>[] {
  const s = Store.open(db);
  try {
    const run = s.getRun('latest');
    return s
      .evaluationsForRun(run.id)
      .map(({ id: _i, runId: _r, createdAt: _c, compressMs: _cm, decodeMs: _d, prefillMs: _p, sampleId: _s, ...e }) => e)
      .sort((a, b) => JSON.stringify([a.sampleKey, a.setting, a.method, a.budget]).localeCompare(JSON.stringify([b.sampleKey, b.setting, b.method, b.budget])));
  } finally {
    s.close();
  }
}

/** What a search run produced, without times: generations, candidates' scores, profiles, comparison. */
export function searchResult(json: string): unknown {
  const r = JSON.parse(json) as { generations: Record<string, unknown>[]; profiles: Record<string, unknown>[]; comparison: unknown };
  return {
    generations: r.generations.map(({ id: _i, runId: _r, createdAt: _c, wallMs: _w, prefillMs: _p, decodeMs: _d, ...g }) => g),
    profiles: r.profiles.map((p) => [p.budget, p.budgets, p.source, p.fitness, p.calibrationScore, p.heldoutScore]),
    comparison: r.comparison,
  };
}
