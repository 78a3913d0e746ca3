// No silently ignored input: every flag given with --config overrides the file with a note naming the key;
// a budget at or below the observation window warns, naming the methods that become identical.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kvopt, repoRoot } from '../engine/cli-run.ts';

test('eval --config with --methods --budgets --setting --samples: applied, each with a note; window warning names the methods', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-flags-'));
  const json = join(dir, 'r.json');
  const r = kvopt(
    [
      'eval',
      '--config',
      'experiments/quickstart.yaml',
      '--methods',
      'snapkv,adakv,streaming',
      '--budgets',
      '24,64',
      '--setting',
      'question-agnostic',
      '--samples',
      '2',
      '--db',
      join(dir, 'k.db'),
      '--json',
      json,
      '--quiet',
      '--workers',
      '1',
    ],
    { KVOPT_CACHE_DIR: join(dir, 'cache') },
  );
  assert.equal(r.status, 0, r.stderr);
  for (const [flag, key] of [
    ['--methods', 'methods'],
    ['--budgets', 'budgets'],
    ['--setting', 'setting'],
    ['--samples', 'tasks\\[\\]\\.samples'],
    ['--db', 'db'],
    ['--workers', 'workers'],
  ]) {
    assert.match(r.stderr, new RegExp(`kvopt: note: ${flag} overrides ${key} of experiments/quickstart\\.yaml`), `${flag} noted`);
  }
  // window 32 (the default of snapkv and adakv); streaming has none. 24 ≤ 32 warns, 64 does not.
  assert.match(r.stderr, /warning: budget 24 is at or below the observation window \(32\) of snapkv, adakv: .* identical results/);
  assert.doesNotMatch(r.stderr, /budget 64 is at or below/);
  const rows = (JSON.parse(readFileSync(json, 'utf8')) as { rows: { method: string; budget: string; setting: string; n: number }[] }).rows;
  assert.deepEqual([...new Set(rows.map((x) => x.method))].sort(), ['adakv', 'full', 'snapkv', 'streaming']);
  assert.deepEqual([...new Set(rows.filter((x) => x.method !== 'full').map((x) => x.budget))].sort(), ['24', '64']);
  assert.ok(rows.every((x) => x.setting === 'question-agnostic' && x.n === 2));
  // and it is true: at 24 the two window methods keep the same tokens, so they score the same on every sample
  const at24 = rows.filter((x) => x.budget === '24' && x.method !== 'streaming') as unknown as { meanScore: number }[];
  assert.equal(at24[0].meanScore, at24[1].meanScore);
});

test('--task/--data with a multi-task file is refused in one line; --model replaces model.path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-flags-'));
  const file = join(dir, 'two.yaml');
  writeFileSync(
    file,
    readFileSync(join(repoRoot, 'experiments', 'quickstart.yaml'), 'utf8')
      .replace(/^tasks:\n/m, `tasks:\n  - name: retrieval\n    data: ${join(repoRoot, 'datasets/retrieval/retrieval.jsonl')}\n`)
      .replace(/\.\.\//g, `${repoRoot}/`),
  );
  const r = kvopt(['eval', '--config', file, '--data', 'x.jsonl']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^kvopt: --data: .*two\.yaml has 2 tasks; these flags override a single task/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  const m = kvopt(['eval', '--config', 'experiments/quickstart.yaml', '--model', 'no/such/model']);
  assert.notEqual(m.status, 0);
  assert.match(m.stderr, /note: --model overrides model\.path/);
  assert.match(m.stderr, /no\/such\/model/);
});
