/** kvopt show: one stored run in detail, with its method × budget × task table as Markdown. */
import { parseRunRef } from '../store/run-ref.ts';
import type { Command } from 'commander';
import { parseRunKind, reportDataFromStore, resolveReportRun, runSummaryFromStore, storedRunSummary } from '../report/from-store.ts';
import { runResults } from '../stats/quality.ts';
import { parseBootstrap, withIntervals } from '../stats/results.ts';
import { formatRunDetail } from '../report/runs.ts';
import { pairedMarkdown, resultsMarkdown } from '../report/tables.ts';
import { Store } from '../store/store.ts';

interface ShowFlags {
  db: string;
  run: string;
  json?: boolean;
  kind?: string;
  bootstrap: string;
  compareTo: string;
}

export function register(program: Command): void {
  program
    .command('show')
    .description('show one run: status, config hash, timing, and its results table (Markdown)')
    .requiredOption('--db <file>', 'SQLite database')
    .option('--run <id>', "run id or 'latest'", 'latest')
    .option('--kind <kind>', "with --run latest: the newest 'eval' or 'search' run (never a regress run)")
    .option('--bootstrap <n>', 'bootstrap resamples of the 95% intervals (0: no intervals)', '1000')
    .option('--compare-to <method>', 'reference method of the paired differences', 'full')
    .option('--json', 'print the run, its results and (for a search) its generations and profiles as JSON')
    .addHelpText(
      'after',
      `
Examples:
  kvopt show --db results/kvopt.db --run latest
  kvopt show --db results/kvopt.db --run 3 --json`,
    )
    .action((f: ShowFlags) => {
      const ref = parseRunRef(f.run);
      const kind = parseRunKind(f.kind);
      const stats = { resamples: parseBootstrap(f.bootstrap), compareTo: f.compareTo };
      const store = Store.open(f.db, { mustExist: true });
      try {
        const run = resolveReportRun(store, ref, kind);
        const summary = storedRunSummary(store, run.id);
        if (f.json) {
          const out = {
            run: { ...runSummaryFromStore(summary), evaluationsOk: summary.evaluationsOk, evaluationsFailed: summary.evaluationsFailed, error: run.error },
            modelPath: run.modelPath,
            modelHash: run.modelHash,
            codeVersion: run.codeVersion,
            seed: run.seed,
            results: withIntervals(runResults(store, run.id), store.evaluationsForRun(run.id), { seed: run.seed, ...stats }),
            generations: store.generations(run.id).map(({ optimizerState: _o, searchState: _s, ...g }) => g),
            profiles: store.profiles(run.id),
          };
          process.stdout.write(JSON.stringify(out, null, 2) + '\n');
          return;
        }
        const data = reportDataFromStore(store, run.id, stats);
        const extra: Record<string, string | number | null> = { ...data.meta } as Record<string, string | number | null>;
        let text = formatRunDetail(data.run!, extra);
        if (data.evalRows?.length) {
          text +=
            run.kind === 'search'
              ? '\nFinal comparison at the same mean budget: mean score on the calibration and held-out samples\n\n'
              : '\nResults: score (quality loss = 1 − score / full cache); budgets are tokens per KV head per layer\n\n';
          text += resultsMarkdown(data.evalRows, { ...data.table, fullMethod: data.fullMethod });
          if (data.paired?.length)
            text +=
              '\nPaired differences (mean of method − reference over the same samples [95% bootstrap interval]):\n\n' +
              pairedMarkdown(data.paired, data.table?.digits);
        } else {
          text += '\nno results stored yet\n';
        }
        if (data.notes?.length) text += '\n' + data.notes.map((n) => `note: ${n}`).join('\n') + '\n';
        process.stdout.write(text);
      } finally {
        store.close();
      }
    });
}
