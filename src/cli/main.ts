/**
 * kvopt command-line entry. One file per command in this folder; each exports `register(program)`.
 * Every error prints one line and exits non-zero (cli/report-error.ts); `--verbose` adds the stack trace.
 * Exit codes: 0 done; 1 error (bad input, refused, failed run, full disk); 2 run finished but some
 * evaluations failed (`--resume` retries them); 70 internal error (a bug); 130 / 143 interrupted by
 * SIGINT / SIGTERM (`--resume` continues).
 */
import { Command } from 'commander';
import { reportError } from './report-error.ts';
// Command modules (add one import and one list entry per command).
import * as benchCommand from './bench.ts';
import * as evalCommand from './eval.ts';
import * as exportCommand from './export.ts';
import * as regressCommand from './regress.ts';
import * as searchCommand from './search.ts';
import * as generateCommand from './generate.ts';
import * as scoreCommand from './score.ts';
import * as reportCommand from './report.ts';
import * as runsCommand from './runs.ts';
import * as showCommand from './show.ts';
import * as workerCommand from './worker.ts';

const commands: { register(program: Command): void }[] = [
  evalCommand,
  searchCommand,
  exportCommand,
  regressCommand,
  scoreCommand,
  generateCommand,
  benchCommand,
  reportCommand,
  runsCommand,
  showCommand,
  workerCommand,
];

/** A fresh program per call: commander keeps parsed option values on its Command objects. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('kvopt')
    .description('KV-cache compression research: evaluate methods, search per-layer budgets, export and gate profiles')
    .version('0.1.0')
    .option('--verbose', 'on an unexpected error, print its stack trace')
    .showHelpAfterError('(run with --help for usage)')
    // commander's own errors on one line (the help hint is the second): "kvopt: unknown option '--x' (did you mean --y?)"
    .configureOutput({
      outputError: (str, write) =>
        write(
          `kvopt: ${str
            .replace(/^error: /, '')
            .replace(/\n\(Did you mean/g, ' (did you mean')
            .trim()}\n`,
        ),
    })
    .exitOverride();
  for (const cmd of commands) cmd.register(program);
  return program;
}

/**
 * Runs kvopt with `argv` (the arguments after `kvopt`) and resolves with the exit code; never throws.
 * bin/kvopt.mjs calls it once; tests call it many times in one process.
 */
export async function run(argv: readonly string[]): Promise<number> {
  const verbose = argv.includes('--verbose') || process.env.KVOPT_VERBOSE === '1';
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    await buildProgram().parseAsync(['node', 'kvopt', ...argv]);
    return Number(process.exitCode ?? 0);
  } catch (err) {
    return reportError(err, verbose);
  } finally {
    process.exitCode = before;
  }
}
