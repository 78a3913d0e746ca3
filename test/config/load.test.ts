import { METHODS } from '../../src/compress/registry.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkForCommand, checkPaths, loadExperiment, parseExperiment } from '../../src/config/load.ts';
import { budgetKey, methodKey } from '../../src/config/schema.ts';
import { closest, editDistance } from '../../src/util/suggest.ts';
import { KvoptError } from '../../src/util/errors.ts';

const F = 'experiments/x.yaml';
const CWD = '/proj';
const MIN = `name: t
model:
  path: ../models/tiny
tasks:
  - name: needle
    data: ../datasets/needle.jsonl
`;

function parse(text: string) {
  return parseExperiment(text, F, { cwd: CWD });
}

/** The KvoptError message that parsing `text` throws. */
function errorOf(text: string): string {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof KvoptError, `expected a KvoptError, got ${err}`);
    assert.ok(!err.message.includes('\n'), 'one-line message');
    return err.message;
  }
  assert.fail('expected an error');
}

test('a minimal file gets every default; relative paths resolve against the YAML directory', () => {
  const c = parse(MIN);
  assert.equal(c.name, 't');
  assert.equal(c.model.path, '/proj/models/tiny');
  assert.equal(c.model.tokenizer, null);
  assert.equal(c.model.device, 'cpu');
  assert.equal(c.model.dtype, 'fp32');
  assert.equal(c.model.threads, null);
  assert.equal(c.tasks[0].data, '/proj/datasets/needle.jsonl');
  assert.equal(c.tasks[0].family, 'needle');
  assert.equal(c.tasks[0].samples, null);
  assert.equal(c.tasks[0].seed, 0);
  assert.equal(c.tasks[0].heldout, 0);
  assert.equal(c.tasks[0].baseDir, '/proj/experiments');
  assert.deepEqual(c.settings, ['question-aware']);
  assert.deepEqual(c.methods, []);
  assert.deepEqual(c.budgets, []);
  assert.equal(c.search, null);
  assert.equal(c.workers, null);
  assert.equal(c.db, '/proj/results/kvopt.db'); // default: under the working directory
  assert.equal(c.window, 64);
  assert.equal(c.chunkSize, 128);
  assert.equal(c.source.dir, '/proj/experiments');
});

test('the design.md §4.6a example parses to the documented values', () => {
  const c = parse(`name: needle-snapkv-search
model:
  path: models/tiny
  tokenizer: null
  device: cpu
  dtype: fp32
tasks:
  - name: needle
    data: datasets/needle.jsonl
    samples: 20
    seed: 1
    heldout: 10
setting: question-aware
methods:
  - full
  - snapkv: { window: 32, kernel: 7, pooling: max }
  - adakv: { scorer: snapkv, alpha: 0.2 }
  - defensivekv
budgets: [32, 64, 0.2]
search:
  scorer: snapkv
  budget: 32
  optimizer: cmaes
  group_size: 8
  sigma0: 0.3
  population: auto
  generations: 15
  fitness: task
  lambda: 0.3
  gamma: 0.2
  seed: 0
workers: auto
db: results/kvopt.db
`);
  assert.equal(c.model.path, '/proj/experiments/models/tiny');
  assert.equal(c.db, '/proj/experiments/results/kvopt.db');
  assert.deepEqual(
    c.methods.map((m) => m.key),
    ['full', 'snapkv(kernel=7,pooling=max,window=32)', 'adakv(alpha=0.2,scorer=snapkv)', 'defensivekv'],
  );
  assert.deepEqual(c.methods[1].options, { window: 32, kernel: 7, pooling: max() });
  assert.deepEqual(c.budgets, [
    { kind: 'tokens', tokens: 32 },
    { kind: 'tokens', tokens: 64 },
    { kind: 'fraction', keep: 0.2 },
  ]);
  assert.deepEqual(c.budgets.map(budgetKey), ['32', '64', 'keep=0.2']);
  const s = c.search!;
  assert.equal(s.scorer.key, 'snapkv');
  assert.equal(s.budget, 32);
  assert.equal(s.population, null);
  assert.equal(s.generations, 15);
  assert.equal(s.lambda, 0.3);
  assert.equal(s.gamma, 0.2);
  assert.equal(s.groupSize, 8);
  assert.equal(s.transferMode, 'rescale');
  assert.equal(c.tasks[0].heldout, 10);
});
function max() {
  return 'max';
}

test('budgets: integers are tokens, (0,1) and {keep} are fractions; a single value is a list of one', () => {
  assert.deepEqual(parse(MIN + 'budgets: 128\n').budgets, [{ kind: 'tokens', tokens: 128 }]);
  assert.deepEqual(parse(MIN + 'budgets: [{keep: 0.5}, 1]\n').budgets, [
    { kind: 'fraction', keep: 0.5 },
    { kind: 'tokens', tokens: 1 },
  ]);
  assert.equal(
    errorOf(MIN + 'budgets: [32, 1.5]\n'),
    `${F}: budgets[1]: expected a positive integer (tokens per KV head per layer), a fraction in (0, 1), or {keep: fraction}, got 1.5 (line 7)`,
  );
  assert.equal(errorOf(MIN + 'budgets: [32, 0.2, 32]\n'), `${F}: budgets[2]: duplicate budget 32 (line 7)`);
  assert.equal(errorOf(MIN + 'budgets: [{keep: 0}]\n'), `${F}: budgets[0].keep: expected a number in (0, 1], got 0 (line 7)`);
});

test('setting accepts one value or a list', () => {
  assert.deepEqual(parse(MIN + 'setting: [question-agnostic, question-aware]\n').settings, ['question-agnostic', 'question-aware']);
});

test('wrong type names the key path, the expectation and the value', () => {
  const text = MIN.replace('tasks:\n', 'tasks:\n  - name: gsm8k\n    data: a.jsonl\n    samples: 3\n').replace(
    '    data: ../datasets/needle.jsonl\n',
    '    data: ../datasets/needle.jsonl\n    samples: ten\n',
  );
  assert.equal(errorOf(text), `${F}: tasks[1].samples: expected a positive integer or "all", got "ten" (line 10)`);
  assert.equal(errorOf(MIN + 'workers: many\n'), `${F}: workers: expected "auto" or a positive integer, got "many" (line 7)`);
  assert.equal(errorOf(MIN + 'methods: snapkv\n'), `${F}: methods: expected a list of methods (names or {name: {options}}), got "snapkv" (line 7)`);
  assert.equal(errorOf('name: t\nmodel: tiny\ntasks: []\n'), `${F}: model: expected a mapping with at least \`path\`, got "tiny" (line 2)`);
});

test('unknown keys are errors, with a suggestion when one is close', () => {
  assert.equal(
    errorOf(MIN.replace('    data:', '    sampels: 3\n    data:')),
    `${F}: tasks[0].sampels: unknown key; did you mean "samples"?; task-specific settings go under \`options:\` (line 6)`,
  );
  assert.equal(errorOf(MIN + 'budget: [32]\n'), `${F}: budget: unknown key; did you mean "budgets"? (line 7)`);
  assert.equal(errorOf(MIN + 'search:\n  budget: 8\n  sigma: 0.5\n'), `${F}: search.sigma: unknown key; did you mean "sigma0"? (line 9)`);
  // Nothing close: the allowed keys are listed instead.
  assert.equal(
    errorOf(MIN.replace('  path:', '  zzzzzz: 1\n  path:')),
    `${F}: model.zzzzzz: unknown key (expected one of: path, tokenizer, device, dtype, threads, self_extend) (line 3)`,
  );
  assert.equal(errorOf(MIN + 'methods: [snapvk]\n'), `${F}: methods[0]: unknown method "snapvk"; did you mean "snapkv"? (line 7)`);
  assert.equal(
    errorOf(MIN.replace('name: needle', 'name: neddle')),
    `${F}: tasks[0].name: expected continuation, needle, passkey, retrieval, gsm8k or longbench/<dataset>, got "neddle"; did you mean "needle"? (line 5)`,
  );
  assert.equal(parse(MIN.replace('name: needle', 'name: longbench/qasper_e')).tasks[0].dataset, 'qasper_e');
  assert.equal(
    errorOf(MIN.replace('name: needle', 'name: longbench/multi_nwes')),
    `${F}: tasks[0].name: unknown LongBench dataset "multi_nwes"; did you mean "multi_news"? (line 5)`,
  );
});

test('missing required keys', () => {
  assert.equal(errorOf(MIN.replace('name: t\n', '')), `${F}: name: required, expected a string (the experiment name) (line 1)`);
  assert.equal(
    errorOf(MIN.replace('  path: ../models/tiny\n', '  device: cpu\n')),
    `${F}: model.path: required, expected a Hugging Face folder, .gguf file or llama2.c .bin (line 3)`,
  );
  assert.equal(errorOf(MIN.replace('    data: ../datasets/needle.jsonl\n', '')), `${F}: tasks[0].data: required, expected a path to the task data (line 5)`);
  assert.equal(
    errorOf(MIN + 'search:\n  generations: 3\n'),
    `${F}: search.budget: required, expected a positive integer (target mean tokens per KV head per layer) (line 8)`,
  );
  assert.equal(errorOf('name: t\nmodel: {path: m}\ntasks: []\n'), `${F}: tasks: expected at least one task, got an empty list (line 3)`);
});

test('bad enum values list the choices and suggest the closest', () => {
  assert.equal(
    errorOf(MIN + 'setting: question_aware\n'),
    `${F}: setting: expected one of question-aware, question-agnostic, got "question_aware"; did you mean "question-aware"? (line 7)`,
  );
  assert.equal(
    errorOf(MIN.replace('  path: ../models/tiny', '  path: ../models/tiny\n  device: gpu')),
    `${F}: model.device: expected one of cpu, cuda, webgpu, got "gpu"; did you mean "cpu"? (line 4)`,
  );
  assert.equal(
    errorOf(MIN + 'search: {budget: 8, optimizer: cma}\n'),
    `${F}: search.optimizer: expected one of cmaes, ga, random, got "cma"; did you mean "cmaes"? (line 7)`,
  );
  assert.equal(
    errorOf(MIN + 'search: {budget: 8, fitness: accuracy}\n'),
    `${F}: search.fitness: expected one of task, likelihood, fidelity, got "accuracy" (line 7)`,
  );
});

test('out of range values', () => {
  assert.equal(errorOf(MIN + 'search: {budget: 8, gamma: 1.5}\n'), `${F}: search.gamma: expected a number in [0, 1], got 1.5 (line 7)`);
  assert.equal(errorOf(MIN + 'search: {budget: 8, sigma0: 0}\n'), `${F}: search.sigma0: expected a positive number, got 0 (line 7)`);
  assert.equal(errorOf(MIN + 'search: {budget: 8, population: 1}\n'), `${F}: search.population: expected an integer >= 2, got 1 (line 7)`);
  assert.equal(errorOf(MIN + 'search: {budget: 8, min_budget: 9}\n'), `${F}: search.min_budget: expected at most search.budget (8), got 9 (line 7)`);
  assert.equal(errorOf(MIN + 'window: 0\n'), `${F}: window: expected a positive integer, got 0 (line 7)`);
  assert.equal(
    errorOf(MIN.replace('    data:', '    samples: 5\n    heldout: 5\n    data:')),
    `${F}: tasks[0].heldout: expected fewer than samples (5), got 5 (line 7)`,
  );
  assert.equal(
    errorOf(MIN + 'window: 16\nmethods:\n  - snapkv: {window: 32}\n'),
    `${F}: methods[0].snapkv.window: 32 is larger than the prefill observation window (window: 16); raise the top-level window (line 9)`,
  );
});

test('structural errors: duplicates, syntax, empty file, method entry shape', () => {
  assert.equal(errorOf(MIN + 'methods: [full, snapkv, full]\n'), `${F}: methods[2]: duplicate of methods[0] (full) (line 7)`);
  assert.match(errorOf(MIN + 'methods: [full\n'), /^experiments\/x\.yaml: YAML syntax error at line \d+, column \d+: /);
  assert.match(errorOf('name: a\nname: b\n'), /^experiments\/x\.yaml: YAML syntax error at line 2, column 1: Map keys must be unique$/);
  assert.equal(errorOf(''), `${F}: the experiment file is empty`);
  assert.equal(errorOf('- a\n- b\n'), `${F}: expected a mapping at the top level, got a list (line 1)`);
  assert.equal(
    errorOf(MIN + 'methods:\n  - {snapkv: {}, h2o: {}}\n'),
    `${F}: methods[0]: expected a method name or a mapping {name: {options}} with one key, got 2 keys (snapkv, h2o) (line 8)`,
  );
  assert.equal(
    errorOf(MIN + 'search: {budget: 8, scorer: full}\n'),
    `${F}: search.scorer: full keeps every token; per-layer budgets need a scorer such as snapkv (line 7)`,
  );
});

test('methods are resolved once, by the compression registry, when the config is read', () => {
  // every registered preset loads, with every option typed and defaulted
  const names = Object.keys(METHODS).filter((m) => m !== 'profile'); // profile needs a file
  const c = parseExperiment(MIN + `methods: [${names.join(', ')}]\n`, F, { cwd: CWD });
  assert.deepEqual(
    c.methods.map((m) => m.key),
    names,
  );
  const snap = parseExperiment(MIN + 'methods: [{snapkv: {window: 16}}, snapkv+kivi4]\n', F, { cwd: CWD }).methods;
  assert.deepEqual(snap[0].resolved.scorer, {
    name: 'snapkv',
    options: { window: 16, kernel: 7, pooling: 'max', aggregation: 'sum', gqa: 'mean', gqa_order: 'pool-then-group' },
  });
  assert.deepEqual(snap[1].resolved.quantizer, { name: 'kivi', options: { bits: '4', group_size: 32, residual: 128, storage: 'fp16' } });
  // a bad option is the registry's one-line error, at the method's key and line
  assert.throws(
    () => parseExperiment(MIN + 'methods: [{snapkv: {kernel: 4}}]\n', F, { cwd: CWD }),
    /x\.yaml: methods\[0\]: method snapkv: kernel must be odd.*\(line 7\)/,
  );
});

test('methodKey: sorted options, simple strings bare, anything else as JSON', () => {
  assert.equal(methodKey('full', {}), 'full');
  assert.equal(
    methodKey('kivi', { bits: 2, group: 32, note: 'a b', nested: { z: 1, a: [1, 2] } }),
    'kivi(bits=2,group=32,nested={"a":[1,2],"z":1},note="a b")',
  );
});

test('checkForCommand and checkPaths name what is missing', () => {
  const c = parse(MIN);
  assert.throws(() => checkForCommand(c, 'eval'), { message: `${F}: methods: required for kvopt eval (a list of method names)` });
  assert.throws(() => checkForCommand(parse(MIN + 'methods: [full, snapkv]\n'), 'eval'), {
    message: `${F}: budgets: required for kvopt eval when a method other than full is listed`,
  });
  checkForCommand(parse(MIN + 'methods: [full]\n'), 'eval');
  assert.throws(() => checkForCommand(c, 'search'), { message: `${F}: search: required for kvopt search (at least search.budget)` });
  assert.throws(() => checkPaths(c), { message: `${F}: model.path: no such file or folder: /proj/models/tiny` });
});

test('loadExperiment reads a real file; a missing one names it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-cfg-'));
  writeFileSync(join(dir, 'a.yaml'), MIN);
  const c = loadExperiment(join(dir, 'a.yaml'));
  assert.equal(c.model.path, join(dir, '..', 'models', 'tiny'));
  assert.throws(() => loadExperiment(join(dir, 'nope.yaml')), { message: `${join(dir, 'nope.yaml')}: no such experiment file` });
});

test('suggestions: edit distance by hand, and nothing when far', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('flaw', 'lawn'), 2);
  assert.equal(closest('sampels', ['samples', 'seed']), 'samples');
  assert.equal(closest('group-size', ['group_size']), 'group_size');
  assert.equal(closest('xyz', ['samples', 'seed']), null);
  assert.equal(closest('cma', ['cmaes', 'ga', 'random']), 'cmaes');
  assert.equal(closest('s', ['samples', 'seed']), null);
});
