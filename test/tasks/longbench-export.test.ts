// LongBench for real use: `data:` a folder discovers the datasets present (naming the missing ones); a
// per-dataset prompt length (pred.py's model2maxlen) truncates the prompt; `kvopt export --format longbench`
// writes pred.py's layout, which `kvopt score` (LongBench's eval.py rules) scores to the stored scores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/store/store.ts';
import { kvopt } from '../engine/cli-run.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';

test('longbench folder → all datasets found; maxLength truncates; export in pred.py layout scores as stored', { timeout: 600_000 }, () => {
  const folder = sharedDataPath('longbench');
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-lb-'));
  const cfg = join(dir, 'lb.yaml');
  writeFileSync(
    cfg,
    [
      'name: lb-export',
      `model: { path: ${sharedDataPath('stories260K', 'stories260K.bin')}, tokenizer: ${sharedDataPath('stories260K', 'tok512.bin')} }`,
      'tasks:',
      `  - { name: longbench, data: ${folder}, samples: 2, seed: 1, options: { maxLength: 120 } }`,
      'setting: question-agnostic',
      'methods: [full, streaming]',
      'budgets: [32]',
      'window: 8',
      `db: ${join(dir, 'lb.db')}`,
    ].join('\n') + '\n',
  );
  const r = kvopt(['eval', '--config', cfg, '--quiet', '--workers', '1', '--bootstrap', '200'], { KVOPT_CACHE_DIR: join(dir, 'cache') });
  assert.equal(r.status, 0, r.stderr);
  const found = readdirSync(folder)
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => f.replace(/\.jsonl$/, ''))
    .sort();
  const note = /note: .*longbench: (\d+) LongBench datasets found \(([^)]*)\); missing: (.*)/.exec(r.stderr);
  assert.ok(note, r.stderr);
  assert.equal(Number(note[1]), found.length);
  assert.deepEqual(note[2].split(', ').sort(), found);
  assert.ok(note[3].split(', ').includes('narrativeqa') && !note[3].split(', ').some((d) => found.includes(d)));

  const store = Store.open(join(dir, 'lb.db'));
  const run = store.getRun('latest');
  const evals = store.evaluationsForRun(run.id).filter((e) => e.status === 'ok');
  const tokens = store.db.prepare('SELECT MAX(tokens) AS t FROM prefills WHERE run_id = ?').get(run.id) as { t: number };
  store.close();
  assert.deepEqual(
    [...new Set(evals.map((e) => e.task))].sort(),
    found.map((d) => `longbench/${d}`),
  );
  // pred.py cuts the token ids to model2maxlen and decodes; re-encoding the cut text can add a few tokens
  // (a word split in two), in pred.py as here. Without the option the longest prompt is the model's 512.
  assert.ok(tokens.t <= 120 + 8, `prompts cut to maxLength 120 (pred.py model2maxlen), longest prefill ${tokens.t}`);

  const out = join(dir, 'pred');
  const x = kvopt(['export', '--db', join(dir, 'lb.db'), '--run', 'latest', '--format', 'longbench', '--out', out]);
  assert.equal(x.status, 0, x.stderr);
  assert.deepEqual(readdirSync(out).sort(), ['full@full', 'streaming@32']);
  for (const ds of found) {
    const file = join(out, 'streaming@32', `${ds}.jsonl`);
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { pred: string; answers: string[]; all_classes: unknown; length: number });
    const mine = evals.filter((e) => e.task === `longbench/${ds}` && e.method === 'streaming');
    assert.equal(lines.length, mine.length);
    assert.deepEqual(lines.map((l) => l.pred).sort(), mine.map((e) => e.prediction).sort());
    // answers and length come from the data file
    const data = readFileSync(join(folder, `${ds}.jsonl`), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { answers: string[]; length: number });
    for (const l of lines) assert.ok(data.some((d) => JSON.stringify(d.answers) === JSON.stringify(l.answers) && d.length === l.length));
    // LongBench's scoring of the exported file equals the stored scores (eval.py: round(100·mean, 2))
    const sc = kvopt(['score', '--dataset', ds, '--predictions', file, '--json']);
    assert.equal(sc.status, 0, sc.stderr);
    const want = Math.round(100 * 100 * (mine.reduce((a, e) => a + e.score!, 0) / mine.length)) / 100;
    assert.match(sc.stdout, new RegExp(`${want.toFixed(2).replace('.', '\\.')}|"score":\\s*${want}`), `${ds}: ${sc.stdout}`);
  }
});
