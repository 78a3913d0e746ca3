import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parseExperiment } from '../../src/config/load.ts';
import { applyOverrides } from '../../src/config/overrides.ts';
import { canonicalJson, configHash, hashedConfig } from '../../src/config/hash.ts';

const BASE = `name: t
model:
  path: ../models/tiny
tasks:
  - name: needle
    data: ../datasets/needle.jsonl
    samples: 20
    heldout: 5
    seed: 3
  - name: gsm8k
    data: ../datasets/gsm8k.jsonl
methods: [full, snapkv]
budgets: [32]
search: {budget: 32}
`;
const parse = (text: string, file = 'experiments/x.yaml', cwd = '/proj') => parseExperiment(text, file, { cwd });

test('applyOverrides replaces what each flag names and leaves the input untouched', () => {
  const c = parse(BASE);
  const o = applyOverrides(c, { db: 'out/a.db', workers: '3', device: 'cuda', samples: '8', seed: '7', cwd: '/work' });
  assert.equal(o.db, '/work/out/a.db'); // relative to the working directory, not the YAML file
  assert.equal(o.workers, 3);
  assert.equal(o.model.device, 'cuda');
  assert.deepEqual(
    o.tasks.map((t) => t.samples),
    [8, 8],
  );
  assert.deepEqual(
    o.tasks.map((t) => t.seed),
    [7, 7],
  );
  assert.equal(o.search!.seed, 7);
  assert.equal(o.seed, 7);
  // The original is unchanged.
  assert.equal(c.workers, null);
  assert.equal(c.model.device, 'cpu');
  assert.deepEqual(
    c.tasks.map((t) => t.samples),
    [20, null],
  );
  assert.equal(c.search!.seed, 0);
  assert.equal(applyOverrides(c, { workers: 'auto' }).workers, null);
});

test('bad flag values name the flag', () => {
  const c = parse(BASE);
  assert.throws(() => applyOverrides(c, { workers: 'x' }), { message: '--workers: expected "auto" or a positive integer, got "x"' });
  assert.throws(() => applyOverrides(c, { workers: '0' }), { message: '--workers: expected "auto" or a positive integer, got "0"' });
  assert.throws(() => applyOverrides(c, { device: 'gpu' }), {
    message: '--device: expected one of cpu, cuda, webgpu (a trailing ! makes an unavailable GPU an error), got "gpu"; did you mean "cpu"?',
  });
  assert.throws(() => applyOverrides(c, { samples: '2.5' }), { message: '--samples: expected a positive integer, got "2.5"' });
  assert.throws(() => applyOverrides(c, { samples: 5 }), {
    message: '--samples: tasks[0] (needle) holds out 5 samples; expected more than 5, got 5',
  });
  assert.throws(() => applyOverrides(c, { seed: '-1' }), { message: '--seed: expected a non-negative integer, got "-1"' });
});

test('configHash is sha256 of the canonical JSON; defaults spelled out or not hash the same', () => {
  const c = parse(BASE);
  const expected = createHash('sha256')
    .update(canonicalJson(hashedConfig(c)))
    .digest('hex');
  assert.equal(configHash(c), expected);
  assert.match(configHash(c), /^[0-9a-f]{64}$/);
  const explicit = parse(
    BASE.replace('search: {budget: 32}', 'search: {budget: 32, sigma0: 0.3, lambda: 0.3, population: auto, optimizer: cmaes}') +
      'setting: question-aware\nwindow: 64\nchunk_size: 128\n',
  );
  assert.equal(configHash(explicit), configHash(c));
  // Key order in the file and in method options does not matter.
  const o1 = parse(BASE.replace('[full, snapkv]', '[full, {snapkv: {window: 32, kernel: 7}}]'));
  const o2 = parse(BASE.replace('[full, snapkv]', '[full, {snapkv: {kernel: 7, window: 32}}]'));
  assert.equal(configHash(o1), configHash(o2));
});

test('configHash ignores db, workers, threads, name and description; not seeds, samples, methods, budgets, device', () => {
  const c = parse(BASE);
  const h = configHash(c);
  assert.equal(configHash(applyOverrides(c, { db: '/elsewhere.db', workers: 4 })), h);
  assert.equal(configHash(parse(BASE.replace('name: t', 'name: other\ndescription: words'))), h);
  assert.equal(configHash(parse(BASE.replace('  path: ../models/tiny', '  path: ../models/tiny\n  threads: 2'))), h);
  // The same file in another clone (same relative layout) hashes the same.
  assert.equal(configHash(parse(BASE, 'experiments/x.yaml', '/other/clone')), h);
  for (const changed of [
    applyOverrides(c, { seed: 1 }),
    applyOverrides(c, { samples: 9 }),
    applyOverrides(c, { device: 'cuda' }),
    parse(BASE.replace('budgets: [32]', 'budgets: [64]')),
    parse(BASE.replace('[full, snapkv]', '[full, h2o]')),
    parse(BASE.replace('heldout: 5', 'heldout: 4')),
    parse(BASE.replace('search: {budget: 32}', 'search: {budget: 32, lambda: 0.5}')),
    parse(BASE + 'window: 32\n'),
    parse(BASE.replace('../datasets/gsm8k.jsonl', '../datasets/gsm8k-2.jsonl')),
  ]) {
    assert.notEqual(configHash(changed), h);
  }
});

test('canonicalJson sorts keys at every depth', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}');
});
