// kvopt search end to end on stories260K: generations, candidates and optimiser state in SQLite; a search
// killed with SIGKILL during a generation and resumed reaches the same profile and fitness as an
// uninterrupted one; export writes what the profile allocator reads back; regress gates on it.
import { writeStoriesSearch } from '../helpers/stories-search.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/store/store.ts';
import { readProfile } from '../../src/compress/profile-file.ts';
import { count, killWhen, kvopt } from './cli-run.ts';

const GENERATIONS = 4;

function writeConfig(dir: string): string {
  return writeStoriesSearch(dir, { name: 'search-resume-test', generations: GENERATIONS, transfer: [48] });
}

test('search: SIGKILL during a generation, --resume, same generations, profile and fitness; export round-trips; regress gates', {
  timeout: 600_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-search-resume-'));
  const config = writeConfig(dir);

  const dbA = join(dir, 'a', 'k.db');
  const a = kvopt(['search', '--config', config, '--db', dbA, '--json', join(dir, 'a.json'), '--quiet']);
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /evolkv/);
  const ra = JSON.parse(readFileSync(join(dir, 'a.json'), 'utf8'));
  assert.equal(ra.generations.length, GENERATIONS);
  const profileA = ra.profiles.find((p: { source: string }) => p.source === 'search');
  assert.equal(
    profileA.budgets.reduce((x: number, y: number) => x + y, 0),
    24 * 5,
    'completed to the exact mean',
  );
  assert.ok(ra.profiles.some((p: { budget: number; source: string }) => p.budget === 48 && p.source === 'transfer'));
  // calibration and held-out scores side by side for evolkv, uniform and pyramid at both budgets
  assert.equal(ra.comparison.length, 6);
  for (const c of ra.comparison) assert.ok(Number.isFinite(c.calibration) && Number.isFinite(c.heldout));
  // every generation's best was scored on held-out; each calibration prompt prefilled once for the whole search
  for (const g of ra.generations) assert.ok(Number.isFinite(g.heldoutScore));
  const sa = Store.open(dbA);
  assert.equal(sa.maxPrefillsPerPrompt(), 1);
  assert.equal(sa.prefillCount(), 4);
  sa.close();

  // Kill after the first generation is stored (the second is then in flight), resume.
  const dbB = join(dir, 'b', 'k.db');
  await killWhen(['search', '--config', config, '--db', dbB, '--quiet'], () => count(dbB, 'SELECT COUNT(*) AS n FROM generations'), 1);
  const stored = count(dbB, 'SELECT COUNT(*) AS n FROM generations');
  assert.ok(stored >= 1 && stored < GENERATIONS, `killed with ${stored} generations stored`);
  const b = kvopt(['search', '--config', config, '--db', dbB, '--resume', '--json', join(dir, 'b.json'), '--quiet']);
  assert.equal(b.status, 0, b.stderr);
  const rb = JSON.parse(readFileSync(join(dir, 'b.json'), 'utf8'));
  const strip = (gs: Record<string, unknown>[]) => gs.map(({ id: _i, runId: _r, createdAt: _c, wallMs: _w, prefillMs: _p, decodeMs: _d, ...g }) => g);
  assert.deepEqual(strip(rb.generations), strip(ra.generations));
  assert.deepEqual(
    rb.profiles.map((p: { budgets: number[]; fitness: number }) => [p.budgets, p.fitness]),
    ra.profiles.map((p: { budgets: number[]; fitness: number }) => [p.budgets, p.fitness]),
  );
  assert.deepEqual(rb.comparison, ra.comparison);

  // export → profile allocator: eval with {profile: {file}} keeps exactly the exported per-layer budgets.
  const out = join(dir, 'profile.yaml');
  const e = kvopt(['export', '--db', dbA, '--run', 'latest', '--format', 'yaml', '--out', out]);
  assert.equal(e.status, 0, e.stderr);
  const exported = readProfile(out);
  assert.deepEqual(exported.layers, profileA.budgets);
  const kvp = kvopt(['export', '--db', dbA, '--run', 'latest', '--format', 'kvpress']);
  assert.equal(kvp.status, 0, kvp.stderr);
  const ratios = JSON.parse(kvp.stdout) as number[];
  assert.equal(ratios.length, 5);
  for (const [l, r] of ratios.entries()) assert.equal(Math.trunc(161 * (1 - r)), Math.min(161, profileA.budgets[l]));

  const evalCfg = join(dir, 'eval.yaml');
  writeFileSync(evalCfg, readFileSync(config, 'utf8').replace(/search:[\s\S]*?transfer: \[48\]\n/, `methods:\n  - profile: { file: ${out} }\nbudgets: [24]\n`));
  const ev = kvopt(['eval', '--config', evalCfg, '--db', join(dir, 'c', 'k.db'), '--json', join(dir, 'c.json'), '--quiet']);
  assert.equal(ev.status, 0, ev.stderr);
  const sc = Store.open(join(dir, 'c', 'k.db'));
  const profRows = sc.evaluationsForRun(sc.getRun('latest').id).filter((r) => r.method.startsWith('profile'));
  assert.ok(profRows.length > 0);
  for (const r of profRows) assert.deepEqual(r.budgetProfile, profileA.budgets);
  // The search's comparison row for its profile is what an independent `kvopt eval` of the exported profile
  // scores on the same calibration and held-out samples (another pipeline: eval run, other batches).
  const splitOf = new Map<string, string>();
  const sa2 = Store.open(dbA);
  for (const x of sa2.samplesForRun(sa2.getRun('latest').id)) splitOf.set(x.key, x.split);
  sa2.close();
  const keyOf = new Map(sc.samplesForRun(sc.getRun('latest').id).map((x) => [x.id, x.key]));
  const evalMean = (split: string) => {
    const xs = profRows.filter((r) => splitOf.get(keyOf.get(r.sampleId)!) === split).map((r) => r.score!);
    assert.equal(xs.length, split === 'heldout' ? 1 : 3);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const row = ra.comparison.find((c: { budget: number; allocation: string }) => c.budget === 24 && c.allocation === 'evolkv');
  assert.ok(Math.abs(row.calibration - evalMean('calibration')) <= 1e-5 * row.calibration, `${row.calibration} vs ${evalMean('calibration')}`);
  assert.ok(Math.abs(row.heldout - evalMean('heldout')) <= 1e-5 * row.heldout, `${row.heldout} vs ${evalMean('heldout')}`);
  // the searched profile's stored fitness is the best calibration fitness of the generations
  assert.equal(profileA.fitness, Math.max(...ra.generations.map((g: { bestFitness: number }) => g.bestFitness)));
  sc.close();

  // regress: this search holds out 1 sample, too few for an interval on the drop: a gate that could never
  // fail is refused (exit 2, one line) rather than passing silently. The gate itself is tested with 8
  // held-out samples in regress-ci.test.ts.
  const base = join(dir, 'baseline.json');
  const w = kvopt(['regress', '--db', dbA, '--profile', out, '--write-baseline', base, '--quiet']);
  assert.equal(w.status, 0, w.stderr);
  assert.match(w.stdout, /^held-out score \d\.\d{4} on 1 samples .*baseline written/);
  const one = kvopt(['regress', '--db', dbA, '--profile', out, '--baseline', base, '--quiet']);
  assert.equal(one.status, 2, one.stdout);
  assert.match(one.stderr, /^kvopt: the paired test needs at least 2 held-out samples .* holds out 1 \(raise tasks\[\]\.heldout\)\n$/);
});
