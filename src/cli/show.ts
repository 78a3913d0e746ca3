/** kvopt show: one stored run in detail, with its method × budget × task table as Markdown. */
import { parseRunRef } from '../store/run-ref.ts';
import type { Command } from 'commander';
import { reportDataFromStore, runSummaryFromStore, storedRunSummary } from '../report/from-store.ts';
import { formatRunDetail } from '../report/runs.ts';
import { resultsMarkdown } from '../report/tables.ts';
import { Store } from '../store/store.ts';

interface ShowFlags {
  db: string;
  run: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('show')
    .description('show one run: status, config hash, timing, and its results table (Markdown)')
    .requiredOption('--db <file>', 'SQLite database')
    .option('--run <id>', "run id or 'latest'", 'latest')
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
      const store = Store.open(f.db, { mustExist: true });
      try {
        const run = store.getRun(ref);
        const summary = storedRunSummary(store, run.id);
        if (f.json) {
          const out = {
            run: { ...runSummaryFromStore(summary), evaluationsOk: summary.evaluationsOk, evaluationsFailed: summary.evaluationsFailed, error: run.error },
            modelPath: run.modelPath,
            modelHash: run.modelHash,
            codeVersion: run.codeVersion,
            seed: run.seed,
            results: store.results(run.id),
            generations: store.generations(run.id).map(({ optimizerState: _o, searchState: _s, ...g }) => g),
            profiles: store.profiles(run.id),
          };
          process.stdout.write(JSON.stringify(out, null, 2) + '\n');
          return;
        }
        const data = reportDataFromStore(store, run.id);
        const extra: Record<string, string | number | null> = { ...data.meta } as Record<string, string | number | null>;
        let text = formatRunDetail(data.run!, extra);
        if (data.evalRows?.length) {
          text +=
            run.kind === 'search'
              ? '\nFinal comparison at the same mean budget: mean score on the calibration and held-out samples\n\n'
              : '\nResults: score (quality loss = 1 − score / full cache); budgets are tokens per KV head per layer\n\n';
          text += resultsMarkdown(data.evalRows, { ...data.table, fullMethod: data.fullMethod });
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
