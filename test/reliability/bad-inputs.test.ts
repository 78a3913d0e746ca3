// The bad-input table: one row per case (command line, expected error fragment). Every case must end with
// exit code ≠ 0, no stack trace, at most 2 lines of error on stderr (notes about overriding flags and warnings aside), a message naming the offending file, key or
// flag, and, unless the row says the command writes, the database file unchanged byte for byte (and not
// created when it did not exist). Fixtures (truncated models, random bytes, broken JSON lines, bad YAML)
// are made here. The cases run in this process through the CLI's entry (`run(argv)`); a sample of them
// also runs through bin/kvopt.mjs in a child process to show the real binary behaves the same.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runCli } from '../helpers/cli-inprocess.ts';
import { repoRoot, sharedDataPath } from '../helpers/shared-data.ts';

interface Fixtures {
  dir: string;
  model: string;
  tok: string;
  data: string;
  /** The database of this case: a fresh copy of one holding a complete eval run (1) and search run (2). */
  db: string;
  /** Writes a file under the fixture folder and returns its path. */
  file(name: string, content: string | Buffer): string;
  /** An eval config: the good one with `edit` applied to its text. */
  evalYaml(edit?: (y: string) => string): string;
  searchYaml(edit?: (y: string) => string): string;
}

type Row = [name: string, args: (f: Fixtures) => string[], expect: RegExp, opts?: { writes?: boolean; cwd?: string }];

let root = '';
let goodDb = '';
let model = '';
let tok = '';
let data = '';
let profileFile = '';
let counter = 0;

const EVAL_YAML = () => `name: bad-input
model:
  path: ${model}
  tokenizer: ${tok}
tasks:
  - name: continuation
    data: ${data}
    samples: 2
    seed: 1
    options: { contextTokens: 48, continuationTokens: 8 }
setting: question-aware
methods: [snapkv]
budgets: [16]
window: 16
workers: 1
`;

const SEARCH_YAML = () => `name: bad-input-search
model:
  path: ${model}
  tokenizer: ${tok}
tasks:
  - name: continuation
    data: ${data}
    samples: 3
    heldout: 1
    seed: 1
    options: { contextTokens: 48, continuationTokens: 8 }
setting: question-aware
search:
  scorer: snapkv
  budget: 12
  optimizer: cmaes
  group_size: 5
  population: 4
  generations: 1
  min_budget: 4
window: 16
workers: 1
`;

function fixtures(): Fixtures {
  const dir = join(root, `case-${++counter}`);
  mkdirSync(dir);
  const db = join(dir, 'k.db');
  copyFileSync(goodDb, db);
  const file = (name: string, content: string | Buffer) => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  return {
    dir,
    model,
    tok,
    data,
    db,
    file,
    evalYaml: (edit = (y) => y) => file('eval.yaml', edit(EVAL_YAML())),
    searchYaml: (edit = (y) => y) => file('search.yaml', edit(SEARCH_YAML())),
  };
}

const sha = (p: string) => (existsSync(p) ? createHash('sha256').update(readFileSync(p)).digest('hex') : 'absent');
const walBytes = (p: string) => (existsSync(`${p}-wal`) ? statSync(`${p}-wal`).size : 0);

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'kvopt-bad-inputs-'));
  process.env.KVOPT_CACHE_DIR = join(root, 'graph-cache');
  model = sharedDataPath('stories260K', 'stories260K.bin');
  tok = sharedDataPath('stories260K', 'tok512.bin');
  data = join(repoRoot, 'datasets/stories260k-samples.jsonl');
  goodDb = join(root, 'good.db');
  const base = join(root, 'base');
  mkdirSync(base);
  writeFileSync(join(base, 'eval.yaml'), EVAL_YAML());
  writeFileSync(join(base, 'search.yaml'), SEARCH_YAML());
  for (const cmd of ['eval', 'search']) {
    const r = await runCli([cmd, '--config', join(base, `${cmd}.yaml`), '--db', goodDb, '--quiet']);
    assert.equal(r.code, 0, `fixture ${cmd} run failed: ${r.stderr}`);
  }
  profileFile = join(root, 'profile.json');
  const r = await runCli(['export', '--db', goodDb, '--run', '2', '--out', profileFile]);
  assert.equal(r.code, 0, r.stderr);
  // Checkpoint the WAL into the main file so that each case's copy is the whole database.
  const d = new Database(goodDb);
  d.pragma('wal_checkpoint(TRUNCATE)');
  d.close();
  rmSync(join(root, 'prefill-cache'), { recursive: true, force: true });
});

after(() => rmSync(root, { recursive: true, force: true }));

// ---- the table --------------------------------------------------------------------------------------

const yamlCase = (name: string, edit: (y: string) => string, expect: RegExp, opts?: Row[3]): Row => [
  `eval config: ${name}`,
  (f) => ['eval', '--config', f.evalYaml(edit), '--db', f.db, '--quiet'],
  expect,
  opts,
];
const searchCase = (name: string, edit: (y: string) => string, expect: RegExp, extra: string[] = [], opts?: Row[3]): Row => [
  `search config: ${name}`,
  (f) => ['search', '--config', f.searchYaml(edit), '--db', f.db, '--quiet', ...extra],
  expect,
  opts,
];
const sub = (a: string | RegExp, b: string) => (y: string) => {
  const out = y.replace(a, b);
  if (out === y) throw new Error(`table edit did not apply: ${String(a)}`);
  return out;
};
/** The command-line form of eval, with `over` replacing or adding flags. */
const flagsEval = (f: Fixtures, over: Record<string, string | null> = {}, extra: string[] = []) => {
  const flags: Record<string, string | null> = {
    '--model': f.model,
    '--tokenizer': f.tok,
    '--task': 'continuation',
    '--data': f.data,
    '--methods': 'snapkv',
    '--budgets': '16',
    '--samples': '2',
    '--db': f.db,
    ...over,
  };
  const args = ['eval', '--quiet', '--task-option', 'contextTokens=48', '--task-option', 'continuationTokens=8'];
  for (const [k, v] of Object.entries(flags)) if (v !== null) args.push(k, v);
  return [...args, ...extra];
};
const flagCase = (name: string, over: Record<string, string | null>, expect: RegExp, extra: string[] = [], opts?: Row[3]): Row => [
  `eval flags: ${name}`,
  (f) => flagsEval(f, over, extra),
  expect,
  opts,
];
const taskOption = (opt: string, expect: RegExp): Row => [`--task-option ${opt}`, (f) => [...flagsEval(f), '--task-option', opt], expect];

const CASES: Row[] = [
  // -- experiment files: YAML and top-level keys
  ['eval config: missing file', (f) => ['eval', '--config', join(f.dir, 'nope.yaml'), '--db', f.db], /nope\.yaml: no such experiment file/],
  ['eval config: a folder', (f) => ['eval', '--config', f.dir, '--db', f.db], /case-\d+: cannot read experiment file \(EISDIR\)/],
  ['eval config: empty file', (f) => ['eval', '--config', f.file('e.yaml', ''), '--db', f.db], /e\.yaml: the experiment file is empty/],
  ['eval config: random bytes', (f) => ['eval', '--config', f.file('r.yaml', randomBytes(300)), '--db', f.db], /r\.yaml: /],
  ['eval config: a list at the top', (f) => ['eval', '--config', f.file('l.yaml', '- a\n- b\n'), '--db', f.db], /l\.yaml: expected a mapping at the top level/],
  ['eval config: YAML syntax error', (f) => ['eval', '--config', f.file('s.yaml', 'name: [unclosed\n'), '--db', f.db], /s\.yaml: YAML syntax error at line/],
  ['eval config: tab indentation', (f) => ['eval', '--config', f.file('t.yaml', 'name: x\nmodel:\n\tpath: m\n'), '--db', f.db], /t\.yaml: YAML syntax error/],
  [
    'eval config: alias bomb',
    (f) => [
      'eval',
      '--config',
      f.file(
        'bomb.yaml',
        'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n',
      ),
      '--db',
      f.db,
    ],
    /bomb\.yaml: YAML aliases expand too much/,
  ],
  yamlCase('unknown top-level key', sub('window: 16', 'windw: 16'), /windw: unknown key; did you mean "window"\?/),
  yamlCase('name missing', sub('name: bad-input\n', ''), /name: required/),
  yamlCase('name a number', sub('name: bad-input', 'name: 5'), /name: expected a string, got 5/),
  yamlCase('model missing', sub(/model:\n {2}path: .*\n {2}tokenizer: .*\n/, ''), /model: required/),
  yamlCase('model a string', sub(/model:\n {2}path: .*\n {2}tokenizer: .*\n/, 'model: x\n'), /model: expected a mapping/),
  yamlCase('model.path missing', sub(/ {2}path: .*stories260K.bin\n/, ''), /model\.path: required/),
  yamlCase('model.path absent file', sub(/path: .*stories260K.bin/, 'path: /no/such/model.bin'), /model\.path: no such file or folder: \/no\/such\/model\.bin/),
  yamlCase('model.tokenizer absent file', sub(/tokenizer: .*tok512.bin/, 'tokenizer: /no/tok.bin'), /model\.tokenizer: no such file or folder/),
  yamlCase('model unknown key', sub('  tokenizer:', '  tokeniser: x\n  tokenizer:'), /model\.tokeniser: unknown key; did you mean "tokenizer"\?/),
  yamlCase('model.device unknown', sub('  tokenizer:', '  device: tpu\n  tokenizer:'), /model\.device: expected one of/),
  yamlCase('model.dtype unknown', sub('  tokenizer:', '  dtype: fp8\n  tokenizer:'), /model\.dtype: expected one of/),
  yamlCase('model.threads zero', sub('  tokenizer:', '  threads: 0\n  tokenizer:'), /model\.threads: expected a positive integer, got 0/),
  yamlCase('tasks missing', sub(/tasks:\n( {2}.*\n| {4}.*\n)+/, ''), /tasks: required/),
  yamlCase('tasks empty', sub(/tasks:\n( {2}.*\n| {4}.*\n)+/, 'tasks: []\n'), /tasks: expected at least one task/),
  yamlCase('tasks a mapping', sub(/tasks:\n( {2}.*\n| {4}.*\n)+/, 'tasks: { name: x }\n'), /tasks: expected a list of tasks/),
  yamlCase('task name unknown', sub('name: continuation', 'name: continuaton'), /tasks\[0\]\.name: .*did you mean "continuation"\?/),
  yamlCase(
    'task longbench without dataset',
    sub('name: continuation', 'name: longbench'),
    /tasks\[0\]\.data: name: longbench needs data: a folder of LongBench jsonl files/,
  ),
  yamlCase(
    'task longbench unknown dataset',
    sub('name: continuation', 'name: longbench/multinews'),
    /tasks\[0\]\.name: unknown LongBench dataset "multinews"; did you mean "multi_news"\?/,
  ),
  yamlCase('task data missing', sub(/ {4}data: .*\n/, ''), /tasks\[0\]\.data: required/),
  yamlCase('task data absent', sub(/data: .*\.jsonl/, 'data: /no/data.jsonl'), /tasks\[0\]\.data: no such file or folder/),
  yamlCase('task unknown key', sub('    seed: 1', '    sed: 1'), /tasks\[0\]\.sed: unknown key; did you mean "seed"\?/),
  yamlCase('task samples zero', sub('samples: 2', 'samples: 0'), /tasks\[0\]\.samples: expected a positive integer, got 0/),
  yamlCase('task samples a word', sub('samples: 2', 'samples: ten'), /tasks\[0\]\.samples: expected a positive integer or "all", got "ten"/),
  yamlCase('task samples fractional', sub('samples: 2', 'samples: 2.5'), /tasks\[0\]\.samples: expected a positive integer, got 2\.5/),
  yamlCase('task heldout ≥ samples', sub('    seed: 1', '    heldout: 2\n    seed: 1'), /tasks\[0\]\.heldout: expected fewer than samples \(2\), got 2/),
  yamlCase('task heldout negative', sub('    seed: 1', '    heldout: -1\n    seed: 1'), /tasks\[0\]\.heldout: expected a non-negative integer, got -1/),
  yamlCase('task seed negative', sub('    seed: 1', '    seed: -3'), /tasks\[0\]\.seed: expected a non-negative integer, got -3/),
  yamlCase('task options a list', sub(/options: \{.*\}/, 'options: [1, 2]'), /tasks\[0\]\.options: expected a mapping, got a list/),
  yamlCase('task option typo', sub('contextTokens: 48', 'contxtTokens: 48'), /tasks\[0\]\.options\.contxtTokens: unknown key; did you mean "contextTokens"\?/),
  yamlCase(
    'task option negative',
    sub('contextTokens: 48', 'contextTokens: -5'),
    /tasks\[0\]\.options\.contextTokens: expected an integer in \[1, 1048576\], got -5/,
  ),
  yamlCase('task option a word', sub('contextTokens: 48', 'contextTokens: abc'), /tasks\[0\]\.options\.contextTokens: expected an integer .*got "abc"/),
  yamlCase('task option a list', sub('contextTokens: 48', 'contextTokens: [1, 2]'), /tasks\[0\]\.options\.contextTokens: expected an integer .*got \[1,2\]/),
  yamlCase('task option huge', sub('contextTokens: 48', 'contextTokens: 1e12'), /tasks\[0\]\.options\.contextTokens: expected an integer in \[1, 1048576\]/),
  yamlCase(
    'questionTokens ≥ contextTokens',
    sub('contextTokens: 48', 'contextTokens: 48, questionTokens: 48'),
    /tasks\[0\]\.options\.questionTokens: expected fewer than contextTokens \(48\), got 48/,
  ),
  yamlCase(
    'continuationTokens zero',
    sub('continuationTokens: 8', 'continuationTokens: 0'),
    /tasks\[0\]\.options\.continuationTokens: expected an integer in \[1/,
  ),
  yamlCase(
    'windowsPerDocument zero',
    sub('continuationTokens: 8', 'continuationTokens: 8, windowsPerDocument: 0'),
    /tasks\[0\]\.options\.windowsPerDocument: expected an integer in \[1, 10000\]/,
  ),
  yamlCase(
    'passkey with options',
    sub('name: continuation', 'name: passkey'),
    /tasks\[0\]\.options\.contextTokens: unknown key: task passkey takes no options/,
  ),
  yamlCase(
    'gsm8k shots negative',
    (y) => y.replace('name: continuation', 'name: gsm8k').replace(/options: \{.*\}/, 'options: { shots: -1 }'),
    /tasks\[0\]\.options\.shots: expected an integer in \[0, 64\], got -1/,
  ),
  yamlCase(
    'gsm8k shots a word',
    (y) => y.replace('name: continuation', 'name: gsm8k').replace(/options: \{.*\}/, 'options: { shots: many }'),
    /tasks\[0\]\.options\.shots: expected an integer in \[0, 64\], got "many"/,
  ),
  yamlCase(
    'gsm8k metric unknown',
    (y) => y.replace('name: continuation', 'name: gsm8k').replace(/options: \{.*\}/, 'options: { metric: loose }'),
    /tasks\[0\]\.options\.metric: expected one of gsm8k_flexible, gsm8k_strict, got "loose"/,
  ),
  yamlCase(
    'gsm8k stripCalculator a word',
    (y) => y.replace('name: continuation', 'name: gsm8k').replace(/options: \{.*\}/, 'options: { stripCalculator: yes please }'),
    /tasks\[0\]\.options\.stripCalculator: expected true or false/,
  ),
  yamlCase(
    'needle depths out of range',
    (y) =>
      y
        .replace('name: continuation', 'name: needle')
        .replace(/data: .*/, `data: ${repoRoot}/datasets`)
        .replace(/options: \{.*\}/, 'options: { lengths: [64], depths: [150] }'),
    /tasks\[0\]\.options\.depths: expected a non-empty list of numbers in \[0, 100\], got \[150\]/,
  ),
  yamlCase(
    'needle lengths empty',
    (y) =>
      y
        .replace('name: continuation', 'name: needle')
        .replace(/data: .*/, `data: ${repoRoot}/datasets`)
        .replace(/options: \{.*\}/, 'options: { lengths: [], depths: [50] }'),
    /tasks\[0\]\.options\.lengths: expected a non-empty list of integers/,
  ),
  yamlCase(
    'needle folder without lengths',
    (y) =>
      y
        .replace('name: continuation', 'name: needle')
        .replace(/data: .*/, `data: ${repoRoot}/datasets`)
        .replace(/options: \{.*\}/, 'options: { depths: [50] }'),
    /tasks\[0\]\.options\.lengths: required for needle over a haystack folder/,
  ),
  yamlCase('setting unknown', sub('setting: question-aware', 'setting: question-awre'), /setting: expected one of .*did you mean "question-aware"\?/),
  yamlCase('setting empty list', sub('setting: question-aware', 'setting: []'), /setting: .*got an empty list/),
  yamlCase(
    'setting duplicate',
    sub('setting: question-aware', 'setting: [question-aware, question-aware]'),
    /setting\[1\]: duplicate setting "question-aware"/,
  ),
  yamlCase('methods missing', sub('methods: [snapkv]\n', ''), /methods: required for kvopt eval/),
  yamlCase('methods a number', sub('methods: [snapkv]', 'methods: 5'), /methods: expected a list of methods/),
  yamlCase('method unknown', sub('methods: [snapkv]', 'methods: [snapvk]'), /methods\[0\]: unknown method "snapvk"; did you mean "snapkv"\?/),
  yamlCase('method unclosed parenthesis', sub('methods: [snapkv]', "methods: ['snapkv(window=8']"), /methods\[0\]: method "snapkv\(window=8": unclosed "\("/),
  yamlCase('method unmatched parenthesis', sub('methods: [snapkv]', "methods: ['snapkv)']"), /methods\[0\]: method "snapkv\)": unmatched "\)"/),
  yamlCase(
    'method two keys',
    sub('methods: [snapkv]', 'methods: [{ snapkv: {}, h2o: {} }]'),
    /methods\[0\]: expected a method name or a mapping \{name: \{options\}\} with one key, got 2 keys/,
  ),
  yamlCase('method options a list', sub('methods: [snapkv]', 'methods: [{ snapkv: [1] }]'), /methods\[0\]\.snapkv: expected a mapping of method options/),
  yamlCase('method option unknown', sub('methods: [snapkv]', 'methods: [{ snapkv: { windw: 8 } }]'), /methods\[0\].*windw/),
  yamlCase('method option wrong type', sub('methods: [snapkv]', 'methods: [{ snapkv: { window: wide } }]'), /methods\[0\].*window/),
  yamlCase(
    'method window above the prefill window',
    sub('methods: [snapkv]', 'methods: [{ snapkv: { window: 64 } }]'),
    /methods\[0\]\.snapkv\.window: 64 is larger than the prefill observation window \(window: 16\)/,
  ),
  yamlCase('method duplicate', sub('methods: [snapkv]', 'methods: [snapkv, snapkv]'), /methods\[1\]: duplicate of methods\[0\]/),
  yamlCase('method a number', sub('methods: [snapkv]', 'methods: [5]'), /methods\[0\]: expected a method name or \{name: \{options\}\}, got 5/),
  yamlCase('profile file missing', sub('methods: [snapkv]', 'methods: [{ profile: { file: nope.json } }]'), /nope\.json/),
  yamlCase('budgets missing', sub('budgets: [16]\n', ''), /budgets: required for kvopt eval/),
  yamlCase('budget zero', sub('budgets: [16]', 'budgets: [0]'), /budgets\[0\]: expected a positive integer .*got 0/),
  yamlCase('budget negative', sub('budgets: [16]', 'budgets: [-4]'), /budgets\[0\]: expected .*got -4/),
  yamlCase('budget fraction above 1', sub('budgets: [16]', 'budgets: [1.5]'), /budgets\[0\]: expected .*got 1\.5/),
  yamlCase('budget a word', sub('budgets: [16]', 'budgets: [lots]'), /budgets\[0\]: expected .*got "lots"/),
  yamlCase('budget keep above 1', sub('budgets: [16]', 'budgets: [{ keep: 2 }]'), /budgets\[0\]\.keep: expected a number in \(0, 1\]/),
  yamlCase('budget keep unknown key', sub('budgets: [16]', 'budgets: [{ kep: 0.5 }]'), /budgets\[0\]\.kep: unknown key; did you mean "keep"\?/),
  yamlCase('budget duplicate', sub('budgets: [16]', 'budgets: [16, 16]'), /budgets\[1\]: duplicate budget/),
  yamlCase('workers zero', sub('workers: 1', 'workers: 0'), /workers: expected a positive integer, got 0/),
  yamlCase('workers a word', sub('workers: 1', 'workers: many'), /workers: expected "auto" or a positive integer, got "many"/),
  yamlCase('window zero', sub('window: 16', 'window: 0'), /window: expected a positive integer, got 0/),
  // Checked once the model is loaded (its context length is known then): the run is created, then removed.
  yamlCase('window above the model context', sub('window: 16', 'window: 100000'), /window: 100000 is larger than the model's context \(512 tokens/, {
    writes: true,
  }),
  yamlCase('chunk_size a word', sub('window: 16', 'window: 16\nchunk_size: big'), /chunk_size: expected a positive integer, got "big"/),
  yamlCase('seed negative', sub('window: 16', 'window: 16\nseed: -1'), /seed: expected a non-negative integer, got -1/),
  yamlCase('db empty', sub('window: 16', 'window: 16\ndb: ""'), /db: expected a file path/),
  yamlCase(
    'continuation longer than the context',
    (y) => y.replace('contextTokens: 48', 'contextTokens: 600').replace(/data: .*\.jsonl/, `data: ${sharedDataPath('paul_graham_essays')}`),
    /tasks\[0\]\.options: contextTokens \+ continuationTokens = 608 is longer than the model's context \(512 tokens/,
    { writes: true },
  ),
  yamlCase(
    'search section for eval is fine but search bad',
    sub('window: 16', 'window: 16\nsearch: { budget: 0 }'),
    /search\.budget: expected a positive integer, got 0/,
  ),

  // -- search configs
  searchCase('no search section', sub(/search:\n( {2}.*\n)+/, ''), /search: required for kvopt search/),
  searchCase('budget missing', sub('  budget: 12\n', ''), /search\.budget: required/),
  searchCase('budget zero', sub('budget: 12', 'budget: 0'), /search\.budget: expected a positive integer, got 0/),
  searchCase('budget a word', sub('budget: 12', 'budget: twelve'), /search\.budget: expected a positive integer, got "twelve"/),
  searchCase('scorer full', sub('scorer: snapkv', 'scorer: full'), /search\.scorer: full keeps every token/),
  searchCase('scorer unknown', sub('scorer: snapkv', 'scorer: snapk'), /search\.scorer: unknown method "snapk"; did you mean "snapkv"\?/),
  searchCase('optimizer unknown', sub('optimizer: cmaes', 'optimizer: cmaez'), /search\.optimizer: expected one of .*did you mean "cmaes"\?/),
  searchCase('group_size zero', sub('group_size: 5', 'group_size: 0'), /search\.group_size: expected a positive integer, got 0/),
  searchCase('population one', sub('population: 4', 'population: 1'), /search\.population: expected an integer >= 2, got 1/),
  searchCase('population a word', sub('population: 4', 'population: lots'), /search\.population: expected "auto" or an integer >= 2, got "lots"/),
  searchCase('generations zero', sub('generations: 1', 'generations: 0'), /search\.generations: expected a positive integer, got 0/),
  searchCase('min_budget above budget', sub('min_budget: 4', 'min_budget: 20'), /search\.min_budget: expected at most search\.budget \(12\), got 20/),
  searchCase(
    'max_budget below budget',
    sub('min_budget: 4', 'min_budget: 4\n  max_budget: 8'),
    /search\.max_budget: expected at least search\.budget \(12\), got 8/,
  ),
  searchCase('sigma0 zero', sub('group_size: 5', 'group_size: 5\n  sigma0: 0'), /search\.sigma0: expected a positive number, got 0/),
  searchCase('gamma above 1', sub('group_size: 5', 'group_size: 5\n  gamma: 2'), /search\.gamma: expected a number in \[0, 1\], got 2/),
  searchCase('lambda negative', sub('group_size: 5', 'group_size: 5\n  lambda: -1'), /search\.lambda: expected a number >= 0, got -1/),
  searchCase('fitness unknown', sub('group_size: 5', 'group_size: 5\n  fitness: accuracy'), /search\.fitness: expected one of task, likelihood, fidelity/),
  searchCase('transfer duplicate of budget', sub('group_size: 5', 'group_size: 5\n  transfer: [12]'), /search\.transfer\[0\]: duplicate budget 12/),
  searchCase('transfer a word', sub('group_size: 5', 'group_size: 5\n  transfer: [big]'), /search\.transfer\[0\]: expected a positive integer, got "big"/),
  searchCase('transfer_mode unknown', sub('group_size: 5', 'group_size: 5\n  transfer_mode: scale'), /search\.transfer_mode: expected one of/),
  searchCase(
    'transfer_mode search with transfer',
    sub('group_size: 5', 'group_size: 5\n  transfer: [24]\n  transfer_mode: search'),
    /search\.transfer_mode: search is run as one search per budget/,
  ),
  searchCase('restarts negative', sub('group_size: 5', 'group_size: 5\n  restarts: -1'), /search\.restarts: expected a non-negative integer, got -1/),
  searchCase('search a list', sub(/search:\n( {2}.*\n)+/, 'search: [1]\n'), /search: expected a mapping, got a list/),
  searchCase('--budget a word', (y) => y, /--budget: expected a positive integer .*got 'many'/, ['--budget', 'many']),
  searchCase('--budget zero', (y) => y, /--budget: expected a positive integer .*got '0'/, ['--budget', '0']),
  searchCase('--budget below min_budget', (y) => y, /search\.budget: .*got 2/, ['--budget', '2'], { writes: true }),
  searchCase('--json into a missing folder', (y) => y, /--json: cannot write \/no\/such\/dir\/r\.json: no such folder/, ['--json', '/no/such/dir/r.json']),
  searchCase('--samples zero', (y) => y, /--samples: expected a positive integer, got "0"/, ['--samples', '0']),
  searchCase('--samples not above heldout', (y) => y, /--samples: tasks\[0\] \(continuation\) holds out 1 samples; expected more than 1, got 1/, [
    '--samples',
    '1',
  ]),
  searchCase('--seed negative', (y) => y, /--seed: expected a non-negative integer, got "-1"/, ['--seed', '-1']),
  searchCase('--workers zero', (y) => y, /--workers: expected "auto" or a positive integer, got "0"/, ['--workers', '0']),
  searchCase('--device unknown', (y) => y, /--device: expected one of .*got "gpu"/, ['--device', 'gpu']),
  searchCase('--resume with nothing to resume', (y) => y.replace('seed: 1', 'seed: 7'), /--resume: .* holds no unfinished search run of this config/, [
    '--resume',
  ]),
  ['search: --config missing', (f) => ['search', '--db', f.db], /required option '--config <file>' not specified/],
  ['search: --config absent file', (f) => ['search', '--config', join(f.dir, 'absent.yaml'), '--db', f.db], /absent\.yaml: no such experiment file/],
  [
    'search: unknown flag',
    (f) => ['search', '--config', f.searchYaml(), '--db', f.db, '--budgte', '3'],
    /unknown option '--budgte' \(did you mean --budget\?\)/,
  ],

  // -- eval on the command line
  ['eval flags: nothing given', (f) => ['eval', '--db', f.db], /eval: give --config FILE, or --model, --task, --data, --methods, --budgets/],
  flagCase('no --model', { '--model': null }, /eval: give --config FILE, or --model/),
  flagCase('no --budgets', { '--budgets': null }, /--budgets/),
  flagCase('--model absent', { '--model': '/no/model.bin' }, /model\.path: no such file or folder: \/no\/model\.bin/),
  flagCase('--tokenizer absent', { '--tokenizer': '/no/tok.bin' }, /model\.tokenizer: no such file or folder/),
  flagCase('--data absent', { '--data': '/no/data.jsonl' }, /tasks\[0\]\.data: no such file or folder: \/no\/data\.jsonl/),
  flagCase('--task unknown', { '--task': 'continuaton' }, /tasks\[0\]\.name: .*did you mean "continuation"\?/),
  flagCase('--methods unknown', { '--methods': 'snapkv,h2p' }, /methods\[1\]: unknown method "h2p"; did you mean "h2o"\?/),
  flagCase('--methods unclosed parenthesis', { '--methods': 'snapkv(window=8' }, /methods\[0\]: method "snapkv\(window=8": unclosed "\("/),
  flagCase('--methods bad option value', { '--methods': 'snapkv(window=wide)' }, /window/),
  flagCase('--methods option without =', { '--methods': 'snapkv(window)' }, /window/),
  flagCase('--methods empty', { '--methods': ',' }, /methods/),
  flagCase('--budgets a word', { '--budgets': '16,lots' }, /--budgets: 'lots' is not a budget/),
  flagCase('--budgets zero', { '--budgets': '0' }, /--budgets: '0' is not a budget/),
  flagCase('--budgets negative', { '--budgets': '-3' }, /--budgets: '-3' is not a budget/),
  flagCase('--budgets empty item', { '--budgets': '16,,32' }, /--budgets: '' is not a budget/),
  flagCase('--samples a word', { '--samples': 'abc' }, /--samples: expected a positive integer, got "abc"/),
  flagCase('--samples zero', { '--samples': '0' }, /--samples: expected a positive integer, got "0"/),
  flagCase('--samples fractional', { '--samples': '1.5' }, /--samples: expected a positive integer, got "1\.5"/),
  flagCase('--setting unknown', { '--setting': 'agnostic' }, /setting: expected one of .*"agnostic"/),
  flagCase('--seed a word', { '--seed': 'x' }, /--seed: expected a non-negative integer, got "x"/),
  flagCase('--workers a word', { '--workers': 'many' }, /--workers: expected "auto" or a positive integer, got "many"/),
  flagCase('--device unknown', { '--device': 'tpu' }, /--device: expected one of .*"tpu"/),
  flagCase('--fitness unknown', { '--fitness': 'accuracy' }, /--fitness: expected task, likelihood or fidelity, got 'accuracy'/),
  flagCase('--batch zero', { '--batch': '0' }, /--batch: expected a positive integer, got '0'/),
  flagCase('--batch a word', { '--batch': 'big' }, /--batch: expected a positive integer, got 'big'/),
  flagCase('--db empty', { '--db': '' }, /--db: expected a file path, got ""/),
  flagCase('--json into a missing folder', {}, /--json: cannot write \/no\/such\/out\.json: no such folder \/no\/such/, ['--json', '/no/such/out.json']),
  flagCase('--json is a folder', {}, /--json: \/tmp is a folder, expected a file path/, ['--json', '/tmp']),
  flagCase('--csv into a missing folder', {}, /--csv: cannot write \/no\/such\/out\.csv: no such folder/, ['--csv', '/no/such/out.csv']),
  flagCase('--resume with nothing to resume', { '--seed': '99' }, /--resume: .* holds no unfinished eval run of this config/, ['--resume']),
  flagCase('unknown flag', {}, /unknown option '--budget'/, ['--budget', '3']),
  taskOption('contextTokens=abc', /--task-option: contextTokens: expected an integer in \[1, 1048576\], got "abc"/),
  taskOption('contextTokens=[1,2]', /--task-option: contextTokens: expected an integer .*got \[1,2\]/),
  taskOption('contextTokens=-5', /--task-option: contextTokens: expected an integer .*got -5/),
  taskOption('contextTokens=1e9', /--task-option: contextTokens: expected an integer in \[1, 1048576\]/),
  taskOption('contxtTokens=48', /--task-option: contxtTokens: unknown key; did you mean "contextTokens"\?/),
  taskOption('questionTokens=100', /--task-option: questionTokens: expected fewer than contextTokens \(48\), got 100/),
  taskOption('stride=0', /--task-option: stride: expected an integer in \[1/),
  taskOption('noequals', /--task-option: 'noequals' must be key=value/),
  taskOption('=5', /--task-option: '=5' must be key=value/),
  taskOption('windowsPerDocument=true', /--task-option: windowsPerDocument: expected an integer/),
  [
    '--task-option gsm8k shots=-1',
    (f) =>
      flagsEval(f, { '--task': 'gsm8k', '--data': sharedDataPath('gsm8k') })
        .filter((a) => !/Tokens=/.test(a) && a !== '--task-option')
        .concat(['--task-option', 'shots=-1']),
    /--task-option: shots: expected an integer in \[0, 64\], got -1/,
  ],
  [
    '--task-option gsm8k shots=many',
    (f) =>
      flagsEval(f, { '--task': 'gsm8k', '--data': sharedDataPath('gsm8k') })
        .filter((a) => !/Tokens=/.test(a) && a !== '--task-option')
        .concat(['--task-option', 'shots=many']),
    /--task-option: shots: expected an integer in \[0, 64\], got "many"/,
  ],

  // -- broken model, tokenizer and data files (errors raised inside a worker: still one clean line)
  flagCase('model: empty file', {}, /model|stories|\.bin/, [], { writes: true }),
  flagCase('model: truncated', {}, /\.bin/, [], { writes: true }),
  flagCase('model: random bytes', {}, /\.bin/, [], { writes: true }),
  flagCase('model: a text file', {}, /\.bin/, [], { writes: true }),
  flagCase('tokenizer: truncated', {}, /tok/, [], { writes: true }),
  flagCase('tokenizer: random bytes', {}, /tok/, [], { writes: true }),
  flagCase('data: broken JSON line', {}, /\.jsonl/, [], { writes: true }),
  flagCase('data: empty file', {}, /\.jsonl/, [], { writes: true }),
  flagCase('data: random bytes', {}, /\.jsonl/, [], { writes: true }),
  flagCase('data: documents shorter than the context', {}, /\.jsonl: no document has/, [], { writes: true }),

  // -- read-only commands: runs, show, report, export, regress
  ['runs: no --db', () => ['runs'], /required option '--db <file>' not specified/],
  ['runs: absent db', (f) => ['runs', '--db', join(f.dir, 'absent.db')], /absent\.db: no such kvopt database/],
  ['runs: empty file', (f) => ['runs', '--db', f.file('empty.db', '')], /empty\.db: empty file, not a kvopt database/],
  ['runs: random bytes', (f) => ['runs', '--db', f.file('rand.db', randomBytes(8192))], /rand\.db: not a kvopt database/],
  ['runs: a text file', (f) => ['runs', '--db', f.file('text.db', 'hello\n'.repeat(200))], /text\.db: not a kvopt database/],
  ['runs: a folder', (f) => ['runs', '--db', f.dir], /case-\d+: is a folder, expected a kvopt database file/],
  ['runs: another SQLite database', (f) => ['runs', '--db', otherSqlite(f)], /other\.db: not a kvopt database \(no kvopt tables\)/],
  ['runs: a newer schema', (f) => ['runs', '--db', schemaDb(f, 99)], /schema version 99 is newer than this kvopt understands/],
  ['runs: an older schema', (f) => ['runs', '--db', schemaDb(f, 1)], /schema version 1 is older than this kvopt's/],
  ['runs: truncated database', (f) => ['runs', '--db', truncatedDb(f)], /trunc\.db: /],
  ['runs: --limit zero', (f) => ['runs', '--db', f.db, '--limit', '0'], /--limit: expected a positive integer, got '0'/],
  ['runs: --limit a word', (f) => ['runs', '--db', f.db, '--limit', 'ten'], /--limit: expected a positive integer, got 'ten'/],
  ['runs: --limit negative', (f) => ['runs', '--db', f.db, '--limit', '-2'], /--limit: expected a positive integer, got '-2'/],
  ['runs: unknown flag', (f) => ['runs', '--db', f.db, '--all'], /unknown option '--all'/],
  ['show: absent db', (f) => ['show', '--db', join(f.dir, 'absent.db')], /absent\.db: no such kvopt database/],
  ['show: empty file', (f) => ['show', '--db', f.file('empty.db', '')], /empty\.db: empty file, not a kvopt database/],
  ['show: random bytes', (f) => ['show', '--db', f.file('rand.db', randomBytes(4096))], /rand\.db: not a kvopt database/],
  ['show: run absent', (f) => ['show', '--db', f.db, '--run', '77'], /no run with id 77/],
  ['show: run zero', (f) => ['show', '--db', f.db, '--run', '0'], /--run: expected a run id .*'0'/],
  ['show: run a word', (f) => ['show', '--db', f.db, '--run', 'last'], /--run: expected a run id .*'last'/],
  ['show: run fractional', (f) => ['show', '--db', f.db, '--run', '1.5'], /--run: expected a run id .*'1\.5'/],
  ['show: latest of an empty database', (f) => ['show', '--db', emptyKvoptDb(f)], /no eval or search runs yet/],
  ['show: a newer schema', (f) => ['show', '--db', schemaDb(f, 42)], /schema version 42 is newer/],
  ['report: absent db', (f) => ['report', '--db', join(f.dir, 'absent.db')], /absent\.db: no such kvopt database/],
  ['report: empty file', (f) => ['report', '--db', f.file('empty.db', '')], /empty\.db: empty file, not a kvopt database/],
  ['report: run absent', (f) => ['report', '--db', f.db, '--run', '9', '--out', join(f.dir, 'r')], /no run with id 9/],
  ['report: run a word', (f) => ['report', '--db', f.db, '--run', 'first', '--out', join(f.dir, 'r')], /--run: expected a run id .*'first'/],
  ['report: unknown format', (f) => ['report', '--db', f.db, '--format', 'pdf', '--out', join(f.dir, 'r')], /--format: .*pdf/],
  ['report: --out is a file', (f) => ['report', '--db', f.db, '--out', f.file('afile', 'x')], /--out: cannot create .*afile: .* is a file, not a folder/],
  ['report: --out under a file', (f) => ['report', '--db', f.db, '--out', join(f.file('afile', 'x'), 'sub')], /--out: cannot create .*is a file, not a folder/],
  ['report: latest of an empty database', (f) => ['report', '--db', emptyKvoptDb(f), '--out', join(f.dir, 'r')], /no eval or search runs yet/],
  ['export: no --db', () => ['export'], /required option '--db <file>' not specified/],
  ['export: absent db', (f) => ['export', '--db', join(f.dir, 'absent.db')], /absent\.db: no such kvopt database/],
  ['export: empty file', (f) => ['export', '--db', f.file('empty.db', '')], /empty\.db: empty file, not a kvopt database/],
  ['export: random bytes', (f) => ['export', '--db', f.file('rand.db', randomBytes(4096))], /rand\.db: not a kvopt database/],
  ['export: unknown format', (f) => ['export', '--db', f.db, '--format', 'xml'], /--format: expected one of json, yaml, csv, kvpress, longbench, got 'xml'/],
  ['export: run a word', (f) => ['export', '--db', f.db, '--run', 'newest'], /--run: expected a run id or 'latest', got 'newest'/],
  ['export: run absent', (f) => ['export', '--db', f.db, '--run', '5'], /no run with id 5/],
  ['export: an eval run', (f) => ['export', '--db', f.db, '--run', '1'], /run 1 has no finished profile yet/],
  ['export: budget not stored', (f) => ['export', '--db', f.db, '--budget', '99'], /--budget 99: run 2 stores budgets 12/],
  ['export: budget a word', (f) => ['export', '--db', f.db, '--budget', 'big'], /--budget big: run 2 stores budgets/],
  [
    'export: kvpress context length zero',
    (f) => ['export', '--db', f.db, '--format', 'kvpress', '--context-length', '0'],
    /--context-length: expected a positive integer, got '0'/,
  ],
  [
    'export: kvpress context length a word',
    (f) => ['export', '--db', f.db, '--format', 'kvpress', '--context-length', 'long'],
    /--context-length: expected a positive integer, got 'long'/,
  ],
  [
    'export: kvpress context length below the budgets',
    (f) => ['export', '--db', f.db, '--format', 'kvpress', '--context-length', '5'],
    /--context-length: 5 tokens is not longer than .* layer budgets/,
  ],
  [
    'export: --out into a missing folder',
    (f) => ['export', '--db', f.db, '--out', '/no/such/p.json'],
    /--out: cannot write \/no\/such\/p\.json: no such folder/,
  ],
  ['export: --out is a folder', (f) => ['export', '--db', f.db, '--out', f.dir], /--out: .* is a folder, expected a file path/],
  ['export: latest of an empty database', (f) => ['export', '--db', emptyKvoptDb(f)], /no search runs yet/],
  ['regress: no baseline flag', (f) => ['regress', '--db', f.db, '--profile', profileFile], /regress: give --baseline FILE .* or --write-baseline FILE/],
  [
    'regress: absent db',
    (f) => ['regress', '--db', join(f.dir, 'absent.db'), '--profile', profileFile, '--write-baseline', join(f.dir, 'b.json')],
    /absent\.db: no such kvopt database/,
  ],
  [
    'regress: empty db file',
    (f) => ['regress', '--db', f.file('empty.db', ''), '--profile', profileFile, '--write-baseline', join(f.dir, 'b.json')],
    /empty\.db: empty file, not a kvopt database/,
  ],
  [
    'regress: absent profile',
    (f) => ['regress', '--db', f.db, '--profile', join(f.dir, 'p.json'), '--baseline', profileFile],
    /p\.json: cannot read the profile file \(ENOENT\)/,
  ],
  [
    'regress: profile broken JSON',
    (f) => ['regress', '--db', f.db, '--profile', f.file('p.json', '{"format":'), '--baseline', profileFile],
    /p\.json: not valid JSON/,
  ],
  ['regress: profile random bytes', (f) => ['regress', '--db', f.db, '--profile', f.file('p.json', randomBytes(200)), '--baseline', profileFile], /p\.json: /],
  [
    'regress: profile unknown extension',
    (f) => ['regress', '--db', f.db, '--profile', f.file('p.txt', '{}'), '--baseline', profileFile],
    /p\.txt: cannot tell the profile format from the extension/,
  ],
  [
    'regress: profile CSV header',
    (f) => ['regress', '--db', f.db, '--profile', f.file('p.csv', 'a,b\n0,1\n'), '--baseline', profileFile],
    /p\.csv: line 1: expected the header "layer,budget"/,
  ],
  [
    'regress: profile CSV layer gap',
    (f) => ['regress', '--db', f.db, '--profile', f.file('p.csv', 'layer,budget\n0,8\n2,8\n'), '--baseline', profileFile],
    /p\.csv: line 3: layer: expected 1, got "2"/,
  ],
  [
    'regress: profile CSV negative budget',
    (f) => ['regress', '--db', f.db, '--profile', f.file('p.csv', 'layer,budget\n0,-8\n'), '--baseline', profileFile],
    /p\.csv: line 2: budget: expected an integer >= 0, got "-8"/,
  ],
  [
    'regress: absent baseline',
    (f) => ['regress', '--db', f.db, '--profile', profileFile, '--baseline', join(f.dir, 'b.json')],
    /b\.json: cannot read the baseline \(ENOENT\)/,
  ],
  [
    'regress: baseline not a baseline',
    (f) => ['regress', '--db', f.db, '--profile', profileFile, '--baseline', f.file('b.json', '{"x":1}')],
    /b\.json: format: expected "kvopt-regress-baseline\/2"/,
  ],
  ['regress: baseline broken JSON', (f) => ['regress', '--db', f.db, '--profile', profileFile, '--baseline', f.file('b.json', '{')], /b\.json/],
  ['regress: tolerance a word', (f) => ['regress', '--db', f.db, '--profile', profileFile, '--baseline', profileFile, '--tolerance', 'small'], /--tolerance/],
  ['regress: tolerance negative', (f) => ['regress', '--db', f.db, '--profile', profileFile, '--baseline', profileFile, '--tolerance', '-1'], /--tolerance/],
  [
    'regress: --write-baseline into a missing folder',
    (f) => ['regress', '--db', f.db, '--profile', profileFile, '--write-baseline', '/no/such/b.json'],
    /--write-baseline: cannot write \/no\/such\/b\.json: no such folder/,
  ],

  // -- score, generate, bench, top level
  ['score: no flags', () => ['score'], /required option/],
  ['score: unknown dataset', (f) => ['score', '--dataset', 'multinews', '--predictions', f.file('p.jsonl', '{"pred":"a","answers":["a"]}\n')], /multinews/],
  ['score: absent predictions', (f) => ['score', '--dataset', 'multi_news', '--predictions', join(f.dir, 'none.jsonl')], /none\.jsonl/],
  [
    'score: broken JSON line',
    (f) => ['score', '--dataset', 'multi_news', '--predictions', f.file('p.jsonl', '{"pred":"a","answers":["a"]}\n{"pred":\n')],
    /p\.jsonl:2: not valid JSON/,
  ],
  ['score: missing answers', (f) => ['score', '--dataset', 'multi_news', '--predictions', f.file('p.jsonl', '{"pred":"a"}\n')], /p\.jsonl.*answers/],
  ['score: random bytes', (f) => ['score', '--dataset', 'multi_news', '--predictions', f.file('p.jsonl', randomBytes(300))], /p\.jsonl/],
  ['score: empty file', (f) => ['score', '--dataset', 'multi_news', '--predictions', f.file('p.jsonl', '')], /p\.jsonl/],
  ['generate: no model', () => ['generate'], /required option '--model <path>' not specified|--model/],
  ['generate: absent model', (f) => ['generate', '--model', join(f.dir, 'm.bin')], /m\.bin/],
  ['generate: empty model', (f) => ['generate', '--model', f.file('m.bin', '')], /m\.bin/],
  ['generate: random-bytes model', (f) => ['generate', '--model', f.file('m.bin', randomBytes(5000)), '--tokenizer', tok], /m\.bin/],
  ['generate: max-new-tokens a word', (f) => ['generate', '--model', f.model, '--tokenizer', f.tok, '--max-new-tokens', 'lots'], /--max-new-tokens/],
  ['generate: temperature negative', (f) => ['generate', '--model', f.model, '--tokenizer', f.tok, '--temperature', '-1'], /--temperature/],
  ['generate: unknown device', (f) => ['generate', '--model', f.model, '--tokenizer', f.tok, '--device', 'tpu'], /--device/],
  ['generate: unknown random preset', () => ['generate', '--model', 'random:huge'], /random:huge|preset/],
  ['bench: unknown subcommand', () => ['bench', 'nothing'], /unknown command 'nothing'|nothing/],
  ['top level: unknown command', () => ['evall'], /unknown command 'evall' \(did you mean eval\?\)/],
  ['top level: unknown option', () => ['--frobnicate'], /unknown option '--frobnicate'/],
];

// ---- fixtures used by rows above ------------------------------------------------------------------

function otherSqlite(f: Fixtures): string {
  const p = join(f.dir, 'other.db');
  const d = new Database(p);
  d.exec('CREATE TABLE t (x)');
  d.close();
  return p;
}

function schemaDb(f: Fixtures, version: number): string {
  const p = join(f.dir, `schema-${version}.db`);
  copyFileSync(f.db, p);
  const d = new Database(p);
  d.pragma(`user_version = ${version}`);
  d.close();
  return p;
}

function emptyKvoptDb(f: Fixtures): string {
  const p = join(f.dir, 'blank.db');
  copyFileSync(f.db, p);
  const d = new Database(p);
  d.exec('DELETE FROM runs');
  d.pragma('wal_checkpoint(TRUNCATE)');
  d.close();
  return p;
}

function truncatedDb(f: Fixtures): string {
  const p = join(f.dir, 'trunc.db');
  writeFileSync(p, readFileSync(f.db).subarray(0, 1500));
  return p;
}

/** Rows whose fixture is a broken file passed as --model/--tokenizer/--data (made per row). */
const BROKEN_FILES: Record<string, (f: Fixtures) => Record<string, string>> = {
  'eval flags: model: empty file': (f) => ({ '--model': f.file('m.bin', '') }),
  'eval flags: model: truncated': (f) => ({ '--model': f.file('m.bin', readFileSync(model).subarray(0, 4000)) }),
  'eval flags: model: random bytes': (f) => ({ '--model': f.file('m.bin', randomBytes(20_000)) }),
  'eval flags: model: a text file': (f) => ({ '--model': f.file('m.bin', 'not a model\n'.repeat(100)) }),
  'eval flags: tokenizer: truncated': (f) => ({ '--tokenizer': f.file('tok.bin', readFileSync(tok).subarray(0, 700)) }),
  'eval flags: tokenizer: random bytes': (f) => ({ '--tokenizer': f.file('tok.bin', randomBytes(3000)) }),
  'eval flags: data: broken JSON line': (f) => ({ '--data': f.file('d.jsonl', '{"text": "Once upon a time"}\n{"text": \n') }),
  'eval flags: data: empty file': (f) => ({ '--data': f.file('d.jsonl', '') }),
  'eval flags: data: random bytes': (f) => ({ '--data': f.file('d.jsonl', randomBytes(2000)) }),
  'eval flags: data: documents shorter than the context': (f) => ({ '--data': f.file('d.jsonl', '{"text": "Once upon a time."}\n') }),
};

function rowFor(row: Row): Row {
  const [name, args, expect, opts] = row;
  const broken = BROKEN_FILES[name];
  if (broken) return [name, (f) => flagsEval(f, broken(f)), expect, opts];
  return [name, args, expect, opts];
}

const TABLE: Row[] = CASES.map(rowFor).concat([
  searchCase('unknown key', (y) => y.replace('  min_budget: 4', '  min_budgett: 4'), /search\.min_budgett: unknown key; did you mean "min_budget"\?/),
  yamlCase(
    'window above the model context via a long needle',
    (y) =>
      y
        .replace('name: continuation', 'name: needle')
        .replace(/data: .*/, `data: ${sharedDataPath('paul_graham_essays')}`)
        .replace(/options: \{.*\}/, 'options: { lengths: [4096], depths: [50] }'),
    /tasks\[0\]\.options\.lengths: 4096 is longer than the model's context \(512 tokens/,
    { writes: true },
  ),
]);

const STACK = /^\s+at .+\(.+:\d+:\d+\)|^\s+at .+:\d+:\d+$/m;

test(`bad-input table: ${TABLE.length} cases, each one clean line, exit ≠ 0, database untouched`, { timeout: 600_000 }, async () => {
  assert.ok(TABLE.length >= 200, `the table holds ${TABLE.length} cases; expected at least 200`);
  const problems: string[] = [];
  for (const [name, args, expect, opts] of TABLE) {
    const f = fixtures();
    const argv = args(f);
    const before = { db: sha(f.db), wal: walBytes(f.db) };
    const r = await runCli(argv, { cwd: opts?.cwd });
    // Notes about flags that override the config and warnings about the accepted input are not the error:
    // the error itself is at most 2 lines.
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/^kvopt: (note|warning): /.test(l));
    const why: string[] = [];
    if (r.code === 0) why.push('exit code 0');
    if (STACK.test(r.stderr) || STACK.test(r.stdout)) why.push('stack trace');
    if (lines.length > 2) why.push(`${lines.length} lines on stderr`);
    if (!expect.test(r.stderr)) why.push(`stderr does not match ${expect}`);
    if (!opts?.writes && (sha(f.db) !== before.db || walBytes(f.db) > before.wal)) why.push('database changed');
    if (why.length) problems.push(`${name}: ${why.join(', ')}\n    argv: ${argv.join(' ')}\n    stderr: ${r.stderr.trim().split('\n').join('\n            ')}`);
  }
  assert.equal(problems.length, 0, `${problems.length} of ${TABLE.length} cases misbehave:\n${problems.join('\n')}`);
});

test('the real binary behaves as the in-process entry (a sample of the table)', { timeout: 300_000 }, async () => {
  const sample = TABLE.filter((_, i) => i % 25 === 3);
  for (const [name, args, expect] of sample) {
    const f = fixtures();
    const argv = args(f);
    const inProcess = await runCli(argv);
    const child = spawnSync(process.execPath, [join(repoRoot, 'bin/kvopt.mjs'), ...argv], { encoding: 'utf8', env: process.env, timeout: 120_000 });
    assert.equal(child.status, inProcess.code, `${name}: exit code ${child.status} (binary) vs ${inProcess.code} (in process)`);
    assert.equal(child.stderr.trim(), inProcess.stderr.trim(), `${name}: stderr differs`);
    assert.match(child.stderr, expect, name);
  }
});

test('a read-only command does not create, migrate or write a database', async () => {
  const f = fixtures();
  const empty = f.file('zero.db', '');
  for (const cmd of [['runs'], ['show'], ['report', '--out', join(f.dir, 'r')], ['export']]) {
    const r = await runCli([...cmd, '--db', empty]);
    assert.notEqual(r.code, 0);
    assert.equal(statSync(empty).size, 0, `${cmd[0]} wrote into a 0-byte file`);
  }
  const absent = join(f.dir, 'absent.db');
  for (const cmd of ['runs', 'show', 'export']) await runCli([cmd, '--db', absent]);
  assert.equal(existsSync(absent), false);
  // An unwritable database still reads: nothing needs write access.
  const ro = join(f.dir, 'ro.db');
  copyFileSync(f.db, ro);
  chmodSync(ro, 0o444);
  const r = await runCli(['runs', '--db', ro, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as unknown[]).length, 2);
});

test('a run rejected once the model is loaded is removed: latest still names the last good search', async () => {
  const f = fixtures();
  const r = await runCli(['search', '--config', f.searchYaml(), '--db', f.db, '--quiet', '--budget', '2']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /search\.budget: .*got 2/);
  const runs = await runCli(['runs', '--db', f.db, '--json']);
  assert.deepEqual(
    (JSON.parse(runs.stdout) as { id: number }[]).map((x) => x.id),
    [2, 1],
  );
  const ex = await runCli(['export', '--db', f.db, '--run', 'latest']);
  assert.equal(ex.code, 0, ex.stderr);
  assert.equal((JSON.parse(ex.stdout) as { meta: { searchRunId: number } }).meta.searchRunId, 2);
});
