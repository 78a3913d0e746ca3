/**
 * kvopt eval: compare compression methods across budgets and tasks (prefill once, evaluate many).
 * Two forms: an experiment file (--config) or everything on the command line.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import YAML from 'yaml';
import { splitMethodList } from '../compress/index.ts';
import { applyOverrides } from '../config/overrides.ts';
import { checkForCommand, parseExperiment } from '../config/load.ts';
import { FITNESS_SOURCES, TASK_FAMILIES, type ExperimentConfig, type FitnessSource, type TaskFamily } from '../config/schema.ts';
import { ConfigReader } from '../config/reader.ts';
import { checkTaskOptions } from '../config/task-options.ts';
import { loadWithFlags, noteRunFlags } from './config-flags.ts';
import { tokenBudgets, windowWarnings } from './budget-warnings.ts';
import { runEval, type EvalRunResult } from '../engine/eval-run.ts';
import { timingLine } from '../engine/timing.ts';
import { prefillCacheLine } from '../engine/session.ts';
import { parseByteSize } from './byte-size.ts';
import { KvoptError } from '../util/errors.ts';
import { parseBootstrap } from '../stats/results.ts';
import { resultsCsv, resultsTable } from './results-format.ts';
import { runExitCode } from './run-exit.ts';
import { checkOutputFile } from './output-path.ts';
import { addQueueOptions, queueFromFlags, type QueueFlags } from '../queue/cli-options.ts';

interface EvalFlags extends QueueFlags {
  config?: string;
  model?: string;
  tokenizer?: string;
  task?: string;
  data?: string;
  methods?: string;
  budgets?: string;
  setting?: string;
  samples?: string;
  seed?: string;
  db?: string;
  workers?: string;
  device?: string;
  dtype?: string;
  json?: string;
  csv?: string;
  resume?: boolean;
  fitness?: string;
  batch?: string;
  taskOption?: string[];
  prefillCache?: boolean;
  prefillCacheLimit?: number;
  quiet?: boolean;
  bootstrap?: string;
  compareTo?: string;
  selfExtend?: string;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Parses `--budgets 0.1,0.2,64` into YAML budget values (numbers). */
export function parseBudgetList(s: string): number[] {
  return s.split(',').map((x) => {
    const n = Number(x.trim());
    if (x.trim() === '' || !Number.isFinite(n) || n <= 0) {
      throw new KvoptError(`--budgets: '${x}' is not a budget (expected tokens per KV head, e.g. 64, or a fraction of the context, e.g. 0.2)`);
    }
    return n;
  });
}

function parseTaskOptions(task: string, list: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new KvoptError(`--task-option: '${kv}' must be key=value (e.g. contextTokens=384)`);
    const v = kv.slice(eq + 1);
    let parsed: unknown;
    try {
      parsed = YAML.parse(v, { maxAliasCount: 100 }); // numbers and [lists] as YAML, strings otherwise
    } catch {
      parsed = v;
    }
    out[kv.slice(0, eq)] = parsed ?? v;
  }
  // Checked here too so that the error names the flag (the task's declared options: config/task-options.ts).
  const family = (task.startsWith('longbench/') ? 'longbench' : task) as TaskFamily;
  if ((TASK_FAMILIES as readonly string[]).includes(family)) checkTaskOptions(new ConfigReader('--task-option'), family, out, []);
  return out;
}

function samplesFlag(v: string): number {
  if (!/^\s*\d+\s*$/.test(v) || Number(v) < 1) throw new KvoptError(`--samples: expected a positive integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** The first form, written as an experiment file so that one validator checks both forms. */
function configFromFlags(f: EvalFlags): ExperimentConfig {
  const missing = (['model', 'task', 'data', 'methods', 'budgets'] as const).filter((k) => !f[k]);
  if (missing.length) throw new KvoptError(`eval: give --config FILE, or ${missing.map((k) => `--${k}`).join(', ')}`);
  const settings = f.setting === 'both' ? ['question-aware', 'question-agnostic'] : (f.setting ?? 'question-aware');
  const doc = {
    name: `eval-${f.task!.replace(/[^A-Za-z0-9]+/g, '-')}`,
    model: { path: f.model, ...(f.tokenizer ? { tokenizer: f.tokenizer } : {}) }, // --device: applyOverrides, naming the flag
    // --self-extend is applied as an override (one parser for both forms)
    tasks: [
      {
        name: f.task,
        data: f.data,
        ...(f.samples ? { samples: samplesFlag(f.samples) } : {}),
        ...(f.taskOption?.length ? { options: parseTaskOptions(f.task!, f.taskOption) } : {}),
      },
    ],
    setting: settings,
    methods: splitMethodList(f.methods!),
    budgets: parseBudgetList(f.budgets!),
  };
  return parseExperiment(YAML.stringify(doc), 'command line');
}

/** A metric name with what it means where that is a choice the user made (GSM8K's match mode). */
function describeMetric(m: string): string {
  if (m === 'gsm8k_flexible' || m === 'gsm8k_strict') return `${m} (match: exact, as lm-evaluation-harness)`;
  if (m.startsWith('gsm8k_') && m.endsWith('_numeric')) return `${m} (match: numeric, "72.0" = "72")`;
  return m;
}

export function printEvalResult(r: EvalRunResult, f: { json?: string; csv?: string }): void {
  process.stdout.write(resultsTable(r.results));
  process.stdout.write(
    `\nrun ${r.run.id} (${r.run.status}): ${r.evaluations} evaluations ok, ${r.failed} failed, ${r.prefills} prefills (${r.prefillsPerSample.toFixed(2)} per sample), ` +
      `${(r.wallMs / 1000).toFixed(1)} s (${timingLine(r.timing)})\n${prefillCacheLine(r.prefillCache)}\nbudget = tokens kept per KV head per layer (observation window included); ` +
      `loss = 1 - score/score(full), as DefensiveKV reports it; [lo, hi] = 95% bootstrap interval over samples\n`,
  );
  process.stdout.write(
    `metric: ${Object.entries(r.metrics)
      .map(([t, m]) => `${t} = ${m.map(describeMetric).join(', ')}`)
      .join('; ')}\n`,
  );
  const kivi = [...new Set(r.results.map((x) => x.method).filter((m) => m.includes('kivi')))];
  if (kivi.length) {
    const storage = kivi.map((m) => `${m}: ${/storage=(fp\d+)/.exec(m)?.[1] ?? 'fp16'}`).join(', ');
    process.stdout.write(`KIVI bytes: packed codes; scales, minima and full-precision residual counted as ${storage} (option storage=fp16|fp32)\n`);
  }
  const rows = r.results.map((x) => ({ run: r.run.id, ...x }));
  if (f.json) writeFileSync(f.json, JSON.stringify({ run: r.run.id, status: r.run.status, metrics: r.metrics, rows, averages: r.averages }, null, 2) + '\n');
  if (f.csv) writeFileSync(f.csv, resultsCsv(r.results));
}

export function register(program: Command): void {
  const cmd = program
    .command('eval')
    .description('evaluate compression methods × budgets × tasks; every result goes to SQLite')
    .option('--config <file>', 'experiment YAML (see experiments/)')
    .option('--model <path>', 'Hugging Face folder, .gguf file or llama2.c .bin')
    .option('--tokenizer <path>', 'tokenizer file (llama2.c checkpoints)')
    .option('--task <name>', 'continuation | needle | passkey | gsm8k | longbench/<dataset>')
    .option('--data <path>', 'task data file or folder')
    .option('--methods <list>', "comma-separated methods, e.g. 'snapkv,adakv(alpha=0.5),defensivekv'")
    .option('--budgets <list>', 'comma-separated budgets: tokens per KV head per layer (64) or fractions of the context (0.2)')
    .option('--setting <s>', 'question-aware | question-agnostic | both')
    .option('--samples <n>', 'samples per task')
    .option('--seed <n>', 'run seed (sample choice)')
    .option('--task-option <key=value>', 'task option, repeatable (e.g. contextTokens=384)', collect)
    .option('--fitness <kind>', 'task | likelihood | fidelity (how each item is scored)', 'task')
    .option('--batch <n>', 'items decoded together in one batched run', '8')
    .option('--db <file>', 'SQLite database (default results/kvopt.db)')
    .option('--workers <n>', "worker threads ('auto' or a number)")
    .option('--device <d>', 'cpu | cuda | webgpu; a trailing ! (webgpu!) makes an unavailable GPU an error instead of a CPU fallback')
    .option('--dtype <t>', 'fp32 | fp16: graph weights and KV cache precision (overrides model.dtype)')
    .option('--self-extend <G,W|off>', 'SelfExtend group size G and neighbour window W (replaces model.self_extend)')
    .option('--resume', 'continue the unfinished run of this config, skipping stored results')
    .option('--no-prefill-cache', 'do not keep prefill records on disk (large models)')
    .option(
      '--prefill-cache-limit <size>',
      'disk budget of the prefill records, least recently used deleted first (e.g. 20G)',
      parseByteSize('--prefill-cache-limit'),
    )
    .option('--json <file>', 'write the result rows as JSON')
    .option('--csv <file>', 'write the result rows as CSV')
    .option('--bootstrap <n>', 'bootstrap resamples of the 95% intervals (0: no intervals)', '1000')
    .option('--compare-to <method>', 'reference of the paired differences and win/tie/loss counts', 'full')
    .option('--quiet', 'no progress output');
  addQueueOptions(cmd)
    .addHelpText(
      'after',
      `
Examples:
  kvopt eval --config experiments/quickstart.yaml
  kvopt eval --model ../shared/data/stories260K/stories260K.bin --tokenizer ../shared/data/stories260K/tok512.bin \\
      --task continuation --data ../shared/data/paul_graham_essays --methods streaming,snapkv,defensivekv \\
      --budgets 0.1,0.2,0.5 --setting both --samples 8 --json results/eval.json
  kvopt eval --config experiments/quickstart.yaml --resume     # after a crash or Ctrl-C
  kvopt eval --config experiments/quickstart.yaml --queue redis://127.0.0.1:6379   # on kvopt worker processes
  kvopt eval --config experiments/quickstart.yaml --device webgpu! --dtype fp16   # on the GPU (Vulkan), one worker
  kvopt eval --config experiments/selfextend.yaml             # models/tiny past its context, with and without SelfExtend
  kvopt eval --model models/tiny --task retrieval --data datasets/retrieval-long/retrieval-1k.jsonl \\
      --methods full,snapkv --budgets 0.1 --self-extend 8,128
  kvopt eval --config experiments/quickstart.yaml --prefill-cache-limit 500M
  kvopt eval --config experiments/quickstart.yaml --compare-to defensivekv --bootstrap 2000 --json r.json
  kvopt eval --config experiments/quickstart.yaml --methods snapkv,adakv --budgets 24,64   # flags override the file

Flags given with --config override the file's keys; each override is printed as a note naming the key.

Every score, quality loss and paired difference carries a 95% interval from a seeded percentile
bootstrap over samples (seed: the run seed). DIFF is the mean over samples of score − reference score;
W/T/L counts the samples where the method scored above / equal to / below the reference.`,
    )
    .action(async (f: EvalFlags) => {
      if (f.json) checkOutputFile('--json', f.json);
      if (f.csv) checkOutputFile('--csv', f.csv);
      // With --config, every flag given overrides the file, with a note naming the key (cli/config-flags.ts).
      // Notes and warnings are printed once every input is accepted: a rejected command prints its error alone.
      const notices: string[] = [];
      const notice = (s: string) => void notices.push(s);
      let config = f.config
        ? loadWithFlags(
            f.config,
            {
              model: f.model,
              tokenizer: f.tokenizer,
              task: f.task,
              data: f.data,
              taskOptions: f.taskOption?.length ? parseTaskOptions(f.task ?? '', f.taskOption) : undefined,
              methods: f.methods !== undefined ? splitMethodList(f.methods) : undefined,
              budgets: f.budgets !== undefined ? parseBudgetList(f.budgets) : undefined,
              setting: f.setting,
            },
            notice,
          )
        : configFromFlags(f);
      if (f.config) noteRunFlags(f.config, f, notice);
      config = applyOverrides(config, {
        db: f.db,
        workers: f.workers,
        device: f.device,
        dtype: f.dtype,
        samples: f.config ? f.samples : undefined,
        seed: f.seed,
        selfExtend: f.selfExtend,
      });
      checkForCommand(config, 'eval');
      for (const w of windowWarnings(config, tokenBudgets(config))) notice(w + '\n');
      const fitness = f.fitness as FitnessSource;
      if (!FITNESS_SOURCES.includes(fitness)) throw new KvoptError(`--fitness: expected task, likelihood or fidelity, got '${f.fitness}'`);
      const batch = Number(f.batch);
      if (!Number.isInteger(batch) || batch < 1) throw new KvoptError(`--batch: expected a positive integer, got '${f.batch}'`);
      const stats = { resamples: parseBootstrap(f.bootstrap), compareTo: f.compareTo };
      if (f.compareTo && f.compareTo !== 'full' && !config.methods.some((m) => m.key === f.compareTo)) {
        throw new KvoptError(`--compare-to: '${f.compareTo}' is not one of the run's methods (${config.methods.map((m) => m.key).join(', ')})`);
      }
      const queue = await queueFromFlags(f, config.queue, f.quiet);
      process.stderr.write(notices.join(''));
      const result = await runEval(config, {
        resume: f.resume,
        quiet: f.quiet,
        prefillCache: f.prefillCache,
        prefillCacheLimit: f.prefillCacheLimit ?? null,
        batch,
        fitness,
        stats,
        queue: queue ?? undefined,
      });
      printEvalResult(result, f);
      process.exitCode = runExitCode(result.run.status, result.interruptedBy, result.failed, result.evaluations + result.failed);
    });
}
