// Crash consistency as a property: under a seeded random schedule of SIGKILLs (during start-up, between
// and during evaluations and generations, around the end), each followed by --resume, an eval and a
// search on stories260K end with exactly what an uninterrupted run stores: every evaluation (score,
// metrics, prediction, budgets), every generation and candidate, the optimiser state, the profiles.
// 12 + 8 kills here; scripts/crash-consistency.ts runs longer schedules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWithKills } from './crash-schedule.ts';
import { EVALS, GENERATIONS, evalConfig, kvoptSync, searchConfig, storedResults } from './run-helpers.ts';

const SEED = Number(process.env.KVOPT_CRASH_SEED ?? 20261201);

test('eval under 12 random SIGKILLs, each resumed, stores exactly what an uninterrupted eval stores', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-crash-eval-'));
  const config = evalConfig(dir, { samples: 6 });
  const clean = join(dir, 'clean', 'k.db');
  const c = kvoptSync(['eval', '--config', config, '--db', clean, '--quiet']);
  assert.equal(c.status, 0, c.stderr);
  const expected = storedResults(clean);
  const total = EVALS(clean);
  const db = join(dir, 'killed', 'k.db');
  const report = await runWithKills(['eval', '--config', config, '--db', db, '--quiet'], db, () => EVALS(db), total, 5, 12, SEED);
  assert.equal(report.kills, 12, JSON.stringify(report));
  assert.deepEqual(storedResults(db), expected, `killed at ${report.killedAt.join(', ')}`);
});

test('search under 8 random SIGKILLs, each resumed, stores exactly what an uninterrupted search stores', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-crash-search-'));
  // 20 generations: a generation is ~20 ms of work on stories260K, so fewer would leave the kills only start-up
  const config = searchConfig(dir, 20);
  const clean = join(dir, 'clean', 'k.db');
  const c = kvoptSync(['search', '--config', config, '--db', clean, '--quiet']);
  assert.equal(c.status, 0, c.stderr);
  const expected = storedResults(clean);
  const progress = (db: string) => GENERATIONS(db) + EVALS(db);
  const total = progress(clean);
  const db = join(dir, 'killed', 'k.db');
  // burst 12: the end of the search stores its held-out evaluations and comparisons in one commit
  const report = await runWithKills(['search', '--config', config, '--db', db, '--quiet'], db, () => progress(db), total, 12, 8, SEED + 1);
  assert.equal(report.kills, 8, JSON.stringify(report));
  assert.deepEqual(storedResults(db), expected, `killed at ${report.killedAt.join(', ')}`);
});
