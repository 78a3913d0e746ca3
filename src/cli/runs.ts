/** kvopt runs: the run history of a database (status, config hash, best fitness, duration), newest first. */
import type { Command } from 'commander';
import { runSummaryFromStore } from '../report/from-store.ts';
import { formatRunsTable } from '../report/runs.ts';
import { Store } from '../store/store.ts';
import { KvoptError } from '../util/errors.ts';

interface RunsFlags {
  db: string;
  json?: boolean;
  limit?: string;
}

export function register(program: Command): void {
  program
    .command('runs')
    .description('list the runs stored in a database, newest first')
    .requiredOption('--db <file>', 'SQLite database')
    .option('--limit <n>', 'show only the newest n runs')
    .option('--json', 'print the runs as JSON')
    .addHelpText(
      'after',
      `
Examples:
  kvopt runs --db results/kvopt.db --limit 10
  kvopt runs --db results/kvopt.db --json | jq '.[0].id'`,
    )
    .action((f: RunsFlags) => {
      let limit: number | undefined;
      if (f.limit !== undefined) {
        limit = Number(f.limit);
        if (!/^\d+$/.test(f.limit.trim()) || limit < 1) throw new KvoptError(`--limit: expected a positive integer, got '${f.limit}'`);
      }
      const store = Store.open(f.db, { mustExist: true });
      try {
        const runs = store.listRuns({ limit });
        if (f.json) {
          const out = runs.map((r) => ({
            ...runSummaryFromStore(r),
            evaluationsOk: r.evaluationsOk,
            evaluationsFailed: r.evaluationsFailed,
            generations: r.generations,
            error: r.error,
          }));
          process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        } else {
          process.stdout.write(formatRunsTable(runs.map(runSummaryFromStore)));
        }
      } finally {
        store.close();
      }
    });
}
