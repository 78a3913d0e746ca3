// kvopt regress as a CI gate: the shipped GitHub Actions workflow's commands, run as written on
// stories260K from committed files only (no database), pass; the same check on a deliberately regressed
// profile fails with exit 1; a gate that cannot run exits 2. The decision rule is tested on its own too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { judge, type RegressBaseline, type RegressMeasurement } from '../../src/engine/regress.ts';
import { readProfile } from '../../src/compress/profile-file.ts';
import { repoRoot } from './cli-run.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';

const WORKFLOW = join(repoRoot, 'examples', 'ci', 'kvopt-regress.yml');

/** The `run:` commands of the workflow's gate steps (the install step is the CI machine's business). */
function gateCommands(): string[] {
  const wf = YAML.parse(readFileSync(WORKFLOW, 'utf8')) as { jobs: Record<string, { steps: { name?: string; run?: string }[] }> };
  const steps = wf.jobs['kvopt-regress'].steps.filter((s) => s.run && s.name !== 'install');
  return steps.flatMap((s) =>
    s
      .run!.split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#')),
  );
}

function sh(cmd: string, env: Record<string, string> = {}) {
  const r = spawnSync('bash', ['-c', cmd], { cwd: repoRoot, encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the shipped workflow passes on the committed profile and fails on a planted regression, with no database', { timeout: 600_000 }, () => {
  sharedDataPath('stories260K', 'stories260K.bin'); // fails with a clear message when the data is absent
  const cache = mkdtempSync(join(tmpdir(), 'kvopt-ci-cache-'));
  const env = { KVOPT_CACHE_DIR: cache };
  const commands = gateCommands();
  assert.ok(commands.length >= 1 && commands.every((c) => c.includes('regress')), String(commands));
  const before = readdirSync(join(repoRoot, 'results')).sort();

  for (const c of commands) {
    const r = sh(c, env);
    assert.equal(r.status, 0, `${c}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^ok: held-out score \d\.\d{4} on 8 samples/);
    assert.match(r.stdout, /paired drop \(baseline − current, mean over 8 held-out samples\): [+-]\d\.\d{4}, 95% CI \[[+-]\d\.\d{4}, [+-]\d\.\d{4}\]/);
  }
  // Nothing was written beside the experiment: the check needs and leaves no database.
  assert.deepEqual(readdirSync(join(repoRoot, 'results')).sort(), before);

  // The planted regression: the profile's layers reversed (as a bad export would), same mean budget.
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-ci-'));
  const good = readProfile(join(repoRoot, 'examples', 'ci', 'profile.yaml'));
  const bad = join(dir, 'reversed.yaml');
  writeFileSync(bad, YAML.stringify({ format: good.format, target: good.target, layers: [...good.layers].reverse(), meta: {} }));
  const planted = commands[0].replace('examples/ci/profile.yaml', bad);
  assert.notEqual(planted, commands[0]);
  const r = sh(planted, env);
  assert.equal(r.status, 1, `a regression must exit 1\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^REGRESSION: held-out score/);
  const m = /paired drop [^:]*: \+(\d\.\d{4}), 95% CI \[\+(\d\.\d{4}), \+(\d\.\d{4})\]/.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.ok(Number(m[1]) > 0.005 && Number(m[2]) > 0, 'drop beyond the tolerance and interval above 0, both printed');
  assert.match(r.stdout, /beyond the tolerance 0\.005; the interval excludes 0/);

  // Cannot run: exit 2 and one line naming the file.
  const missing = sh(commands[0].replace('examples/ci/baseline.json', join(dir, 'nope.json')), env);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^kvopt: .*nope\.json: cannot read the baseline \(ENOENT\)\n$/);
  assert.ok(!existsSync(join(dir, 'regress.db')));
});

/** A measurement/baseline pair from per-sample scores. */
function pair(base: number[], cur: number[]): [RegressMeasurement, RegressBaseline] {
  const ids = base.map((_, i) => `s${i}`);
  const rec = (xs: number[]) => Object.fromEntries(ids.map((id, i) => [id, xs[i]]));
  const hashes = Object.fromEntries(ids.map((id) => [id, `h${id}`]));
  const common = { experiment: 'e', scorer: 'snapkv', fitness: 'task', samples: hashes };
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return [
    { ...common, profile: { format: 'kvopt-budget-profile/1', target: 1, layers: [1], meta: {} }, perSample: rec(cur), score: mean(cur) },
    { ...common, format: 'kvopt-regress-baseline/2', profile: [1], perSample: rec(base), score: mean(base) },
  ];
}

test('decision rule: fails only when the drop is beyond the tolerance AND its interval excludes 0', () => {
  // A consistent drop of 0.05 on every sample: beyond 0.01, interval [0.05, 0.05] → regression.
  const base = [0.5, 0.6, 0.7, 0.4, 0.55, 0.65];
  let v = judge(
    ...pair(
      base,
      base.map((x) => x - 0.05),
    ),
    0.01,
    { seed: 1 },
  );
  assert.ok(Math.abs(v.drop - 0.05) < 1e-12 && v.regression);
  assert.deepEqual([v.better, v.same, v.worse], [0, 0, 6]);
  // Same mean drop, but noise: +0.35 on one sample, −0.13 on the others → interval includes 0 → pass.
  const noisy = base.map((x, i) => (i === 0 ? x + 0.35 : x - 0.13));
  v = judge(...pair(base, noisy), 0.01, { seed: 1 });
  assert.ok(Math.abs(v.drop - 0.05) < 1e-12, String(v.drop));
  assert.ok(v.lo! < 0 && !v.regression, `interval [${v.lo}, ${v.hi}] includes 0`);
  // A real but small drop, within the tolerance → pass.
  v = judge(
    ...pair(
      base,
      base.map((x) => x - 0.005),
    ),
    0.01,
    { seed: 1 },
  );
  assert.ok(v.lo! > 0 && !v.regression);
  // A baseline over other samples is refused, not misread.
  const [m, b] = pair(base, base);
  assert.throws(() => judge(m, { ...b, samples: { ...b.samples, s2: 'other' } }, 0.01), /s2 differs from the one the baseline scored/);
  assert.throws(() => judge(m, { ...b, scorer: 'adakv' }, 0.01), /baseline was measured with adakv/);
});

test('one held-out sample or no resamples: refused (a gate that cannot fail must not pass silently)', () => {
  const [m, b] = pair([0.5, 0.6], [0.1, 0.2]);
  const one = { ...m, perSample: { s0: 0.1 } };
  const oneB = { ...b, perSample: { s0: 0.5 } };
  assert.throws(() => judge(one, oneB, 0.01), /needs at least 2 held-out samples/);
  assert.throws(() => judge(m, b, 0.01, { resamples: 0 }), /needs resamples/);
});
