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
import { runExitCode } from './run-exit.ts';
import { checkOutputFile } from './output-path.ts';
import { noteRunFlags } from './config-flags.ts';
import { windowWarnings } from './budget-warnings.ts';
import { comparisonStats } from '../stats/comparison.ts';
import { digitsToSeparate, formatDifference, formatEstimate } from '../stats/format.ts';
import { parseBootstrap } from '../stats/results.ts';
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
  bootstrap: string;
  selfExtend?: string;
}

const f4 = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(4));

export function searchSummary(r: SearchRunResult, resamples?: number): string {
  const last = r.generations.at(-1);
  const source = r.profiles.find((p) => p.source === 'search');
  const lines = [
    `run ${r.run.id} (${r.run.status}): ${r.generations.length} generations, ${r.prefills} prefills (${r.prefillsPerSample.toFixed(2)} per sample), ${(r.timing.wallMs / 1000).toFixed(1)} s ` +
      `(${timingLine(r.timing)})`,
    prefillCacheLine(r.prefillCache),
  ];
  if (last)
    lines.push(`last generation: best fitness ${f4(last.bestFitness)}, median ${f4(last.medianFitness)}, held-out score of its best ${f4(last.heldoutScore)}`);
  if (source) lines.push(`profile (mean ${source.budget} tokens per KV head per layer): [${source.budgets.join(', ')}]`);
  if (r.comparison.length) {
    const st = comparisonStats(r.comparison, { resamples, seed: r.run.seed });
    const d = digitsToSeparate(
      r.comparison.flatMap((c) => [c.calibration, c.heldout]),
      4,
    );
    const dd = digitsToSeparate(
      st.map((c) => c.heldoutDiff?.value),
      4,
    );
    const verdict = (x: (typeof st)[number]['heldoutDiff']) =>
      !x ? '' : x.lo === null ? 'no interval' : x.lo > 0 ? 'EvolKV better' : x.hi! < 0 ? 'EvolKV worse' : 'not distinguishable from 0';
    lines.push('', 'same mean budget, same inner method; mean score [95% CI] on calibration and held-out samples;');
    lines.push('EVOLKV − X: paired difference on the held-out samples [95% CI], W/T/L = samples EvolKV scored above/equal/below:');
    lines.push(
      formatTextTable(
        [
          { title: 'BUDGET', right: true },
          { title: 'ALLOCATION' },
          { title: 'CALIBRATION', right: true },
          { title: 'HELD-OUT', right: true },
          { title: 'EVOLKV − X (HELD-OUT)', right: true },
          { title: 'W/T/L', right: true },
          { title: 'CONCLUSION' },
        ],
        st.map((c) => [
          String(c.budget),
          c.allocation,
          formatEstimate(c.calibration, d),
          formatEstimate(c.heldout, d),
          formatDifference(c.heldoutDiff, dd),
          c.heldoutDiff ? `${c.heldoutDiff.wins}/${c.heldoutDiff.ties}/${c.heldoutDiff.losses}` : '',
          verdict(c.heldoutDiff),
        ]),
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
    .option(
      '--prefill-cache-limit <size>',
      'disk budget of the prefill records, least recently used deleted first (e.g. 20G)',
      parseByteSize('--prefill-cache-limit'),
    )
    .option('--json [file]', 'print (or write to file) the result as JSON')
    .option('--bootstrap <n>', 'bootstrap resamples of the 95% intervals (0: no intervals)', '1000')
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
      if (typeof f.json === 'string') checkOutputFile('--json', f.json);
      let config = loadExperiment(f.config);
      // Notes and warnings are printed once every input is accepted: a rejected command prints its error alone.
      const notices: string[] = [];
      const notice = (s: string) => void notices.push(s);
      noteRunFlags(f.config, f, notice);
      if (f.budget !== undefined) notice(`kvopt: note: --budget overrides search.budget of ${f.config}\n`);
      config = applyOverrides(config, {
        db: f.db,
        workers: f.workers,
        device: f.device,
        dtype: f.dtype,
        samples: f.samples,
        seed: f.seed,
        selfExtend: f.selfExtend,
      });
      if (f.budget !== undefined) {
        const b = Number(f.budget);
        if (!Number.isInteger(b) || b < 1) throw new KvoptError(`--budget: expected a positive integer (tokens per KV head per layer), got '${f.budget}'`);
        if (config.search) config = { ...config, search: { ...config.search, budget: b } };
      }
      checkForCommand(config, 'search');
      if (config.search) {
        // The searched and transfer budgets inside the scorer's window: every layer would keep only recent tokens.
        const s = config.search;
        for (const w of windowWarnings(config, [s.budget, ...s.transfer], [s.scorer])) notice(w + '\n');
      }
      const resamples = parseBootstrap(f.bootstrap);
      const queue = await queueFromFlags(f, config.queue, f.quiet);
      process.stderr.write(notices.join(''));
      const r = await runSearch(config, {
        resume: f.resume,
        quiet: f.quiet,
        prefillCache: f.prefillCache,
        prefillCacheLimit: f.prefillCacheLimit ?? null,
        queue: queue ?? undefined,
      });
      const json = () => JSON.stringify({ ...r, comparisonStats: comparisonStats(r.comparison, { resamples, seed: r.run.seed }) }, null, 2) + '\n';
      if (f.json === true) process.stdout.write(json());
      else {
        process.stdout.write(searchSummary(r, resamples));
        if (typeof f.json === 'string') writeFileSync(f.json, json());
      }
      process.exitCode = runExitCode(r.run.status, r.interruptedBy, 0, 0);
    });
}
