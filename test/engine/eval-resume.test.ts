// kvopt eval end to end on stories260K: results in SQLite, prefill once per prompt, and a run killed
// with SIGKILL then resumed ends with exactly the table of an uninterrupted run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/store/store.ts';
import { count, killWhen, kvopt } from './cli-run.ts';
import { writeStoriesEval } from '../helpers/stories-eval.ts';
import type { ResultRow } from '../../src/store/types.ts';

const SAMPLES = 4;
const METHODS = ['streaming', 'snapkv', 'defensivekv'];
const BUDGETS = [0.2, 0.5];

function writeConfig(dir: string): string {
  return writeStoriesEval(dir, {
    name: 'resume-test',
    file: 'exp',
    samples: SAMPLES,
    seed: 3,
    questionTokens: 8,
    settings: ['question-aware', 'question-agnostic'],
    methods: METHODS,
    budgets: BUDGETS,
  });
}

const rowsOf = (file: string) => (JSON.parse(readFileSync(file, 'utf8')).rows as (ResultRow & { run: number })[]).map(({ run: _run, ...r }) => r);

test('eval: SIGKILL mid-run, --resume, same table as an uninterrupted run; every prompt prefilled once', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-eval-resume-'));
  const config = writeConfig(dir);
  const perSample = 2 * (1 + METHODS.length * BUDGETS.length); // both settings, full + methods × budgets
  const total = SAMPLES * perSample;

  // Uninterrupted reference.
  const a = kvopt(['eval', '--config', config, '--db', join(dir, 'a', 'k.db'), '--json', join(dir, 'a.json'), '--quiet']);
  assert.equal(a.status, 0, a.stderr);
  const reference = rowsOf(join(dir, 'a.json'));
  assert.equal(
    reference.reduce((n, r) => n + r.n, 0),
    total,
  );
  assert.match(a.stdout, /question-agnostic\s+defensivekv\s+keep=0\.2/);

  // Killed once some, but not all, evaluations are stored; then resumed.
  const db = join(dir, 'b', 'k.db');
  const stored = () => count(db, `SELECT COUNT(*) AS n FROM evaluations WHERE status = 'ok'`);
  const atKill = await killWhen(['eval', '--config', config, '--db', db, '--quiet'], stored, perSample + 1);
  assert.ok(atKill < total, `killed after ${atKill} of ${total} evaluations`);
  const s0 = Store.open(db);
  assert.equal(s0.getRun('latest').status, 'running'); // the killed process could not mark it
  s0.close();

  const b = kvopt(['eval', '--config', config, '--db', db, '--resume', '--json', join(dir, 'b.json'), '--quiet']);
  assert.equal(b.status, 0, b.stderr);
  assert.deepEqual(rowsOf(join(dir, 'b.json')), reference);

  const store = Store.open(db);
  const run = store.getRun('latest');
  assert.equal(run.status, 'complete');
  assert.equal(store.listRuns().length, 1, 'the resumed run is the same run');
  // 2 distinct prompts per sample (the settings prefill different tokens), each prefilled once although the run
  // was killed and resumed: one record per prompt on disk, no prompt prefilled twice. A kill between a record's
  // write and its database row (one worker: at most one prefill in flight) loses the row, not the work: the
  // resumed run loads that record instead of prefilling again, so one row may be missing.
  const records = readdirSync(join(dir, 'b', 'prefill-cache'), { recursive: true }).filter((f) => String(f).endsWith('.kvpf'));
  assert.equal(records.length, SAMPLES * 2);
  assert.equal(store.maxPrefillsPerPrompt(run.id), 1);
  const prefills = store.prefillCount(run.id);
  assert.ok(prefills === SAMPLES * 2 || prefills === SAMPLES * 2 - 1, `${prefills} prefills recorded`);
  assert.equal(store.evaluationsForRun(run.id).length, total);
  store.close();
});

test('eval: bad input gives one line naming the flag or key, exit code non-zero, no stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-eval-bad-'));
  const cases: [string[], RegExp][] = [
    [['eval', '--config', join(dir, 'missing.yaml')], /missing\.yaml: no such experiment file/],
    [['eval', '--model', 'x', '--task', 'continuation', '--data', 'd', '--methods', 'snapkv', '--budgets', 'lots'], /--budgets: 'lots' is not a budget/],
    [['eval', '--model', 'x', '--task', 'continuation', '--data', 'd', '--methods', 'snapkv(kernel=banana)', '--budgets', '0.2'], /methods\[0\].*kernel/],
  ];
  for (const [args, re] of cases) {
    const r = kvopt([...args, '--db', join(dir, 'k.db')]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});
