/**
 * Experiment YAML → ExperimentConfig (design.md §4.6a), with defaults and precise errors.
 *
 * Paths: every relative path in the file (model.path, model.tokenizer, tasks[].data, db) is resolved
 * against the directory of the YAML file, so a config means the same thing from any working directory
 * (`experiments/quickstart.yaml` names the model as `../models/tiny`). `~/` is the home directory.
 * When `db` is absent it defaults to `results/kvopt.db` under the working directory.
 *
 * Tasks: `samples` are drawn (seeded) from `data`; `heldout` of them are kept out of the search fitness
 * (calibration = samples - heldout); `kvopt eval` scores all of them. Task-specific settings go under
 * `options:`, which the task itself validates.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { KvoptError } from '../util/errors.ts';
import { METHODS, parseMethod } from '../compress/registry.ts';
import type { MethodSpec } from '../compress/types.ts';
import { budgetOf, type UniformBudget } from '../compress/budget.ts';
import { EVOLKV_DEFAULTS } from '../search/evolkv.ts';
import { ConfigReader, describeValue, isMapping, type KeyPath, type Mapping } from './reader.ts';
import {
  DEVICES,
  DTYPES,
  FITNESS_SOURCES,
  LONGBENCH_DATASETS,
  OPTIMIZERS,
  SETTINGS,
  TASK_FAMILIES,
  TRANSFER_MODES,
  budgetKey,
  methodKey,
  type ExperimentConfig,
  type ConfiguredMethod,
  type ModelConfig,
  type SearchConfig,
  type Setting,
  type TaskConfig,
  type TaskFamily,
} from './schema.ts';
import { didYouMean } from '../util/suggest.ts';
import { checkTaskOptions } from './task-options.ts';
import { checkSearchSelfExtend, readSelfExtend } from './self-extend.ts';

export interface ParseOptions {
  /** Directory that `file` and the default db are relative to; default process.cwd(). */
  cwd?: string;
}

export const DEFAULTS = {
  setting: 'question-aware' as Setting,
  device: 'cpu' as const,
  dtype: 'fp32' as const,
  db: 'results/kvopt.db',
  chunkSize: 128,
  window: 64,
  seed: 0,
  search: {
    ...EVOLKV_DEFAULTS,
    scorer: 'snapkv',
    fitness: 'task' as const,
    transferMode: 'rescale' as const,
  },
};

const TOP_KEYS = ['name', 'description', 'model', 'tasks', 'setting', 'methods', 'budgets', 'search', 'workers', 'db', 'chunk_size', 'window', 'seed', 'queue'];
const MODEL_KEYS = ['path', 'tokenizer', 'device', 'dtype', 'threads', 'self_extend'];
const TASK_KEYS = ['name', 'data', 'samples', 'seed', 'heldout', 'options'];
const SEARCH_KEYS = [
  'scorer',
  'budget',
  'optimizer',
  'group_size',
  'sigma0',
  'population',
  'generations',
  'restarts',
  'fitness',
  'lambda',
  'gamma',
  'seed',
  'min_budget',
  'max_budget',
  'transfer',
  'transfer_mode',
];

/** Reads and parses an experiment file; a missing file is a KvoptError naming it. */
export function loadExperiment(file: string, opts: ParseOptions = {}): ExperimentConfig {
  const abs = resolve(opts.cwd ?? process.cwd(), file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KvoptError(code === 'ENOENT' ? `${file}: no such experiment file` : `${file}: cannot read experiment file (${code ?? String(err)})`);
  }
  return parseExperiment(text, file, opts);
}

/** Parses experiment YAML text; `file` names it in errors and locates relative paths. */
export function parseExperiment(text: string, file: string, opts: ParseOptions = {}): ExperimentConfig {
  const cwd = opts.cwd ?? process.cwd();
  const dir = dirname(resolve(cwd, file));
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = e.linePos?.[0];
    const msg = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new KvoptError(`${file}: YAML syntax error${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ${msg}`);
  }
  const r: ConfigReader = new ConfigReader(file, doc, lines);
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    // yaml's guard against alias expansion bombs ("billion laughs") throws a ReferenceError.
    throw new KvoptError(`${file}: YAML aliases expand too much (${(e as Error).message.split('\n')[0]}); expected a plain experiment file`);
  }
  if (js === null || js === undefined) throw new KvoptError(`${file}: the experiment file is empty`);
  if (!isMapping(js)) r.fail([], `expected a mapping at the top level, got ${describeValue(js)}`);
  const raw: Mapping = js;
  r.keys(raw, [], TOP_KEYS);

  const name = r.string(r.required(raw, 'name', [], 'a string (the experiment name)'), ['name']);
  const description = raw.description == null ? null : r.string(raw.description, ['description']);
  const seed = raw.seed == null ? DEFAULTS.seed : r.integer(raw.seed, ['seed'], 0);
  const window = raw.window == null ? DEFAULTS.window : r.integer(raw.window, ['window'], 1);
  const chunkSize = raw.chunk_size == null ? DEFAULTS.chunkSize : r.integer(raw.chunk_size, ['chunk_size'], 1);
  // Method names are the compression registry's: the loader resolves every method through it.
  const methodNames = Object.keys(METHODS);

  const model = readModel(r, r.required(raw, 'model', [], 'a mapping with at least `path`'), dir);
  const tasks = readTasks(r, r.required(raw, 'tasks', [], 'a list of tasks'), dir, seed);
  const settings = readSettings(r, raw.setting);
  const methods = readMethods(r, raw.methods, methodNames, window, dir);
  const budgets = readBudgets(r, raw.budgets);
  const search = raw.search == null ? null : readSearch(r, raw.search, methodNames, window, seed, dir);
  let workers: number | null = null;
  if (raw.workers != null && raw.workers !== 'auto') {
    if (typeof raw.workers !== 'number') r.fail(['workers'], `expected "auto" or a positive integer, got ${describeValue(raw.workers)}`);
    workers = r.integer(raw.workers, ['workers'], 1);
  }
  const queue = raw.queue == null ? null : r.string(raw.queue, ['queue'], 'a Redis address, redis://host:6379[/db]');
  if (queue !== null && /\/\/[^/@]*:[^/@]*@/.test(queue)) {
    r.fail(['queue'], 'a password does not belong in the experiment file (the file is stored with the run); give it with --queue-password-file');
  }
  const db = raw.db == null ? resolve(cwd, DEFAULTS.db) : resolvePath(dir, r.string(raw.db, ['db'], 'a file path'));

  return {
    name,
    description,
    model,
    tasks,
    settings,
    methods,
    budgets,
    search,
    workers,
    queue,
    db,
    chunkSize,
    window,
    seed,
    source: { file, dir, text },
  };
}

/** A path from the file: absolute, `~/...`, or relative to `dir` (the YAML file's directory). */
export function resolvePath(dir: string, p: string): string {
  if (p === '~' || p.startsWith('~/')) return join(homedir(), p.slice(1));
  return isAbsolute(p) ? p : resolve(dir, p);
}

/** `cpu`, `cuda`, `webgpu`, or a GPU with a trailing `!` (required: no CPU fallback). */
function readDevice(r: ConfigReader, v: unknown, path: KeyPath): { device: ModelConfig['device']; requireDevice: boolean } {
  if (v == null) return { device: DEFAULTS.device, requireDevice: false };
  const required = typeof v === 'string' && v.endsWith('!') && v !== 'cpu!';
  return { device: r.oneOf(required ? (v as string).slice(0, -1) : v, path, DEVICES), requireDevice: required };
}

function readModel(r: ConfigReader, v: unknown, dir: string): ModelConfig {
  const path: KeyPath = ['model'];
  const m = r.mapping(v, path, 'a mapping with at least `path`');
  r.keys(m, path, MODEL_KEYS);
  const p = r.string(
    r.required(m, 'path', path, 'a Hugging Face folder, .gguf file or llama2.c .bin'),
    [...path, 'path'],
    'a path (Hugging Face folder, .gguf file or llama2.c .bin)',
  );
  const tokenizer = m.tokenizer == null ? null : resolvePath(dir, r.string(m.tokenizer, [...path, 'tokenizer'], 'a path'));
  return {
    path: resolvePath(dir, p),
    tokenizer,
    ...readDevice(r, m.device, [...path, 'device']),
    dtype: m.dtype == null ? DEFAULTS.dtype : r.oneOf(m.dtype, [...path, 'dtype'], DTYPES),
    threads: m.threads == null ? null : r.integer(m.threads, [...path, 'threads'], 1),
    selfExtend: readSelfExtend(r, m.self_extend, [...path, 'self_extend']),
  };
}

const TASK_NAMES: string[] = [...TASK_FAMILIES.filter((f) => f !== 'longbench'), ...LONGBENCH_DATASETS.map((d) => `longbench/${d}`)];

function readTaskName(r: ConfigReader, v: unknown, path: KeyPath): { family: TaskFamily; dataset: string | null } {
  const name = r.string(v, path, 'a task name (continuation, needle, passkey, retrieval, gsm8k or longbench/<dataset>)');
  if ((TASK_FAMILIES as readonly string[]).includes(name) && name !== 'longbench') {
    return { family: name as TaskFamily, dataset: null };
  }
  if (name.startsWith('longbench/')) {
    const ds = name.slice('longbench/'.length);
    const base = ds.endsWith('_e') ? ds.slice(0, -2) : ds;
    if ((LONGBENCH_DATASETS as readonly string[]).includes(base)) return { family: 'longbench', dataset: ds };
    r.fail(path, `unknown LongBench dataset ${JSON.stringify(ds)}${didYouMean(ds, LONGBENCH_DATASETS)}`);
  }
  if (name === 'longbench') r.fail(path, 'expected longbench/<dataset>, e.g. longbench/multi_news');
  r.fail(path, `expected continuation, needle, passkey, retrieval, gsm8k or longbench/<dataset>, got ${describeValue(name)}${didYouMean(name, TASK_NAMES)}`);
}

/**
 * A task `name: longbench` whose `data:` is a folder of LongBench's jsonl files becomes one
 * `longbench/<dataset>` task per `<dataset>.jsonl` found (LongBench-E `_e` files too); the datasets not
 * found are named on stderr, so a partial download is never mistaken for the benchmark.
 */
function expandLongBenchFolder(r: ConfigReader, item: unknown, path: KeyPath, dir: string): unknown[] {
  if (!isMapping(item) || item.name !== 'longbench' || typeof item.data !== 'string') return [item];
  const folder = resolvePath(dir, item.data);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    r.fail([...path, 'data'], `name: longbench needs data: a folder of LongBench jsonl files (<dataset>.jsonl), got ${JSON.stringify(item.data)}`);
  }
  const files = new Set(
    readdirSync(folder)
      .filter((f) => f.endsWith('.jsonl'))
      .map((f) => f.slice(0, -'.jsonl'.length)),
  );
  const found = [...LONGBENCH_DATASETS, ...LONGBENCH_DATASETS.map((d) => `${d}_e`)].filter((d) => files.has(d));
  if (found.length === 0) r.fail([...path, 'data'], `${folder} holds no LongBench dataset file (expected e.g. multi_news.jsonl)`);
  const missing = LONGBENCH_DATASETS.filter((d) => !files.has(d));
  process.stderr.write(
    `kvopt: note: ${folder}: ${found.length} LongBench datasets found (${found.join(', ')})` + (missing.length ? `; missing: ${missing.join(', ')}\n` : '\n'),
  );
  return found.map((d) => ({ ...item, name: `longbench/${d}`, data: join(folder, `${d}.jsonl`) }));
}

function readTasks(r: ConfigReader, v: unknown, dir: string, seed: number): TaskConfig[] {
  const list = r.list(v, ['tasks'], 'a list of tasks');
  if (list.length === 0) r.fail(['tasks'], 'expected at least one task, got an empty list');
  // `name: longbench` with `data: <folder>`: every LongBench dataset found there (the others are named).
  const entries = list.flatMap((item, i) => expandLongBenchFolder(r, item, ['tasks', i], dir).map((x) => [x, i] as const));
  return entries.map(([item, i]) => {
    const path: KeyPath = ['tasks', i];
    const t = r.mapping(item, path, 'a mapping with `name` and `data`');
    r.keys(t, path, TASK_KEYS, '; task-specific settings go under `options:`');
    const { family, dataset } = readTaskName(r, r.required(t, 'name', path, 'a task name'), [...path, 'name']);
    const data = r.string(r.required(t, 'data', path, 'a path to the task data'), [...path, 'data'], 'a path');
    let samples: number | null = null;
    if (t.samples != null && t.samples !== 'all') {
      if (typeof t.samples !== 'number') r.fail([...path, 'samples'], `expected a positive integer or "all", got ${describeValue(t.samples)}`);
      samples = r.integer(t.samples, [...path, 'samples'], 1);
    }
    const heldout = t.heldout == null ? 0 : r.integer(t.heldout, [...path, 'heldout'], 0);
    if (samples !== null && heldout >= samples) {
      r.fail([...path, 'heldout'], `expected fewer than samples (${samples}), got ${heldout}`);
    }
    const options = t.options == null ? {} : r.mapping(t.options, [...path, 'options']);
    checkTaskOptions(r, family, options, [...path, 'options'], family === 'needle' ? haystackFolder(resolvePath(dir, data)) : null);
    return {
      name: r.string(t.name, [...path, 'name']),
      family,
      dataset,
      data: resolvePath(dir, data),
      samples,
      seed: t.seed == null ? seed : r.integer(t.seed, [...path, 'seed'], 0),
      heldout,
      options,
      baseDir: dir,
    };
  });
}

/** Needle reads a haystack folder (options required) or a sample file (no options); null: not there yet. */
function haystackFolder(p: string): boolean | null {
  try {
    return statSync(p).isDirectory();
  } catch {
    return null;
  }
}

function readSettings(r: ConfigReader, v: unknown): Setting[] {
  if (v == null) return [DEFAULTS.setting];
  if (!Array.isArray(v)) return [r.oneOf(v, ['setting'], SETTINGS)];
  if (v.length === 0) r.fail(['setting'], `expected one of ${SETTINGS.join(', ')} (or a list of them), got an empty list`);
  const out = v.map((s, i) => r.oneOf(s, ['setting', i], SETTINGS));
  out.forEach((s, i) => {
    if (out.indexOf(s) !== i) r.fail(['setting', i], `duplicate setting ${JSON.stringify(s)}`);
  });
  return out;
}

/** One method entry: `name` or `{name: {options}}` (options may be empty). */
/**
 * One method entry. A `file:` option (the profile allocator's budget profile) is a path like any other in
 * the file: relative to the YAML's folder (`dir`); the method's key keeps the path as written.
 */
function readMethod(r: ConfigReader, v: unknown, path: KeyPath, names: readonly string[], window: number, dir: string): ConfiguredMethod {
  let name: string;
  let options: Mapping = {};
  let optPath: KeyPath = path;
  if (typeof v === 'string') {
    name = v;
  } else if (isMapping(v)) {
    const keys = Object.keys(v);
    if (keys.length !== 1) {
      r.fail(path, `expected a method name or a mapping {name: {options}} with one key, got ${keys.length} keys (${keys.join(', ')})`);
    }
    name = keys[0];
    optPath = [...path, name];
    const o = v[name];
    if (o != null) options = r.mapping(o, optPath, 'a mapping of method options');
  } else {
    r.fail(path, `expected a method name or {name: {options}}, got ${describeValue(v)}`);
  }
  // Composed methods ('snapkv+kivi4') and the string option form ('snapkv(window=16)') name their parts.
  const open = (name.match(/\(/g) ?? []).length;
  const close = (name.match(/\)/g) ?? []).length;
  if (open !== close)
    r.fail(path, `method ${JSON.stringify(name)}: ${open > close ? 'unclosed "("' : 'unmatched ")"'} (expected name(key=value, ...))`, isMapping(v));
  const parts = name.split('+').map((p) => p.replace(/\(.*\)\s*$/, '').trim());
  const unknown = parts.find((p) => !names.includes(p));
  if (unknown !== undefined) {
    name = unknown;
    r.fail(path, `unknown method ${JSON.stringify(name)}${didYouMean(name, names) || ` (known: ${names.join(', ')})`}`, isMapping(v));
  }
  // The one method validator (config files and eval flags alike): the compression registry resolves every
  // option against the method's schema and builds it once, so a bad option fails here, naming its key.
  const written = options;
  if (typeof options.file === 'string' && options.file !== '') options = { ...options, file: resolvePath(dir, options.file) };
  let resolved: MethodSpec;
  try {
    resolved = parseMethod(Object.keys(options).length ? { [name]: options } : name);
  } catch (e) {
    if (e instanceof KvoptError) r.fail(path, e.message);
    throw e;
  }
  // An explicit method window may not exceed the top-level one; a default (e.g. SnapKV's 32) raises the
  // prefill's window instead (the engine records max(window, every method's observation window) rows).
  const w = options.window;
  if (typeof w === 'number' && w > window) {
    r.fail([...optPath, 'window'], `${w} is larger than the prefill observation window (window: ${window}); raise the top-level window`);
  }
  return { name, options, key: methodKey(name, written), resolved };
}

function readMethods(r: ConfigReader, v: unknown, names: readonly string[], window: number, dir: string): ConfiguredMethod[] {
  if (v == null) return [];
  const list = r.list(v, ['methods'], 'a list of methods (names or {name: {options}})');
  const out = list.map((m, i) => readMethod(r, m, ['methods', i], names, window, dir));
  out.forEach((m, i) => {
    const j = out.findIndex((x) => x.key === m.key);
    if (j !== i) r.fail(['methods', i], `duplicate of methods[${j}] (${m.key})`);
  });
  return out;
}

const BUDGET_WHAT = 'a positive integer (tokens per KV head per layer), a fraction in (0, 1), or {keep: fraction}';

function readBudget(r: ConfigReader, v: unknown, path: KeyPath): UniformBudget {
  if (typeof v === 'number') return budgetOf(v) ?? r.fail(path, `expected ${BUDGET_WHAT}, got ${v}`);
  if (isMapping(v)) {
    r.keys(v, path, ['keep']);
    const keep = r.number(r.required(v, 'keep', path, 'a fraction in (0, 1]'), [...path, 'keep'], 0, 1, true, false);
    return { kind: 'fraction', keep };
  }
  r.fail(path, `expected ${BUDGET_WHAT}, got ${describeValue(v)}`);
}

function readBudgets(r: ConfigReader, v: unknown): UniformBudget[] {
  if (v == null) return [];
  const list = Array.isArray(v) ? v : [v];
  const path = (i: number): KeyPath => (Array.isArray(v) ? ['budgets', i] : ['budgets']);
  const out = list.map((b, i) => readBudget(r, b, path(i)));
  const keys = out.map(budgetKey);
  keys.forEach((k, i) => {
    if (keys.indexOf(k) !== i) r.fail(path(i), `duplicate budget ${k}`);
  });
  return out;
}

function readSearch(r: ConfigReader, v: unknown, names: readonly string[], window: number, seed: number, dir: string): SearchConfig {
  const path: KeyPath = ['search'];
  const s = r.mapping(v, path);
  r.keys(s, path, SEARCH_KEYS);
  const at = (k: string): KeyPath => [...path, k];
  const D = DEFAULTS.search;
  const scorer = readMethod(r, s.scorer ?? D.scorer, at('scorer'), names, window, dir);
  if (scorer.name === 'full') r.fail(at('scorer'), 'full keeps every token; per-layer budgets need a scorer such as snapkv');
  const budget = r.integer(r.required(s, 'budget', path, 'a positive integer (target mean tokens per KV head per layer)'), at('budget'), 1);
  let population: number | null = null;
  if (s.population != null && s.population !== 'auto') {
    if (typeof s.population !== 'number') r.fail(at('population'), `expected "auto" or an integer >= 2, got ${describeValue(s.population)}`);
    population = r.integer(s.population, at('population'), 2);
  }
  const minBudget = s.min_budget == null ? null : r.integer(s.min_budget, at('min_budget'), 1);
  const maxBudget = s.max_budget == null ? null : r.integer(s.max_budget, at('max_budget'), 1);
  if (minBudget !== null && minBudget > budget) r.fail(at('min_budget'), `expected at most search.budget (${budget}), got ${minBudget}`);
  if (maxBudget !== null && maxBudget < budget) r.fail(at('max_budget'), `expected at least search.budget (${budget}), got ${maxBudget}`);
  let transfer: number[] = [];
  if (s.transfer != null) {
    transfer = r.list(s.transfer, at('transfer'), 'a list of target budgets').map((b, i) => r.integer(b, [...at('transfer'), i], 1));
    transfer.forEach((b, i) => {
      if (transfer.indexOf(b) !== i || b === budget) r.fail([...at('transfer'), i], `duplicate budget ${b}`);
    });
  }
  return {
    scorer,
    budget,
    optimizer: s.optimizer == null ? D.optimizer : r.oneOf(s.optimizer, at('optimizer'), OPTIMIZERS),
    groupSize: s.group_size == null ? D.groupSize : r.integer(s.group_size, at('group_size'), 1),
    sigma0: s.sigma0 == null ? D.sigma0 : r.number(s.sigma0, at('sigma0'), 0, Infinity, true),
    population,
    generations: s.generations == null ? D.generations : r.integer(s.generations, at('generations'), 1),
    restarts: s.restarts == null ? D.restarts : r.integer(s.restarts, at('restarts'), 0),
    fitness: s.fitness == null ? D.fitness : r.oneOf(s.fitness, at('fitness'), FITNESS_SOURCES),
    lambda: s.lambda == null ? D.lambda : r.number(s.lambda, at('lambda'), 0),
    gamma: s.gamma == null ? D.gamma : r.number(s.gamma, at('gamma'), 0, 1),
    seed: s.seed == null ? seed : r.integer(s.seed, at('seed'), 0),
    minBudget,
    maxBudget,
    transfer,
    transferMode: s.transfer_mode == null ? D.transferMode : r.oneOf(s.transfer_mode, at('transfer_mode'), TRANSFER_MODES),
  };
}

/**
 * What each command needs beyond parsing: `eval` needs methods (and budgets unless every method is
 * `full`); `search` needs a `search:` section.
 */
export function checkForCommand(config: ExperimentConfig, command: 'eval' | 'search'): void {
  const f = config.source.file;
  if (command === 'eval') {
    if (config.methods.length === 0) throw new KvoptError(`${f}: methods: required for kvopt eval (a list of method names)`);
    if (config.budgets.length === 0 && config.methods.some((m) => m.name !== 'full')) {
      throw new KvoptError(`${f}: budgets: required for kvopt eval when a method other than full is listed`);
    }
  } else if (config.search === null) {
    throw new KvoptError(`${f}: search: required for kvopt search (at least search.budget)`);
  } else checkSearchSelfExtend(config);
}

/** Every path the config names must exist; run before loading anything. */
export function checkPaths(config: ExperimentConfig): void {
  const f = config.source.file;
  const need = (p: string | null, key: string) => {
    if (p !== null && !existsSync(p)) throw new KvoptError(`${f}: ${key}: no such file or folder: ${p}`);
  };
  need(config.model.path, 'model.path');
  need(config.model.tokenizer, 'model.tokenizer');
  config.tasks.forEach((t, i) => need(t.data, `tasks[${i}].data`));
}
