/** kvopt search: EvolKV evolutionary search over per-layer KV budgets, stored generation by generation. */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { applyOverrides } from '../config/overrides.ts';
import { checkForCommand, loadExperiment } from '../config/load.ts';
import { runSearch, type SearchRunResult } from '../engine/search-run.ts';
import { timingLine } from '../engine/timing.ts';
import { prefillCacheLine } from '../engine/session.ts';
import { parseByteSize } from './byte-size.ts';
import { KvoptError } from '../util/errors.ts';
import { formatTextTable } from '../util/text-table.ts';
import { addQueueOptions, queueFromFlags, type QueueFlags } from '../queue/cli-options.ts';

interface SearchFlags extends QueueFlags {
  config: string;
  db?: string;
  workers?: string;
  device?: string;
  dtype?: string;
  samples?: string;
  seed?: string;
  budget?: string;
  resume?: boolean;
  json?: string | boolean;
  prefillCache?: boolean;
  prefillCacheLimit?: number;
  quiet?: boolean;
  selfExtend?: string;
}

const f4 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(4));

export function searchSummary(r: SearchRunResult): string {
  const last = r.generations.at(-1);
  const source = r.profiles.find((p) => p.source === 'search');
  const lines = [
    `run ${r.run.id} (${r.run.status}): ${r.generations.length} generations, ${r.prefills} prefills (${r.prefillsPerSample.toFixed(2)} per sample), ${(r.timing.wallMs / 1000).toFixed(1)} s ` +
      `(${timingLine(r.timing)})`,
    prefillCacheLine(r.prefillCache),
  ];
  if (last) lines.push(`last generation: best fitness ${f4(last.bestFitness)}, median ${f4(last.medianFitness)}, held-out score of its best ${f4(last.heldoutScore)}`);
  if (source) lines.push(`profile (mean ${source.budget} tokens per KV head per layer): [${source.budgets.join(', ')}]`);
  if (r.comparison.length) {
    lines.push('', 'same mean budget, same inner method; scores on calibration and held-out samples:');
    lines.push(
      formatTextTable(
        [{ title: 'BUDGET', right: true }, { title: 'ALLOCATION' }, { title: 'CALIBRATION', right: true }, { title: 'HELD-OUT', right: true }],
        r.comparison.map((c) => [String(c.budget), c.allocation, f4(c.calibration), f4(c.heldout)]),
      ).trimEnd(),
    );
  }
  return lines.join('\n') + '\n';
}

export function register(program: Command): void {
  const cmd = program
    .command('search')
    .description('EvolKV search of per-layer KV budgets (CMA-ES per layer group), resumable')
    .requiredOption('--config <file>', 'experiment YAML with a search: section')
    .option('--db <file>', 'SQLite database (overrides the file)')
    .option('--budget <n>', 'target mean budget (overrides search.budget; run once per budget to search again at each)')
    .option('--workers <n>', "worker threads ('auto' or a number)")
    .option('--device <d>', 'cpu | cuda | webgpu; a trailing ! (webgpu!) makes an unavailable GPU an error instead of a CPU fallback')
    .option('--dtype <t>', 'fp32 | fp16: graph weights and KV cache precision (overrides model.dtype)')
    .option('--samples <n>', 'samples per task (calibration + held-out)')
    .option('--seed <n>', 'run, task and search seed')
    .option('--self-extend <G,W|off>', 'SelfExtend group size G and neighbour window W (replaces model.self_extend)')
    .option('--resume', 'continue the unfinished search of this config from its last stored generation')
    .option('--no-prefill-cache', 'do not keep prefill records on disk')
    .option('--prefill-cache-limit <size>', 'disk budget of the prefill records, least recently used deleted first (e.g. 20G)', parseByteSize('--prefill-cache-limit'))
    .option('--json [file]', 'print (or write to file) the result as JSON')
    .option('--quiet', 'no progress output');
  addQueueOptions(cmd)
    .addHelpText(
      'after',
      `
Examples:
  kvopt search --config experiments/search-stories260k.yaml
  kvopt search --config experiments/search-stories260k.yaml --resume   # after a kill: same result as uninterrupted
  kvopt search --config experiments/search-stories260k.yaml --self-extend 4,128   # a profile for the extended model
  kvopt search --config experiments/search-stories260k.yaml --queue redis://127.0.0.1:6379   # on kvopt worker processes
  kvopt search --config experiments/search-stories260k.yaml --prefill-cache-limit 2G
  kvopt export --db results/kvopt.db --run latest --format kvpress --out profile.txt`,
    )
    .action(async (f: SearchFlags) => {
      let config = loadExperiment(f.config);
      config = applyOverrides(config, { db: f.db, workers: f.workers, device: f.device, dtype: f.dtype, samples: f.samples, seed: f.seed, selfExtend: f.selfExtend });
      if (f.budget !== undefined) {
        const b = Number(f.budget);
        if (!Number.isInteger(b) || b < 1) throw new KvoptError(`--budget: expected a positive integer (tokens per KV head per layer), got '${f.budget}'`);
        if (config.search) config = { ...config, search: { ...config.search, budget: b } };
      }
      checkForCommand(config, 'search');
      const queue = await queueFromFlags(f, config.queue, f.quiet);
      const r = await runSearch(config, {
        resume: f.resume,
        quiet: f.quiet,
        prefillCache: f.prefillCache,
        prefillCacheLimit: f.prefillCacheLimit ?? null,
        queue: queue ?? undefined,
      });
      if (f.json === true) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else {
        process.stdout.write(searchSummary(r));
        if (typeof f.json === 'string') writeFileSync(f.json, JSON.stringify(r, null, 2) + '\n');
      }
      if (r.run.status !== 'complete') process.exitCode = 130;
    });
}
