/**
 * kvopt regress: a CI gate from committed files (the evaluation and the decision live in
 * engine/regress.ts; this file parses and prints). Exit codes: 0 no regression, 1 regression, 2 the
 * gate could not run (bad file, flag or data).
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { checkOutputFile } from './output-path.ts';
import { checkForCommand, loadExperiment } from '../config/load.ts';
import { applyOverrides } from '../config/overrides.ts';
import type { ExperimentConfig } from '../config/schema.ts';
import { baselineOf, judge, measureProfile, readBaseline, type RegressVerdict } from '../engine/regress.ts';
import { readProfile } from '../compress/profile-file.ts';
import { parseBootstrap } from '../stats/results.ts';
import { Store } from '../store/store.ts';
import { KvoptError } from '../util/errors.ts';

interface RegressFlags {
  config?: string;
  db?: string;
  profile: string;
  baseline?: string;
  tolerance: string;
  writeBaseline?: string;
  bootstrap: string;
  workers?: string;
  quiet?: boolean;
}

/** Exit codes, as documented in --help and the README. */
export const EXIT_OK = 0;
export const EXIT_REGRESSION = 1;
export const EXIT_CANNOT_RUN = 2;

const f4 = (x: number) => x.toFixed(4);
const signed = (x: number) => (x >= 0 ? '+' : '') + x.toFixed(4);

export function verdictLines(v: RegressVerdict): string[] {
  const ci = v.lo === null || v.hi === null ? 'no interval (fewer than 2 samples)' : `95% CI [${signed(v.lo)}, ${signed(v.hi)}]`;
  const beyond = v.drop > v.tolerance ? `beyond the tolerance ${v.tolerance}` : `within the tolerance ${v.tolerance}`;
  const excludes =
    v.lo !== null && v.lo > 0 ? 'the interval excludes 0 (a real drop)' : 'the interval includes 0 or lies below it (not a distinguishable drop)';
  const lines = [
    `paired drop (baseline − current, mean over ${v.n} held-out samples): ${signed(v.drop)}, ${ci}`,
    `  ${beyond}; ${excludes}; samples better/same/worse: ${v.better}/${v.same}/${v.worse}`,
  ];
  if (v.regression) for (const w of v.worst) lines.push(`  - ${w.id}: ${f4(w.baseline)} -> ${f4(w.current)}`);
  return lines;
}

/** The old form: the experiment as stored with the search in a database (the profile's meta.searchRunId). */
function configFromDb(db: string, searchRunId: unknown, profilePath: string): ExperimentConfig {
  const runId = Number(searchRunId);
  if (!Number.isInteger(runId))
    throw new KvoptError(`${profilePath}: meta.searchRunId is missing; with --db, export the profile with kvopt export (or use --config)`);
  const store = Store.open(db, { mustExist: true });
  try {
    const c = JSON.parse(store.getRun(runId).configJson) as ExperimentConfig;
    if (!c.search) throw new KvoptError(`${db}: run ${runId} is not a search run`);
    return { ...c, source: { ...c.source, text: '' } };
  } finally {
    store.close();
  }
}

export function register(program: Command): void {
  program
    .command('regress')
    .description('CI gate: re-score a budget profile on the held-out samples; exit 1 on a real quality drop')
    .option('--config <file>', 'the experiment YAML of the search (scorer, fitness, data, held-out split)')
    .option('--db <file>', 'instead of --config: the database holding the search named by the profile (meta.searchRunId)')
    .requiredOption('--profile <file>', 'budget profile (kvopt export; json | yaml | csv)')
    .option('--baseline <file>', 'baseline with per-sample held-out scores (written by --write-baseline)')
    .option('--tolerance <x>', 'largest allowed mean drop of the held-out score (absolute)', '0.01')
    .option('--write-baseline <file>', 'write the scores measured now as a baseline file')
    .option('--bootstrap <n>', 'bootstrap resamples of the 95% interval of the drop', '1000')
    .option('--workers <n>', "worker threads ('auto' or a number)")
    .option('--quiet', 'no progress output')
    .addHelpText(
      'after',
      `
Files a repository commits: the experiment YAML, the exported profile and the baseline JSON.
No search database is needed (the check runs in a temporary one).

Examples:
  kvopt export --db results/search-stories260k.db --run latest --format yaml --out profile.yaml
  kvopt regress --config experiments/search-stories260k.yaml --profile profile.yaml --write-baseline baseline.json
  kvopt regress --config experiments/search-stories260k.yaml --profile profile.yaml --baseline baseline.json --tolerance 0.01

Decision: a regression is a mean paired drop (baseline − current over the same held-out samples) greater
than --tolerance whose 95% bootstrap interval excludes 0; both are printed. Noise alone never fails.

Exit codes: 0 no regression (or baseline written), 1 regression, 2 the gate could not run (bad file,
flag or data; the one-line message says which). See examples/ci/kvopt-regress.yml.`,
    )
    .action(async (f: RegressFlags) => {
      try {
        await regress(f);
      } catch (e) {
        if (e instanceof KvoptError) throw new KvoptError(e.message, EXIT_CANNOT_RUN);
        throw e;
      }
    });
}

async function regress(f: RegressFlags): Promise<void> {
  const tolerance = Number(f.tolerance);
  if (!Number.isFinite(tolerance) || tolerance < 0) throw new KvoptError(`--tolerance: expected a number >= 0, got '${f.tolerance}'`);
  if (!f.baseline && !f.writeBaseline) throw new KvoptError('regress: give --baseline FILE (to compare) or --write-baseline FILE (to create one)');
  if (f.writeBaseline) checkOutputFile('--write-baseline', f.writeBaseline);
  if (!f.config === !f.db) throw new KvoptError('regress: give exactly one of --config FILE (the experiment YAML) or --db FILE');
  const resamples = parseBootstrap(f.bootstrap);
  const profile = readProfile(f.profile);
  const baseline = f.baseline ? readBaseline(f.baseline) : null; // read first: a bad file fails before any work
  let config = f.config ? loadExperiment(f.config) : configFromDb(f.db!, profile.meta.searchRunId, f.profile);
  config = applyOverrides(config, { workers: f.workers });
  if (f.config) checkForCommand(config, 'search');

  const m = await measureProfile(config, profile, { quiet: f.quiet });
  const line = `held-out score ${f4(m.score)} on ${Object.keys(m.perSample).length} samples (${m.scorer}, profile [${profile.layers.join(', ')}], mean ${profile.target})`;
  if (f.writeBaseline) {
    writeFileSync(f.writeBaseline, JSON.stringify(baselineOf(m), null, 2) + '\n');
    process.stdout.write(`${line}; baseline written to ${f.writeBaseline}\n`);
  }
  if (!baseline) return;
  const v = judge(m, baseline, tolerance, { resamples, seed: config.seed });
  const head = `${v.regression ? 'REGRESSION' : 'ok'}: ${line}; baseline ${f4(baseline.score)}`;
  process.stdout.write([head, ...verdictLines(v)].join('\n') + '\n');
  if (v.regression) process.exitCode = EXIT_REGRESSION;
}
