/**
 * SelfExtend from the outside: `model.self_extend` variants in an eval (rows per variant; with every i − j < W the
 * extended model scores exactly as the plain one; a prompt past the trained context is cut to 512 without
 * SelfExtend and kept with it), `--self-extend` on generate and bench runtime, and bad input: one line naming the
 * option, non-zero exit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseExperiment } from '../../src/config/load.ts';
import { configHash } from '../../src/config/hash.ts';
import { applyOverrides } from '../../src/config/overrides.ts';
import { taskVariants } from '../../src/config/self-extend.ts';
import { taskLabel } from '../../src/config/task-label.ts';
import { testCacheDir } from '../runtime/helpers.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const kvopt = (...args: string[]) =>
  spawnSync(process.execPath, ['bin/kvopt.mjs', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, KVOPT_CACHE_DIR: testCacheDir, NO_COLOR: '1' },
  });

const yaml = (selfExtend: string, extra = '') => `name: se-test
model:
  path: ${join(root, 'models/tiny')}
  ${selfExtend}
tasks:
  - name: retrieval
    data: ${join(root, 'datasets/retrieval/retrieval.jsonl')}
    samples: 3
    seed: 2
${extra}setting: question-agnostic
methods: [full, snapkv]
budgets: [0.2]
window: 32
chunk_size: 200
workers: 1
`;

test('config: model.self_extend variants parse; the hash changes only with SelfExtend on; --self-extend replaces them', () => {
  const plain = parseExperiment(yaml(''), 'x.yaml');
  assert.deepEqual(plain.model.selfExtend, [null]);
  const off = parseExperiment(yaml('self_extend: off'), 'x.yaml');
  assert.equal(configHash(off), configHash(plain), 'off hashes like no SelfExtend');
  const two = parseExperiment(yaml('self_extend: [off, {group: 4, window: 128}]'), 'x.yaml');
  assert.deepEqual(two.model.selfExtend, [null, { group: 4, window: 128 }]);
  assert.notEqual(configHash(two), configHash(plain));
  const flag = applyOverrides(plain, { selfExtend: '8,64' });
  assert.deepEqual(flag.model.selfExtend, [{ group: 8, window: 64 }]);
  assert.deepEqual(applyOverrides(two, { selfExtend: 'off' }).model.selfExtend, [null]);
});

test('config and flags: bad SelfExtend values are one-line errors naming the option', () => {
  const cases: [string, RegExp][] = [
    ['self_extend: {group: 0, window: 128}', /model\.self_extend\.group: expected a positive integer, got 0/],
    ['self_extend: {group: 4, window: 0}', /model\.self_extend\.window: expected a positive integer, got 0/],
    ['self_extend: {group: 4}', /model\.self_extend.*window/],
    ['self_extend: {group: 4, window: 128, scale: 2}', /model\.self_extend.*scale/],
    ['self_extend: [off, off]', /model\.self_extend\[1\].*duplicate/],
    ['self_extend: 8', /model\.self_extend/],
  ];
  for (const [line, re] of cases) assert.throws(() => parseExperiment(yaml(line), 'x.yaml'), re, line);
  const plain = parseExperiment(yaml(''), 'x.yaml');
  assert.throws(() => applyOverrides(plain, { selfExtend: '8' }), /--self-extend: expected G,W/);
  assert.throws(() => applyOverrides(plain, { selfExtend: '0,128' }), /--self-extend: group G must be an integer >= 1/);
  assert.throws(() => applyOverrides(plain, { selfExtend: '4,-1' }), /--self-extend: window W must be an integer >= 1/);
});

test('eval: SelfExtend variants in one run; every i − j < W scores exactly like the plain model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-se-'));
  const file = join(dir, 'se.yaml');
  // W = 512 = the trained context: no prompt here reaches a grouped distance
  writeFileSync(file, yaml('self_extend: [off, {group: 2, window: 512}]'));
  const r = kvopt('eval', '--config', file, '--db', join(dir, 'k.db'), '--json', join(dir, 'r.json'), '--quiet');
  assert.equal(r.status, 0, r.stderr);
  const rows = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')).rows as {
    task: string;
    method: string;
    meanScore: number;
    meanKvBytes: number;
    n: number;
  }[];
  const plain = rows.filter((x) => x.task === 'retrieval');
  const ext = rows.filter((x) => x.task === 'retrieval+selfextend(G=2,W=512)');
  assert.equal(plain.length, 2);
  assert.equal(ext.length, 2);
  for (const p of plain) {
    const e = ext.find((x) => x.method === p.method)!;
    assert.equal(e.n, 3);
    assert.equal(e.meanScore, p.meanScore, p.method);
    assert.equal(e.meanKvBytes, p.meanKvBytes, p.method);
  }
});

test('bad input at run time: W larger than the trained context names model.self_extend / --self-extend', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-se-bad-'));
  const file = join(dir, 'se.yaml');
  writeFileSync(file, yaml('self_extend: {group: 4, window: 1024}'));
  const e = kvopt('eval', '--config', file, '--db', join(dir, 'k.db'), '--quiet');
  assert.notEqual(e.status, 0);
  assert.match(e.stderr, /model\.self_extend \(--self-extend\): window W = 1024 is larger than the model's trained context of 512/);
  // one line for the error (flags given with --config also print a note naming the key they override)
  assert.equal(
    e.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('kvopt: note:')).length,
    1,
    e.stderr,
  );
  assert.ok(!/\n\s+at /.test(e.stderr), `no stack trace: ${e.stderr}`);
  const g = kvopt('generate', '--model', 'models/tiny', '--self-extend', '4,600', '--prompt', 'query:');
  assert.notEqual(g.status, 0);
  assert.equal(g.stderr.trim().split('\n').length, 1, g.stderr);
  assert.match(g.stderr, /--self-extend: window W = 600 is larger than the model's trained context of 512/);
  const b = kvopt('bench', 'runtime', '--model', 'models/tiny', '--self-extend', 'x');
  assert.notEqual(b.status, 0);
  assert.match(b.stderr, /--self-extend: expected G,W/);
});

test('generate and bench runtime with --self-extend run past the trained context', () => {
  const long = readFileSync(join(root, 'datasets/retrieval-long/retrieval-1k.jsonl'), 'utf8').split('\n')[0];
  const s = JSON.parse(long) as { context: string; question: string; answers: string[] };
  const prompt = `${s.context} ${s.question}`;
  const plain = kvopt('generate', '--model', 'models/tiny', '--prompt', prompt, '--max-new-tokens', '4', '--threads', '1');
  assert.notEqual(plain.status, 0, 'a 1k prompt does not fit the plain 512 context');
  assert.match(plain.stderr, /longer than the model context of 512/);
  const ext = kvopt('generate', '--model', 'models/tiny', '--self-extend', '8,128', '--prompt', prompt, '--max-new-tokens', '4', '--threads', '1');
  assert.equal(ext.status, 0, ext.stderr);
  assert.equal(ext.stdout.trim(), s.answers[0], 'the extended tiny model retrieves the fact of a 1k document');
  const b = kvopt(
    'bench',
    'runtime',
    '--model',
    'models/tiny',
    '--self-extend',
    '8,128',
    '--prompt-tokens',
    '1500',
    '--decode-tokens',
    '3',
    '--batch',
    '2',
    '--bandwidth-mib',
    '8',
    '--json',
  );
  assert.equal(b.status, 0, b.stderr);
  const j = JSON.parse(b.stdout);
  assert.deepEqual(j.graphOptions.selfExtend, { group: 8, window: 128 });
  assert.equal(j.promptTokens, 1500);
});

test('task labels: variants get +selfextend(...); the same task and data twice are told apart by their options', () => {
  const data = join(root, 'datasets/stories260k-samples.jsonl');
  const c = parseExperiment(
    `name: se-labels
model:
  path: ${join(root, 'models/tiny')}
  self_extend: [off, {group: 4, window: 128}]
tasks:
  - name: continuation
    data: ${data}
    samples: 3
  - name: continuation
    data: ${data}
    samples: 3
    options: {contextTokens: 64}
methods: [full]
budgets: [0.5]
`,
    'x.yaml',
  );
  const tasks = taskVariants(c);
  const plain = 'continuation[stories260k-samples]';
  assert.deepEqual(
    tasks.map((t) => taskLabel(t, tasks)),
    [`${plain}(defaults)`, `${plain}(contextTokens=64)`, `${plain}(defaults)+selfextend(G=4,W=128)`, `${plain}(contextTokens=64)+selfextend(G=4,W=128)`],
  );
});
