/**
 * kvopt eval: compare compression methods across budgets and tasks (prefill once, evaluate many).
 * Two forms: an experiment file (--config) or everything on the command line.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import YAML from 'yaml';
import { splitMethodList } from '../compress/index.ts';
import { applyOverrides } from '../config/overrides.ts';
import { checkForCommand, loadExperiment, parseExperiment } from '../config/load.ts';
import { FITNESS_SOURCES, type ExperimentConfig, type FitnessSource } from '../config/schema.ts';
import { runEval, type EvalRunResult } from '../engine/eval-run.ts';
import { timingLine } from '../engine/timing.ts';
import { prefillCacheLine } from '../engine/session.ts';
import { parseByteSize } from './byte-size.ts';
import { KvoptError } from '../util/errors.ts';
import { resultsCsv, resultsTable } from './results-format.ts';
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

function parseTaskOptions(list: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new KvoptError(`--task-option: '${kv}' must be key=value (e.g. contextTokens=384)`);
    const v = kv.slice(eq + 1);
    out[kv.slice(0, eq)] = YAML.parse(v) ?? v; // numbers and [lists] as YAML, strings otherwise
  }
  return out;
}

/** The first form, written as an experiment file so that one validator checks both forms. */
function configFromFlags(f: EvalFlags): ExperimentConfig {
  const missing = (['model', 'task', 'data', 'methods', 'budgets'] as const).filter((k) => !f[k]);
  if (missing.length) throw new KvoptError(`eval: give --config FILE, or ${missing.map((k) => `--${k}`).join(', ')}`);
  const settings = f.setting === 'both' ? ['question-aware', 'question-agnostic'] : (f.setting ?? 'question-aware');
  const doc = {
    name: `eval-${f.task!.replace(/[^A-Za-z0-9]+/g, '-')}`,
    model: { path: f.model, ...(f.tokenizer ? { tokenizer: f.tokenizer } : {}), ...(f.device ? { device: f.device } : {}) },
    // --self-extend is applied as an override (one parser for both forms)
    tasks: [
      {
        name: f.task,
        data: f.data,
        ...(f.samples ? { samples: Number(f.samples) } : {}),
        ...(f.taskOption?.length ? { options: parseTaskOptions(f.taskOption) } : {}),
      },
    ],
    setting: settings,
    methods: splitMethodList(f.methods!),
    budgets: parseBudgetList(f.budgets!),
  };
  return parseExperiment(YAML.stringify(doc), 'command line');
}

export function printEvalResult(r: EvalRunResult, f: { json?: string; csv?: string }): void {
  process.stdout.write(resultsTable(r.results));
  process.stdout.write(
    `\nrun ${r.run.id} (${r.run.status}): ${r.evaluations} evaluations ok, ${r.failed} failed, ${r.prefills} prefills (${r.prefillsPerSample.toFixed(2)} per sample), ` +
      `${(r.wallMs / 1000).toFixed(1)} s (${timingLine(r.timing)})\n${prefillCacheLine(r.prefillCache)}\nbudget = tokens kept per KV head per layer (observation window included); ` +
      `loss = 1 - score/score(full), as DefensiveKV reports it\n`,
  );
  const rows = r.results.map((x) => ({ run: r.run.id, ...x }));
  if (f.json) writeFileSync(f.json, JSON.stringify({ run: r.run.id, status: r.run.status, rows, averages: r.averages }, null, 2) + '\n');
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
    .option('--prefill-cache-limit <size>', 'disk budget of the prefill records, least recently used deleted first (e.g. 20G)', parseByteSize('--prefill-cache-limit'))
    .option('--json <file>', 'write the result rows as JSON')
    .option('--csv <file>', 'write the result rows as CSV')
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
  kvopt eval --config experiments/quickstart.yaml --prefill-cache-limit 500M`,
    )
    .action(async (f: EvalFlags) => {
      let config = f.config ? loadExperiment(f.config) : configFromFlags(f);
      config = applyOverrides(config, { db: f.db, workers: f.workers, device: f.device, dtype: f.dtype, samples: f.config ? f.samples : undefined, seed: f.seed, selfExtend: f.selfExtend });
      checkForCommand(config, 'eval');
      const fitness = f.fitness as FitnessSource;
      if (!FITNESS_SOURCES.includes(fitness)) throw new KvoptError(`--fitness: expected task, likelihood or fidelity, got '${f.fitness}'`);
      const batch = Number(f.batch);
      if (!Number.isInteger(batch) || batch < 1) throw new KvoptError(`--batch: expected a positive integer, got '${f.batch}'`);
      const queue = await queueFromFlags(f, config.queue, f.quiet);
      const result = await runEval(config, {
        resume: f.resume,
        quiet: f.quiet,
        prefillCache: f.prefillCache,
        prefillCacheLimit: f.prefillCacheLimit ?? null,
        batch,
        fitness,
        queue: queue ?? undefined,
      });
      printEvalResult(result, f);
      if (result.run.status !== 'complete') process.exitCode = 130;
    });
}
