/**
 * kvopt regress: a CI gate for users. Re-scores a budget profile on the held-out samples of the search
 * that produced it and exits 1 with a readable diff when the score fell by more than the tolerance.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { checkOutputFile } from './output-path.ts';
import type { ExperimentConfig } from '../config/schema.ts';
import { RunSession } from '../engine/session.ts';
import { searchSplit } from '../engine/search-run.ts';
import { windowFor } from '../engine/evaluate.ts';
import { methodInput } from '../engine/session.ts';
import { readProfile } from '../compress/profile-file.ts';
import { Store } from '../store/store.ts';
import { KvoptError } from '../util/errors.ts';

interface RegressFlags {
  db: string;
  profile: string;
  baseline?: string;
  tolerance: string;
  writeBaseline?: string;
  quiet?: boolean;
}

export const BASELINE_FORMAT = 'kvopt-regress-baseline/1';

export interface RegressBaseline {
  format: typeof BASELINE_FORMAT;
  score: number;
  perSample: Record<string, number>;
  profile: number[];
  searchRunId: number;
}

/** A baseline file: one written by --write-baseline, or an exported profile whose meta has heldoutScore. */
export function readBaseline(path: string): { score: number; perSample: Record<string, number> | null } {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new KvoptError(`${path}: cannot read the baseline (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (v.format === BASELINE_FORMAT && typeof v.score === 'number') return { score: v.score, perSample: (v.perSample as Record<string, number>) ?? null };
  const meta = v.meta as Record<string, unknown> | undefined;
  if (typeof meta?.heldoutScore === 'number') return { score: meta.heldoutScore, perSample: null };
  throw new KvoptError(`${path}: expected a regress baseline (format ${BASELINE_FORMAT}) or an exported profile with meta.heldoutScore`);
}

export function register(program: Command): void {
  program
    .command('regress')
    .description('re-score a budget profile on its held-out set; exit 1 when quality fell by more than the tolerance')
    .requiredOption('--db <file>', 'SQLite database holding the search that produced the profile')
    .requiredOption('--profile <file>', 'budget profile (kvopt export; meta.searchRunId names the search)')
    .option('--baseline <file>', 'reference score: a --write-baseline file or an exported profile (meta.heldoutScore)')
    .option('--tolerance <x>', 'largest allowed drop of the held-out score (absolute)', '0.01')
    .option('--write-baseline <file>', 'store the score measured now as a baseline file')
    .option('--quiet', 'no progress output')
    .addHelpText(
      'after',
      `
Examples:
  kvopt export --db results/kvopt.db --run latest --out profile.json
  kvopt regress --db results/kvopt.db --profile profile.json --write-baseline baseline.json
  kvopt regress --db results/kvopt.db --profile profile.json --baseline baseline.json --tolerance 0.02   # in CI`,
    )
    .action(async (f: RegressFlags) => {
      const tolerance = Number(f.tolerance);
      if (!Number.isFinite(tolerance) || tolerance < 0) throw new KvoptError(`--tolerance: expected a number >= 0, got '${f.tolerance}'`);
      if (!f.baseline && !f.writeBaseline) throw new KvoptError('regress: give --baseline FILE (to compare) or --write-baseline FILE (to create one)');
      if (f.writeBaseline) checkOutputFile('--write-baseline', f.writeBaseline);
      const profile = readProfile(f.profile);
      const runId = Number(profile.meta.searchRunId);
      if (!Number.isInteger(runId)) throw new KvoptError(`${f.profile}: meta.searchRunId is missing; export the profile with kvopt export`);
      const baseline = f.baseline ? readBaseline(f.baseline) : null;

      const source = Store.open(f.db, { mustExist: true });
      const searchRun = source.getRun(runId);
      source.close();
      const searched = JSON.parse(searchRun.configJson) as ExperimentConfig;
      if (!searched.search) throw new KvoptError(`run ${runId} is not a search run`);
      const config: ExperimentConfig = { ...searched, name: `regress/${searched.name}`, db: f.db, source: { ...searched.source, text: '' } };
      const scorer = methodInput(searched.search.scorer);

      const session = RunSession.open(config, 'eval', { quiet: f.quiet });
      let score: number;
      const perSample: Record<string, number> = {};
      try {
        const heldout = (await session.loadJobs(searchSplit)).filter((j) => j.split === 'heldout');
        if (heldout.length === 0) throw new KvoptError(`run ${runId} has no held-out samples (tasks[].heldout is 0)`);
        const window = Math.max(config.window, windowFor([scorer]));
        for (const job of heldout) {
          const [r] = await session.evaluate(
            job,
            [{ key: 'profile', method: scorer, budget: { layers: profile.layers } }],
            { setting: config.settings[0]!, fitness: searched.search.fitness, batch: 1, chunkSize: config.chunkSize, window },
            (r) =>
              session.store.insertEvaluation({
                runId: session.run.id, sampleId: job.sampleId, method: `profile:${searched.search!.scorer.key}`, budget: String(profile.target),
                setting: config.settings[0]!, score: r.status === 'ok' ? r.score : null, status: r.status, error: r.error ?? null,
                budgetTokens: profile.target, budgetProfile: profile.layers, kvEntries: r.kvEntries, kvBytes: r.kvBytes, metric: job.sample.metric,
              }),
          );
          if (r!.status !== 'ok') throw new KvoptError(`sample ${job.sample.id} failed: ${r!.error}`);
          perSample[job.sample.id] = r!.score;
        }
        const xs = Object.values(perSample);
        score = xs.reduce((a, b) => a + b, 0) / xs.length;
        await session.close();
      } catch (e) {
        await session.close(e);
        throw e;
      }

      const line = `held-out score ${score.toFixed(4)} on ${Object.keys(perSample).length} samples (profile mean ${profile.target}, search run ${runId})`;
      if (f.writeBaseline) {
        const b: RegressBaseline = { format: BASELINE_FORMAT, score, perSample, profile: profile.layers, searchRunId: runId };
        writeFileSync(f.writeBaseline, JSON.stringify(b, null, 2) + '\n');
        process.stdout.write(`${line}; baseline written to ${f.writeBaseline}\n`);
      }
      if (!baseline) return;
      const drop = baseline.score - score;
      if (drop > tolerance) {
        const lines = [`REGRESSION: ${line}`, `  baseline ${baseline.score.toFixed(4)}, drop ${drop.toFixed(4)} > tolerance ${tolerance}`];
        if (baseline.perSample) {
          const diffs = Object.entries(perSample)
            .filter(([id]) => id in baseline.perSample!)
            .map(([id, s]) => [id, baseline.perSample![id]!, s] as const)
            .filter(([, b, s]) => s < b)
            .sort((a, b) => a[2] - a[1] - (b[2] - b[1]));
          for (const [id, b, s] of diffs.slice(0, 10)) lines.push(`  - ${id}: ${b.toFixed(4)} -> ${s.toFixed(4)}`);
        }
        process.stdout.write(lines.join('\n') + '\n');
        process.exitCode = 1;
      } else {
        process.stdout.write(`ok: ${line}; baseline ${baseline.score.toFixed(4)}, change ${(-drop).toFixed(4)} within tolerance ${tolerance}\n`);
      }
    });
}
