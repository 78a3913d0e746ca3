/** `kvopt score`: score a LongBench-format predictions file (pred, answers, all_classes, length). */
import type { Command } from 'commander';
import { scoreLongBenchPredictions } from '../tasks/score-predictions.ts';

export function register(program: Command): void {
  program
    .command('score')
    .description('score a predictions JSONL in LongBench output format (pred, answers, all_classes, length) with the official metric')
    .requiredOption('--dataset <name>', 'LongBench dataset name, e.g. multi_news, passage_retrieval_zh')
    .requiredOption('--predictions <file>', 'predictions JSONL, one {"pred", "answers", "all_classes", "length"} per line')
    .option('--e, --longbench-e', 'also report LongBench-E length buckets (0-4k, 4-8k, 8k+)')
    .option('--json', 'print the result as JSON')
    .action((opts: { dataset: string; predictions: string; longbenchE?: boolean; json?: boolean }) => {
      const r = scoreLongBenchPredictions(opts.predictions, opts.dataset, { buckets: !!opts.longbenchE });
      if (opts.json) {
        const { sampleScores: _omit, ...rest } = r;
        process.stdout.write(JSON.stringify(rest) + '\n');
        return;
      }
      process.stdout.write(`${r.dataset}: ${r.score.toFixed(2)} (${r.samples} samples)\n`);
      if (r.buckets) {
        for (const [k, v] of Object.entries(r.buckets)) process.stdout.write(`  ${k}: ${v == null ? 'n/a (no samples)' : v.toFixed(2)}\n`);
      }
    });
}
