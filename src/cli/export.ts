/** kvopt export: write a searched budget profile for use elsewhere (the `profile` allocator reads it back). */
import { parseRunRef } from '../store/run-ref.ts';
import type { Command } from 'commander';
import { makeProfile, serializeProfile, type ProfileExportFormat } from '../compress/profile-file.ts';
import { writeFileSync } from 'node:fs';
import { Store } from '../store/store.ts';
import { exportLongBench } from '../export/longbench.ts';
import { KvoptError } from '../util/errors.ts';
import { checkOutputFile } from './output-path.ts';

interface ExportFlags {
  db: string;
  run: string;
  format: string;
  budget?: string;
  out?: string;
  contextLength?: string;
}

const FORMATS = ['json', 'yaml', 'csv', 'kvpress', 'longbench'];

export function register(program: Command): void {
  program
    .command('export')
    .description('write the budget profile a search found (json | yaml | csv | kvpress ratio list)')
    .requiredOption('--db <file>', 'SQLite database of the search')
    .option('--run <id>', "search run id or 'latest'", 'latest')
    .option('--format <f>', "json | yaml | csv | kvpress (a search profile) | longbench (an eval run's predictions, pred.py layout)", 'json')
    .option('--budget <n>', 'which stored budget (the searched one by default; transfer budgets too)')
    .option('--context-length <T>', 'kvpress only: prompt length T for ratio = 1 - budget/T (default: the mean prompt length of the run)')
    .option('--out <file>', 'output file (default: stdout)')
    .addHelpText(
      'after',
      `
Examples:
  kvopt export --db results/kvopt.db --run latest --format yaml --out profile.yaml
  kvopt eval --config experiments/x.yaml   # with a method: { profile: { file: profile.yaml } }
  kvopt export --db results/kvopt.db --run 3 --format kvpress --context-length 4096
  kvopt export --db results/longbench.db --run latest --format longbench --out pred   # pred.py layout, per method × budget`,
    )
    .action((f: ExportFlags) => {
      if (!FORMATS.includes(f.format)) throw new KvoptError(`--format: expected one of ${FORMATS.join(', ')}, got '${f.format}'`);
      if (f.format === 'longbench') {
        // Predictions of an eval run in pred.py's layout (one folder per method × budget, one jsonl per dataset).
        if (!f.out) throw new KvoptError('--format longbench: give --out DIR (a folder; one subfolder per method × budget)');
        const store = Store.open(f.db, { mustExist: true });
        try {
          const run = store.getRun(parseRunRef(f.run), 'eval');
          const r = exportLongBench(store, run.id, f.out);
          for (const d of r.folders) process.stdout.write(`${d.dir}: ${d.files.length} dataset file(s) (${d.method} @ ${d.budget}, ${d.setting})\n`);
          process.stdout.write(`score each folder with LongBench's eval.py (as pred/<model>/), or: kvopt score --dataset <name> --predictions <file>\n`);
        } finally {
          store.close();
        }
        return;
      }
      if (f.out) checkOutputFile('--out', f.out);
      const store = Store.open(f.db, { mustExist: true });
      try {
        const run = store.getRun(parseRunRef(f.run), 'search');
        const profiles = store.profiles(run.id);
        if (profiles.length === 0)
          throw new KvoptError(`run ${run.id} has no finished profile yet (status ${run.status}); finish it with kvopt search --resume`);
        let chosen = profiles.find((p) => p.source === 'search') ?? profiles[0];
        if (f.budget !== undefined) {
          const b = Number(f.budget);
          const hit = profiles.find((p) => p.budget === b);
          if (!hit) throw new KvoptError(`--budget ${f.budget}: run ${run.id} stores budgets ${profiles.map((p) => p.budget).join(', ')}`);
          chosen = hit;
        }
        const config = JSON.parse(run.configJson) as { search?: { scorer?: { key?: string } } };
        const profile = makeProfile(
          chosen.budgets,
          {
            model: run.modelPath,
            modelHash: run.modelHash ?? undefined,
            method: config.search?.scorer?.key,
            searchRunId: run.id,
            configHash: run.configHash,
            source: chosen.source,
            fitness: chosen.fitness ?? undefined,
            calibrationScore: chosen.calibrationScore ?? undefined,
            heldoutScore: chosen.heldoutScore ?? undefined,
          },
          chosen.budget,
        );
        let contextLength: number | undefined;
        if (f.format === 'kvpress') {
          contextLength = f.contextLength !== undefined ? Number(f.contextLength) : (store.meanPrefillTokens(run.id) ?? undefined);
          if (contextLength === undefined || !Number.isInteger(contextLength) || contextLength < 1) {
            throw new KvoptError(`--context-length: expected a positive integer, got '${f.contextLength ?? 'nothing (the run has no prefills)'}'`);
          }
        }
        if (contextLength !== undefined) {
          // ratio = 1 - budget / T is 0 for every layer whose budget is at least T: a list of zeros says nothing.
          const over = chosen.budgets.filter((b) => b >= contextLength!).length;
          if (over > 0) {
            throw new KvoptError(
              `--context-length: ${contextLength} tokens is not longer than ${over} of the ${chosen.budgets.length} layer budgets (largest ${Math.max(...chosen.budgets)}); kvpress ratios would be 0 there (expected a prompt length above the budgets)`,
            );
          }
        }
        const text = serializeProfile(profile, f.format as ProfileExportFormat, { contextLength });
        if (f.out) writeFileSync(f.out, text);
        else process.stdout.write(text);
      } finally {
        store.close();
      }
    });
}
